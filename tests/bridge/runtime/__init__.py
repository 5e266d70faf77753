"""Tests of bridge.runtime."""
