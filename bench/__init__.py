"""Benchmarks (make bench); each bench_*.py is a script, bench.common holds what they share."""
