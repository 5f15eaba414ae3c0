"""Smoke test of the engines suite (bench/suites/engines.py) on 20,000 rows: every job
runs, the Dask commits store what `dsreg commit` stores, every engine reads every row.
No timing is asserted: CI machines are shared and noisy."""
from __future__ import annotations

import pytest

from helpers.benchrun import run_suite

pytest.importorskip("dask.distributed")
pytest.importorskip("ray")
pytestmark = pytest.mark.slow      # three local clusters and a Ray start


def test_engines_suite(tmp_path):
    doc = run_suite("engines", tmp_path)
    result = doc["suites"]["engines"]
    assert "error" not in result, result.get("error")
    for name in ("base", "edit"):
        single, dask = result["single"][name], result["dask"][name]
        assert (dask["rows"], dask["new_rows"]) == (single["rows"], single["new_rows"])
    assert result["single"]["edit"]["new_rows"] < 1000          # the edit reuses the base
    assert not [r["error"] for r in result["read"].values() if "error" in r], result["read"]     # says why
    assert {engine: r.get("rows") for engine, r in result["read"].items()} == \
        {"stream": 20000, "dask": 20000, "ray": 20000}
    text = (tmp_path / "default-latest.md").read_text()
    assert "## Engines: Dask and Ray" in text
    assert "Dask commit of the edit reuses base rows" in text
