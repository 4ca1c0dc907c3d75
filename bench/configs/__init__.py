"""Benchmark configurations, generated from cluster.sample.yaml by code (see generate.py)."""
