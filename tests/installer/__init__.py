"""Tests of installer."""
