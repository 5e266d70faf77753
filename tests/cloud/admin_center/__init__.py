"""Tests of cloud.admin_center."""
