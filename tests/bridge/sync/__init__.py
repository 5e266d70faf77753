"""Tests of bridge.sync."""
