"""Tests of bridge.identity."""
