"""Smoke test of the checks bench suite (bench/suites/checks.py) on 20,000 rows: its result's
shape, that the checked commit really ran every rule, its report section and targets; and
that its pandas implementation finds violations where dsreg does. No timing is asserted."""
from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq

from dsreg import checks
from dsreg.registry import Registry
from helpers.benchrun import bench_module, run_suite


def test_checks_suite_runs(tmp_path):
    suite = bench_module("bench.suites.checks")
    doc = run_suite("checks", tmp_path)
    result = doc["suites"]["checks"]
    assert "error" not in result, result.get("error")
    c, r = result["commit"], result["check_run"]
    assert c["plain"]["wall"] > 0 and c["checked"]["wall"] > 0 and c["ratio_wall"] > 0
    assert c["checked"]["new_rows"] == c["plain"]["new_rows"] > 0
    assert c["checked"]["rules_run"] == len(suite.RULES) == 9
    assert r["dsreg"]["ok"] is True and r["agree"] is True
    assert set(r["pandas"]["violations"]) == set(suite.RULES) and not any(r["pandas"]["violations"].values())
    assert r["dsreg"]["peak_rss"] > 0 and r["pandas"]["peak_rss"] > 0
    names = [t["target"] for t in doc["targets"]]
    assert "checks (9 rules) on the 1% edit commit" in names
    assert "check run of the whole version, against pandas" in names
    text = (tmp_path / "default-latest.md").read_text()
    assert "## Checks" in text and "| commit 1% edit, all rules |" in text
    assert json.loads((tmp_path / "default-latest.json").read_text())["suites"]["checks"]["rules"] == suite.RULES


def test_pandas_rules_count_what_dsreg_counts(tmp_path):
    suite = bench_module("bench.suites.checks")
    labels = ["cat", "dog"] * 10
    parent = pa.table({"id": list(range(20)), "label": labels, "score": [0.5] * 20,
                       "embedding": [[1.0, 2.0]] * 20})
    train = parent.to_pylist()
    train[1]["label"] = None                 # not-null
    train[2]["id"] = 3                       # unique (and a changed row)
    train[4]["score"] = 1.5                  # range
    train[5]["label"] = "emu"                # values
    train.append(dict(train[0]))             # no-duplicates (and unique: id 0 twice)
    train = pa.Table.from_pylist(train, schema=parent.schema)
    test = pa.table({"id": [7, 100], "label": ["cat", "dog"], "score": [0.1, 0.2], "embedding": [[0.0, 0.0]] * 2})
    paths = {}
    for name, t in (("train", train), ("parent", parent), ("test", test)):
        paths[name] = tmp_path / f"{name}.parquet"
        pq.write_table(t, paths[name])
    got = suite.pandas_checks(str(paths["train"]), str(paths["parent"]), str(paths["test"]))
    reg = Registry.init(tmp_path / "r")
    reg.commit("d", {"train": parent, "test": test}, keys=["id"])
    reg.commit("d", {"train": train}, no_verify=True)
    report = checks.run_checks(reg, "d", rules=suite.RULES)
    ours: dict[str, int] = {}
    for res in report.results:
        ours[res.rule] = ours.get(res.rule, 0) + res.violations
    assert got == ours, (got, ours)
    assert got["not-null id label"] == 1 and got["no-duplicates"] == 1 and got["no-leakage"] == 2
    reg.close()
