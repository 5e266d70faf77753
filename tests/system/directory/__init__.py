"""Tests of system.directory."""
