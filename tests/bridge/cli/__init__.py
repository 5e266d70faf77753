"""Tests of bridge.cli."""
