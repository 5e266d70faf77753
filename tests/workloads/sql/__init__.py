"""Tests of workloads.sql."""
