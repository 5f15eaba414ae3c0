"""The card's Checks section (each rule of the branch, its last result on the version, when
and by what it ran) and Quality section (nulls, repeated and shared rows, ranges), in the
card's data, Markdown and HTML."""
from __future__ import annotations

import pyarrow as pa
import pytest

from dsreg import checks
from dsreg.card import build_card, render
from dsreg.registry import Registry

TRAIN = pa.table({"id": [1, 2, 3, 4, 5, 3], "label": ["a", None, "b", "a", None, "b"],
                  "score": [0.1, 0.2, float("nan"), 0.4, 0.5, float("nan")]})
TEST = pa.table({"id": [3, 9], "label": ["b", "c"], "score": [float("nan"), 0.9]})


@pytest.fixture
def reg(tmp_path):
    r = Registry.init(tmp_path / "r")
    r.commit("d", {"train": TRAIN, "test": TEST}, message="one")
    yield r
    r.close()


def test_quality_for_every_version_without_checks(reg):
    card = build_card(reg, "d")
    q = card.to_json()["quality"]
    assert q["splits"]["train"] == {"rows": 6, "nulls": {"label": 2}, "nan": {"score": 2}, "duplicate_rows": 1}
    assert q["splits"]["test"] == {"rows": 2, "nulls": {}, "nan": {"score": 1}, "duplicate_rows": 0}
    # train's rows 2 and 5 (id 3, "b", NaN) are test's row 0: NaN rows compare by their bytes, as commit does
    assert q["shared"] == [{"split": "train", "other": "test", "rows": 2}]
    assert q["ranges"] == [] and card.checks is None
    md = render(card, "md")
    assert "## Checks" not in md
    assert "| train | 6 | label: 2 (33.3%) | score: 2 (33.3%) | 1 (16.7%) |" in md
    assert "- 2 rows of train also in test (leakage)" in md
    assert '<section id="quality">' in render(card, "html")


def test_checks_section_lists_each_rule_with_its_last_result(reg):
    checks.add_check(reg, "d", "rows 1")
    ok = TRAIN.slice(0, 5)
    first = reg.commit("d", {"train": ok}, message="five rows").id
    checks.add_check(reg, "d", "range score 0 1")          # breaks on the head: NaN in train and test
    card = build_card(reg, "d")
    rows = card.to_json()["checks"]["results"]
    assert card.checks is not None and card.checks["branch"] == "main"
    assert [(r["rule"], r["split"], r["status"], r["by"]) for r in rows] == [
        ("rows 1", "test", "ok", "commit"), ("rows 1", "train", "ok", "commit"),
        ("range score 0 1", "test", "failed", "check add"), ("range score 0 1", "train", "failed", "check add")]
    assert all(isinstance(r["at"], int) for r in rows) and rows[3]["violations"] == 1
    ranges = card.to_json()["quality"]["ranges"]
    assert {(r["split"], r["inside"]) for r in ranges} == {("train", False), ("test", False)}
    md = render(card, "md")
    assert "## Checks" in md and "| range score 0 1 | train | FAILED | 1 |" in md
    assert "range score 0 1 on train: min 0.1, max 0.5: OUTSIDE" in md
    assert '<section id="checks">' in render(card, "html") and "check add" in render(card, "html")
    # a later run replaces that rule's results only
    checks.run_checks(reg, "d")
    after = build_card(reg, "d").to_json()["checks"]["results"]
    assert {r["by"] for r in after} == {"check run"} and first == reg.resolve("d")


def test_card_of_an_older_version_says_not_run(reg):
    old = reg.resolve("d")
    reg.commit("d", {"train": TRAIN.slice(0, 4)}, message="two")
    checks.add_check(reg, "d", "no-duplicates")           # runs on the head only
    card = build_card(reg, f"d@{old}")
    # a commit id names no branch, and no check ever ran on that version
    assert card.checks is None
    card = build_card(reg, "d@main~1")
    assert card.checks is None
    reg.branch("d", "old", old)
    checks.add_check(reg, "d", "rows 1", branch="old")     # records on old's head: the old version
    checks.add_check(reg, "d", "no-duplicates", branch="old")
    rows = build_card(reg, "d@old").to_json()["checks"]["results"]
    assert [(r["rule"], r["split"], r["status"]) for r in rows][-1] == ("no-duplicates", "train", "failed")
    reg.manifest.set_check_result(old, {"commit": old, "ok": True, "results": []})   # as if never run
    rows = build_card(reg, "d@old").to_json()["checks"]["results"]
    assert [(r["rule"], r["status"], r["at"]) for r in rows] == [("rows 1", "not run", None),
                                                               ("no-duplicates", "not run", None)]
    assert "| rows 1 | — | not run | — | — |" in render(build_card(reg, "d@old"), "md")
