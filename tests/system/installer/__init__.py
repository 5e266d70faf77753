"""Tests of system.installer."""
