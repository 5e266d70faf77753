"""Tests of cloud.store."""
