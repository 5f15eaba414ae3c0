"""Smoke test of the reading suite: a small run, its section and its keys. No timing is
asserted (shared, noisy machines); only that every reader read every row."""
from __future__ import annotations

import pytest

from helpers.benchrun import run_suite

pytest.importorskip("torch")
pytest.importorskip("datasets")


@pytest.fixture(scope="module")
def read_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("results")
    doc = run_suite("read", out)
    return doc, (out / "default-latest.md").read_text()


def test_every_reader_reads_every_row(read_run):
    doc, _ = read_run
    r = doc["suites"]["read"]
    assert "error" not in r, r.get("error")
    assert r["rows"] == 20000 and r["shards"] >= 1 and r["stored_bytes"] > 0
    for name in ("stream", "load", "pyarrow", "remote"):
        rec = r[name]
        assert rec["rows"] == 20000, name
        assert rec["seconds"] > 0 and rec["peak_rss"] > 0 and rec["rows_per_s"] > 0, name
        assert rec["arrow_bytes"] > 0 and rec["stored_mb_per_s"] > 0, name
    assert r["remote"]["first_batch_seconds"] <= r["remote"]["seconds"]
    for name in ("dsreg", "hf_rows", "hf_batched"):
        rec = r["loader"][name]
        assert rec["rows"] == 20000 and rec["batches"] == -(-20000 // 1024) and rec["rows_per_s"] > 0, name


def test_section_and_targets(read_run):
    doc, text = read_run
    assert "## Reading: streaming, loaders, remote first batch" in text
    for line in ("dsreg to_batches (stream)", "pyarrow.dataset scan", "torch DataLoader", "From S3"):
        assert line in text
    names = [t["target"] for t in doc["targets"]]
    assert any(n.startswith("peak RSS streaming a version") for n in names)
    assert any(n.startswith("streaming throughput vs pyarrow.dataset") for n in names)
