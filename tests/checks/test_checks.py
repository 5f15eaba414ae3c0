"""Checks: rules stored per branch, enforced at commit and push, carried by push, pull and clone."""
from __future__ import annotations

import json

import pyarrow as pa
import pytest

from dsreg import checks
from dsreg.errors import BadRule, CheckFailed, UnknownCheck
from dsreg.registry import Registry
from helpers.cli import fails, run, run_json, write

N = 200
GOOD = pa.table({"id": list(range(N)), "label": ["pos", "neg"] * (N // 2),
                 "score": [i / N for i in range(N)]})
TEST = pa.table({"id": list(range(1000, 1020)), "label": ["pos"] * 20, "score": [0.5] * 20})


def edit(table: pa.Table, column: str, rows: dict[int, object]) -> pa.Table:
    values = table[column].to_pylist()
    for i, v in rows.items():
        values[i] = v
    return table.set_column(table.schema.get_field_index(column), column,
                            pa.array(values, table.schema.field(column).type))


@pytest.fixture
def reg(tmp_path):
    r = Registry.init(tmp_path / "r")
    r.commit("d", {"train": GOOD, "test": TEST}, message="one", keys=["id"])
    yield r
    r.close()


def head(reg) -> str:
    return reg.resolve("d")


# -- each rule: a passing and a failing commit; nothing recorded on failure ---------------
CASES = [
    ("not-null label", edit(GOOD, "label", {5: None}), "train", 1, {"row": 5, "id": 5, "label": None}),
    ("range score 0 1", edit(GOOD, "score", {7: 1.5, 9: float("nan")}), "train", 2,
     {"row": 7, "id": 7, "score": 1.5}),
    ("values label pos neg", edit(GOOD, "label", {3: "neutral"}), "train", 1, {"row": 3, "id": 3, "label": "neutral"}),
    ("unique id", edit(GOOD, "id", {10: 11}), "train", 1, {"row": 11, "id": 11}),
    ("rows 10 250", GOOD.slice(0, 5), "train", 1, None),
    ("schema-frozen", GOOD.drop(["score"]), "train", 1, None),
    ("max-change 0.1", pa.concat_tables([GOOD.slice(0, 150), TEST.slice(0, 0)]), "train", 51, None),   # against the parent: row 0 differs too
    ("no-duplicates", pa.concat_tables([GOOD, GOOD.slice(0, 3)]), "train", 3, {"row": 200, "same_as": 0, "id": 0}),
    ("no-leakage", pa.concat_tables([GOOD, TEST.slice(0, 2)]), "test,train", 2, None),
]


@pytest.mark.parametrize("rule,bad,split,count,first", CASES, ids=[c[0] for c in CASES])
def test_rule_passes_good_commit_and_refuses_bad(reg, rule, bad, split, count, first):
    added = checks.add_check(reg, "d", rule)
    assert added.head.ok, added.head.to_json()
    ok_table = edit(GOOD, "label", {0: "neg"}) if "label" not in rule else edit(GOOD, "score", {0: 0.25})
    before = head(reg)
    good = reg.commit("d", {"train": ok_table}, message="fine")
    assert good.id != before and head(reg) == good.id
    with pytest.raises(CheckFailed) as e:
        reg.commit("d", {"train": bad}, message="bad")
    assert head(reg) == good.id                       # nothing recorded
    assert len(reg.log("d")) == 2
    failed = e.value.report.failures
    assert ",".join(r.split for r in failed) == split, e.value.report.to_json()
    assert failed[0].violations == count and failed[0].rule == rule
    if first is not None:
        assert failed[0].sample[0] == first
        assert len(failed[0].sample) <= 5
    # the same commit goes through without verification
    assert reg.commit("d", {"train": bad}, message="bad", no_verify=True).id != good.id


def test_row_local_rules_read_only_new_rows(reg):
    """A violation the parent already had (committed with no_verify) is not the next commit's fault."""
    bad = edit(GOOD, "label", {1: None})
    reg.commit("d", {"train": bad}, no_verify=True)
    checks.add_check(reg, "d", "not-null label")
    more = pa.concat_tables([bad, pa.table({"id": [500], "label": ["pos"], "score": [0.1]})])
    reg.commit("d", {"train": more}, message="append a good row")       # passes: only row 200 is new
    report = checks.run_checks(reg, "d")                                # the whole version: fails
    assert not report.ok and report.failures[0].violations == 1 and report.failures[0].sample[0]["row"] == 1


def test_report_json_shape_and_card_result(reg):
    checks.add_check(reg, "d", "not-null label")
    report = checks.run_checks(reg, "d").to_json()
    assert set(report) == {"commit", "ok", "results"} and report["commit"] == head(reg) and report["ok"]
    assert set(report["results"][0]) == {"rule", "split", "ok", "violations", "sample"}
    assert reg.manifest.check_result(head(reg))["ok"] is True


def test_leakage_by_key_and_unique_nan(reg):
    checks.add_check(reg, "d", "no-leakage train test")
    leak = edit(TEST, "label", {0: "neg"})
    leak = edit(leak, "id", {0: 4})                  # a train key, other values: leaks by key
    with pytest.raises(CheckFailed) as e:
        reg.commit("d", {"test": leak})
    (test_failure, train_failure) = sorted(e.value.report.failures, key=lambda r: r.split)
    assert test_failure.sample[0]["id"] == 4 and test_failure.sample[0]["also_in"] == "train"
    nan = GOOD.append_column("f", pa.array([float("nan")] + [1.0] * (N - 1)))
    reg.commit("d", {"train": nan}, message="float", no_verify=True)
    with pytest.raises(BadRule, match="NaN"):
        checks.add_check(reg, "d", "unique f")


@pytest.mark.parametrize("rule,says", [
    ("nope x", "unknown rule 'nope'"), ("not-nul label", "did you mean 'not-null'"),
    ("not-null zz", "no split has a column 'zz'"), ("range label 0 1", "is string, not a number"),
    ("range score 1 0", "MIN 1 is above MAX 0"), ("values id a b", "not all int64 values"),
    ("rows -1", "whole numbers"), ("max-change x", "not a number"), ("no-leakage trian test", "no split 'trian'"),
    ("schema-frozen now", "usage: schema-frozen"),
])
def test_bad_rules_are_one_clear_error(reg, rule, says):
    with pytest.raises(BadRule, match=says):
        checks.add_check(reg, "d", rule)
    assert checks.list_checks(reg, "d") == []


def test_add_list_remove_ids(reg):
    a = checks.add_check(reg, "d", "not-null label").check
    b = checks.add_check(reg, "d", ["range", "score", "0", "1"]).check
    assert checks.add_check(reg, "d", "not-null  label").check.id == a.id      # the same rule, once
    assert [c.rule for c in checks.list_checks(reg, "d")] == ["not-null label", "range score 0 1"]
    checks.remove_check(reg, "d", a.id)
    c = checks.add_check(reg, "d", "rows 1").check
    assert c.id == b.id + 1                            # ids are not reused
    with pytest.raises(UnknownCheck):
        checks.remove_check(reg, "d", 99)


def test_checks_are_per_branch(reg):
    reg.branch("d", "dev")
    checks.add_check(reg, "d", "not-null label", branch="dev")
    bad = edit(GOOD, "label", {0: None})
    reg.commit("d", {"train": bad}, message="main has no checks")
    with pytest.raises(CheckFailed):
        reg.commit("d", {"train": bad}, branch="dev")


# -- the command line --------------------------------------------------------------------
@pytest.fixture
def cli_reg(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run("init")
    write(tmp_path / "good.parquet", GOOD)
    write(tmp_path / "bad.parquet", edit(GOOD, "label", {4: None, 6: None}))
    run("commit", "d", "good.parquet", "-m", "one", "--key", "id")
    return tmp_path


def test_cli_commit_refused_with_report_then_no_verify(cli_reg):
    assert "check 1 on d@main: not-null label" in run("check", "add", "d", "not-null", "label").stdout
    result = run("commit", "d", "bad.parquet", "-m", "two", code=1)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0] == "not-null label [train]: FAILED: 2 rows"
    assert lines[1] == "    row=4, id=4, label=None"
    assert lines[-1].startswith("Error: commit refused: the version breaks 1 check of d@main: not-null label "
                                "(train: 2); nothing was recorded; fix the rows, or pass --no-verify")
    assert len(run_json("log", "d")) == 1
    run("commit", "d", "bad.parquet", "-m", "two", "--no-verify")
    assert len(run_json("log", "d")) == 2
    doc = json.loads(run("check", "run", "d", "--json", code=1).stdout)
    assert doc["ok"] is False and doc["results"][0]["violations"] == 2
    assert run_json("check", "list", "d") == [{"id": 1, "dataset": "d", "branch": "main", "rule": "not-null label"}]
    run("check", "remove", "d", "1")
    assert "no checks on d" in run("check", "list", "d").stdout


def test_cli_bad_rule_is_one_line(cli_reg):
    fails("check", "add", "d", "range", "label", "0", "1", code=2, says="range: column 'label'")
    fails("check", "add", "d", "bogus", code=2, says="unknown rule 'bogus'")
    fails("check", "remove", "d", "7", says="no check 7 on d@main")


# -- carried by push, pull and clone; enforced at push -----------------------------------
def test_checks_travel_with_push_and_clone_and_push_enforces(cli_reg, tmp_path):
    remote = tmp_path / "remote"
    remote.mkdir()
    run("remote", "add", "origin", f"file://{remote}")
    run("check", "add", "d", "not-null", "label")
    run("push")
    assert json.loads((remote / "checks" / "d@branch" / "main").read_text()) == {"rules": ["not-null label"]}
    run("clone", f"file://{remote}", str(tmp_path / "clone"))
    clone = ["--registry", str(tmp_path / "clone")]
    assert [c["rule"] for c in run_json(*clone, "check", "list", "d")] == ["not-null label"]
    # a clone enforces the same checks
    result = run(*clone, "commit", "d", str(tmp_path / "bad.parquet"), code=1)
    assert "not-null label [train]: FAILED: 2 rows" in result.stderr
    # a version committed without verification is refused at push, unless --no-verify
    run("commit", "d", "bad.parquet", "--no-verify")
    result = run("push", code=1)
    assert "Error: push refused" in result.stderr and "nothing was pushed" in result.stderr
    assert json.loads((remote / "refs" / "d@branch" / "main").read_text())["commit"] != run_json("show", "d")["id"]
    run("push", "--no-verify")
    assert json.loads((remote / "refs" / "d@branch" / "main").read_text())["commit"] == run_json("show", "d")["id"]
    # pull takes the remote's checks, keeping local ones
    run(*clone, "check", "add", "d", "rows", "1")
    run(*clone, "pull", "origin", "d")
    assert [c["rule"] for c in run_json(*clone, "check", "list", "d")] == ["not-null label", "rows 1"]


# -- guardrails without any check ----------------------------------------------------------
def test_guardrails_typo_split_removed_columns_key_type_no_message(cli_reg):
    write(cli_reg / "t.parquet", GOOD)
    result = run("commit", "d", "tran=t.parquet", "-m", "typo")
    assert "Warning: split 'tran' is new (the parent has train); did you mean 'train'?" in result.stderr
    write(cli_reg / "narrow.parquet", GOOD.drop(["score"]).set_column(0, "id", pa.array([str(i) for i in range(N)])))
    result = run("commit", "d", "narrow.parquet", "-m", "narrow")
    assert "Warning: split 'train': column score removed" in result.stderr
    assert "Warning: split 'train': key column 'id' changed type from int64 to string" in result.stderr
    result = run("commit", "d", "good.parquet")
    assert result.stdout.splitlines()[0].endswith("] (no message; give one with -m MSG)")
    assert run_json("log", "d", "-n", "1")[0]["message"] == ""
    quiet = run("commit", "d", "train=good.parquet", "test=t.parquet", "-m", "fine", "--allow-empty")
    assert quiet.stderr == ""


def test_docs_example_runs(tmp_path):
    """docs/checks.md's bash example runs as written, and prints the report it shows."""
    import os
    import re
    import subprocess
    import sys
    from pathlib import Path
    doc = (Path(__file__).resolve().parents[2] / "docs" / "checks.md").read_text()
    script = re.findall(r"```bash\n(.*?)```", doc, flags=re.S)[0]
    env = {**os.environ, "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")}
    env.pop("DSREG_DIR", None)
    proc = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    shown = re.findall(r"The refused commit prints:\n\n```\n(.*?)```", doc, flags=re.S)[0]
    assert shown in proc.stderr
    report = json.loads((tmp_path / "project" / "report.json").read_text())
    assert report["ok"] is False and {"commit", "ok", "results"} == set(report)


def test_rebuild_keeps_checks(reg):
    checks.add_check(reg, "d", "not-null label")
    reg.rebuild_manifest()
    assert [c.rule for c in checks.list_checks(reg, "d")] == ["not-null label"]
