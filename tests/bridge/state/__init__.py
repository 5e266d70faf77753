"""Tests of bridge.state."""
