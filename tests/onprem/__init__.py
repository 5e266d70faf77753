"""Tests of onprem."""
