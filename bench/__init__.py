"""Benchmarks: synthetic dumps with known lineage (generate.py) and their scoring (score.py)."""
