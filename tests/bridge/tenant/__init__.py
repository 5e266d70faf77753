"""Tests of bridge.tenant."""
