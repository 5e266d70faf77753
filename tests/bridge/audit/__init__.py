"""Tests of bridge.audit."""
