"""Adapters to other tools; each imports its tool lazily, only when used."""
