"""Tests of onprem.authority."""
