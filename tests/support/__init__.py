"""Shared rigs, fakes and fixtures of the test suite."""
