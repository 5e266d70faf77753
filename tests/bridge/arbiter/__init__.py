"""Tests of bridge.arbiter."""
