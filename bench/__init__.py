"""Benchmarks of dsreg against DVC, Oxen, Hub-style chunk dedup and the raw limits: `python -m bench`."""
