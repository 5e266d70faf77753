"""Tests of workloads.rollout."""
