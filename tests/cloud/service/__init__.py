"""Tests of cloud.service."""
