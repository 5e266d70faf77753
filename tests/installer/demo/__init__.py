"""Tests of installer.demo."""
