"""Benchmarks of the flagship workspace at a million cases: `python -m bench` (see
docs/benchmarks.md for the figures and how to read them)."""
