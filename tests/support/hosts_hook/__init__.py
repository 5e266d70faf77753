"""Test-only name resolution (see `sitecustomize`)."""
