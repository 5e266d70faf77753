"""Benchmarks (DESIGN.md section 14): each prints its figure beside a baseline from the same run."""
