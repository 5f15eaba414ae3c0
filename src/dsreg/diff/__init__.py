"""L2, differences between versions: schema, row counts and rows, skipping shared runs."""
from dsreg.diff.compare import DiffResult, diff, render

__all__ = ["DiffResult", "diff", "render"]
