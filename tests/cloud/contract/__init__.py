"""Tests of cloud.contract."""
