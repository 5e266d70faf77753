"""Tests of system.browser."""
