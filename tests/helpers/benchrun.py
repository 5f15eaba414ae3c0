"""Running the benchmark (bench/, beside src/) from the tests: its modules, and one suite
on small data."""
from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def bench_module(name: str = "bench.__main__") -> ModuleType:
    """A module of bench/, imported with the project's root on the path for the import only."""
    sys.path.insert(0, str(ROOT))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(ROOT))


def run_suite(suite: str, out: Path) -> dict:
    """`python -m bench` with one suite on 20,000 rows and the edit scenario, dsreg only:
    the run's results document (written to `out` too)."""
    return bench_module().main(["--rows", "20000", "--peers", "none", "--suites", suite, "--scenarios", "edit",
                                "--out", str(out), "--quiet"])
