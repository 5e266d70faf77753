"""Tests of system.cloud."""
