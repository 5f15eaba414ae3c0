"""Merge (and revert) hold the version the branch would hold to the branch's checks, as a
commit does: refused with nothing recorded, --no-verify to skip, fast-forwards included."""
from __future__ import annotations

import json

import pyarrow as pa
import pytest

from dsreg import checks
from dsreg.errors import CheckFailed
from dsreg.registry import Registry
from helpers.cli import run, run_json, write

N = 100
BASE = pa.table({"id": list(range(N)), "label": ["pos", "neg"] * (N // 2)})


def plus(table: pa.Table, ids: list[int], label: str) -> pa.Table:
    return pa.concat_tables([table, pa.table({"id": ids, "label": [label] * len(ids)})])


def state(reg: Registry) -> tuple:
    """Everything a refused merge must leave as it was: the manifest, row for row, and the
    objects of the store."""
    return "\n".join(reg.manifest.conn.iterdump()), sorted(reg.store.iter())


@pytest.fixture
def reg(tmp_path):
    # no recorded keys: the merge takes rows as multisets, so both sides' new rows land
    r = Registry.init(tmp_path / "r")
    r.commit("d", BASE, message="base")
    r.branch("d", "dev")
    yield r
    r.close()


@pytest.mark.parametrize("rule,ours,theirs,count", [
    # both sides insert id 500 with other rows: each alone is unique, the merge is not
    ("unique id", plus(BASE, [500], "pos"), plus(BASE, [500], "neg"), 1),
    # each side adds 10 rows, within the limit alone; together 20
    (f"rows 1 {N + 15}", plus(BASE, list(range(200, 210)), "pos"), plus(BASE, list(range(300, 310)), "neg"), 1),
], ids=["unique", "rows-max"])
def test_merge_refused_when_merged_version_breaks_a_check(reg, rule, ours, theirs, count):
    checks.add_check(reg, "d", rule)
    reg.commit("d", theirs, message="theirs", branch="dev")
    reg.commit("d", ours, message="ours")               # each side alone keeps the check
    before, head = state(reg), reg.resolve("d")
    with pytest.raises(CheckFailed) as e:
        reg.merge("d@dev")
    assert e.value.action == "merge" and str(e.value).startswith("merge refused:")
    (failure,) = e.value.report.failures
    assert failure.rule == rule and failure.split == "train" and failure.violations == count
    assert reg.resolve("d") == head and state(reg) == before         # nothing recorded
    merged = reg.merge("d@dev", no_verify=True)
    assert not merged.fast_forward and reg.resolve("d") == merged.id != head
    assert not checks.run_checks(reg, "d").ok


def test_merge_that_keeps_the_checks_records_its_result(reg):
    checks.add_check(reg, "d", "unique id")
    reg.commit("d", plus(BASE, [500], "pos"), message="theirs", branch="dev")
    reg.commit("d", plus(BASE, [600], "pos"), message="ours")
    merged = reg.merge("d@dev")
    assert reg.manifest.check_result(merged.id)["ok"] is True


def test_fast_forward_to_a_version_that_breaks_a_check_added_since(reg):
    """git runs no hook on a fast-forward; dsreg still refuses to let the branch hold a
    version that breaks its checks (dev's commit predates main's check)."""
    reg.commit("d", plus(BASE, [5], "pos"), message="a duplicate id", branch="dev")
    checks.add_check(reg, "d", "unique id")
    before, head = state(reg), reg.resolve("d")
    with pytest.raises(CheckFailed) as e:
        reg.merge("d@dev")
    assert e.value.report.failures[0].violations == 1
    assert reg.resolve("d") == head and state(reg) == before
    result = reg.merge("d@dev", no_verify=True)
    assert result.fast_forward and reg.resolve("d") == reg.resolve("d@dev")


def test_fast_forward_checks_only_rows_the_branch_lacks(reg):
    """A row-local rule at fast-forward reads the rows not on the branch head's shards: a
    violation main already holds is not the merge's fault."""
    bad = BASE.set_column(1, "label", pa.array([None] + ["pos"] * (N - 1)))
    reg.commit("d", bad, message="a null, unchecked")
    reg.branch("d", "dev2", "d@main")
    reg.commit("d", pa.concat_tables([bad, pa.table({"id": [700], "label": ["neg"]})]), branch="dev2")
    checks.add_check(reg, "d", "not-null label")
    assert reg.merge("d@dev2").fast_forward


def test_dry_run_records_nothing_and_runs_no_checks(reg):
    reg.commit("d", plus(BASE, [5], "pos"), message="a duplicate id", branch="dev")
    checks.add_check(reg, "d", "unique id")
    head = reg.resolve("d")
    assert reg.merge("d@dev", dry_run=True).fast_forward and reg.resolve("d") == head


def test_revert_is_held_to_the_checks(reg):
    reg.commit("d", BASE.slice(0, 40), message="fewer rows")
    reg.commit("d", BASE.slice(0, 40).set_column(1, "label", pa.array(["neg"] * 40)), message="relabel")
    checks.add_check(reg, "d", "rows 1 50")
    head = reg.resolve("d")
    with pytest.raises(CheckFailed, match="revert refused"):
        reg.revert("d@main~1")                       # would bring back the 100 rows
    assert reg.resolve("d") == head
    reg.revert("d@main~1", no_verify=True)


# -- the command line --------------------------------------------------------------------
def test_cli_merge_refused_with_report_then_no_verify(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run("init")
    write(tmp_path / "base.parquet", BASE)
    write(tmp_path / "ours.parquet", plus(BASE, [500], "pos"))
    write(tmp_path / "theirs.parquet", plus(BASE, [500], "neg"))
    run("commit", "d", "base.parquet", "-m", "base")
    run("branch", "d", "dev")
    run("commit", "d", "theirs.parquet", "-b", "dev", "-m", "theirs")
    run("commit", "d", "ours.parquet", "-m", "ours")
    run("check", "add", "d", "unique", "id")
    reflog = run_json("reflog", "d")
    result = run("merge", "d@dev", code=1)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0] == "unique id [train]: FAILED: 1 row"
    assert lines[1].startswith("    row=") and "id=500" in lines[1]
    assert lines[-1].startswith("Error: merge refused: the version breaks 1 check of d@main: unique id (train: 1); "
                                "nothing was recorded; fix the rows, or pass --no-verify")
    assert run_json("reflog", "d") == reflog
    doc = json.loads(run("merge", "d@dev", "--json", code=1).stdout)
    assert doc["ok"] is False and doc["results"][0]["rule"] == "unique id"
    merged = run_json("merge", "d@dev", "--no-verify")
    assert merged["fast_forward"] is False and run_json("show", "d")["id"] == merged["id"]
