"""Tests of onprem.winrm."""
