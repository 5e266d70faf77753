"""Tests of system.rollout."""
