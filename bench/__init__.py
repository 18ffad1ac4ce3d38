"""Benchmarks (`make bench`); not tests. Each prints rows: what, size, time, rate, baseline."""
