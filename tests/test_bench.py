"""Smoke test of the benchmark: the small size, dsreg only, on a smaller row count; the
shape of its JSON and Markdown, and the 1% scenarios within the bytes target. No timing
is asserted: CI machines are shared and noisy."""
from __future__ import annotations

import json

import pytest

from helpers.benchrun import bench_module, run_suite


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("results")
    doc = bench_module().main(["--size", "small", "--peers", "none", "--suites", "none", "--out", str(out), "--quiet"])
    return doc, out


def test_writes_json_and_markdown(bench_run):
    doc, out = bench_run
    names = sorted(p.name for p in out.iterdir())
    assert "small-latest.json" in names and "small-latest.md" in names
    assert len([n for n in names if n.endswith(".json")]) == 2          # the run's own, and latest
    assert json.loads((out / "small-latest.json").read_text()) == json.loads(json.dumps(doc))
    text = (out / "small-latest.md").read_text()
    for heading in ("## Time: commit + push", "## Bytes uploaded per scenario", "## Diff of main",
                    "## Clone + load", "## Peak memory", "## Targets"):
        assert heading in text


def test_every_scenario_is_measured(bench_run):
    doc, _ = bench_run
    assert doc["meta"]["scenarios"] == ["identical", "append", "insert", "delete", "edit", "addcol"]
    assert set(doc["meta"]["machine"]) >= {"cpu", "nproc", "memory_gib"}
    d = doc["dsreg"]
    for name in ["base", *doc["meta"]["scenarios"]]:
        for step in ("commit", "push_s3", "push_file"):
            assert d[name][step]["wall"] > 0 and d[name][step]["cpu"] >= 0 and d[name][step]["peak_rss"] > 0
        if name != "base":
            assert d[name]["diff"]["wall"] > 0
    assert d["identical"]["commit"]["unchanged"] and d["identical"]["push_s3"]["uploaded_bytes"] == 0
    assert d["clone_load"]["load_main"]["rows"] == doc["meta"]["rows"]
    assert d["clone_load"]["load_main"]["downloaded_bytes"] > 0
    assert d["edit"]["diff"]["added"] == d["edit"]["diff"]["removed"] == doc["data"]["edit"]["changed_rows"]


def test_one_percent_scenarios_meet_the_bytes_target(bench_run):
    doc, _ = bench_run
    for s in ("append", "insert", "delete", "edit"):
        uploaded = doc["dsreg"][s]["push_s3"]["uploaded_bytes"]
        assert uploaded <= 2 * doc["data"][s]["changed_zstd_bytes"] + (1 << 20), s
        assert uploaded == doc["dsreg"][s]["push_file"]["uploaded_bytes"], s
    bytes_targets = [t for t in doc["targets"] if t["target"].startswith("bytes uploaded, ")]
    assert len(bytes_targets) == 4 and all(t["met"] for t in bytes_targets)


def test_the_commit_speed_suite_measures_dsreg_the_decode_limit_and_dvc(tmp_path):
    """`--suites commit` on 20,000 rows: each figure is measured (none made up), the edit
    reuses 99% of the rows, and the report names the issue's four targets."""
    doc = run_suite("commit", tmp_path)
    result = doc["suites"]["commit"]
    assert "error" not in result, result
    for name in ("initial", "edit"):
        one = result["phases"][name]
        steps = ("decode", "commit", "dvc_add") if result["dvc"] else ("decode", "commit")
        for step in steps:
            assert one[step]["seconds"] > 0 and one[step]["mb_per_s"] > 0
        assert one["commit"]["peak_rss"] > 0
    assert result["phases"]["initial"]["reused_rows"] == 0
    assert result["phases"]["edit"]["new_rows"] == doc["data"]["edit"]["changed_rows"]
    names = [t["target"] for t in doc["targets"] if "commit" in t["target"] and "vs" in t["target"]]
    assert names == ["initial commit throughput vs the decode limit", "edit commit throughput vs the decode limit"]
    assert "## Commit speed" in (tmp_path / "default-latest.md").read_text()
