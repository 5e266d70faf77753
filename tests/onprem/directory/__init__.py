"""Tests of onprem.directory."""
