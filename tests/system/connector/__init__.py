"""Tests of system.connector."""
