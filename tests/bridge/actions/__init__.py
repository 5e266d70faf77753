"""Tests of bridge.actions."""
