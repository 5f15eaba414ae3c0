"""Crash safety: `dsreg commit`, `push`, `pull` and `gc`, SIGKILLed at many points.

Each operation runs as the real CLI in its own process and is killed two ways:

- at deterministic crash points (`DSREG_CRASH_AT=*:N`, see dsreg/faults.py): a traced
  uninterrupted run lists every point the operation passes (each object write, both
  sides of every manifest transaction and remote ref update, each gc deletion), and the
  kills are spread evenly over that list;
- after a delay: an uninterrupted run is timed, and the process is killed at fractions of
  that time, wherever it happens to be.

After every kill: `fsck` passes, every version that existed before reads back exactly as
before, and running the operation again completes (and leaves fsck passing). For push,
the remote too: every ref it holds reaches complete, verified data.

Reduced counts by default; `pytest --full-reliability` (or DSREG_FULL_RELIABILITY=1)
runs at least 20 kill points per operation.
"""
from __future__ import annotations

import os
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

import dsreg
from dsreg.cli import cli
from dsreg.maintenance.reach import unreachable
from dsreg.maintenance.remote import fsck_remote
from dsreg.remote import transfer
from dsreg.rows.equality import tables_equal
from helpers.reliability import assert_versions_load, dsreg_cmd, record, run_dsreg, run_killed_after, spread, versions
from helpers.s3 import new_bucket
from helpers.tables import edit_table, make_table

pytestmark = pytest.mark.slow      # minutes of kills, faults and racing processes

KILLED = -9     # what subprocess reports for a SIGKILLed child


def _counts(full: bool) -> tuple[int, int]:
    """(deterministic kill points, timed kills) per operation."""
    return (24, 6) if full else (5, 2)


def _write_jsonl(path: Path, table: pa.Table) -> str:
    import json
    with open(path, "w") as f:
        for row in table.to_pylist():
            f.write(json.dumps(row) + "\n")
    return str(path)


def _cli(*args: str):
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, (args, result.exit_code, result.stdout, result.stderr, result.exception)
    return result


class Scenario:
    """One operation: a template registry, how to make a fresh copy for a kill point, the
    command, and what must hold after a kill and after running it again."""

    op: str
    args: list[str]         # after `--registry DIR`

    def __init__(self, base: Path):
        self.base = base
        self.template = base / "template"

    def copy(self, i: int) -> Path:
        dest = self.base / f"point{i}"
        shutil.copytree(self.template, dest, symlinks=True)
        self.after_copy(dest)
        return dest

    def after_copy(self, dest: Path) -> None:
        pass

    def command(self, project: Path) -> list[str]:
        return ["--registry", str(project), *self.args]

    def check_after_kill(self, reg) -> None:
        pass

    def check_after_rerun(self, reg) -> None:
        pass


class CommitScenario(Scenario):
    op = "commit"

    def prepare(self) -> None:
        reg = dsreg.Registry.init(self.template)
        t = make_table(3000, seed=1)
        reg.commit("ds", {"train": t, "test": make_table(400, seed=2)}, message="v1")
        reg.tag("ds", "v1")
        reg.commit("ds", {"train": edit_table(t, "edit", 0.05).table}, message="v2")
        self.expected = versions(reg)
        self.head = reg.resolve("ds")
        reg.close()
        data = self.base / "data"
        data.mkdir()
        self.inputs = {
            "train": edit_table(edit_table(t, "edit", 0.05).table, "append", 0.2, seed=5).table,
            "test": make_table(800, seed=3).drop_columns(["embedding"]),
            "val": make_table(300, seed=4).drop_columns(["embedding"]),
            "extra": make_table(2000, seed=6),
        }
        pq.write_table(self.inputs["train"], data / "train.parquet")
        pcsv.write_csv(self.inputs["test"], data / "test.csv")
        _write_jsonl(data / "val.jsonl", self.inputs["val"])
        pq.write_table(self.inputs["extra"], data / "extra.parquet")
        self.args = ["commit", "ds", f"train={data / 'train.parquet'}", f"test={data / 'test.csv'}",
                     f"val={data / 'val.jsonl'}", f"extra={data / 'extra.parquet'}", "-m", "v3"]

    def _check_new_version(self, reg, must_exist: bool) -> None:
        head = reg.resolve("ds")
        if head == self.head:
            assert not must_exist
            return
        # the new commit is there: all of it, exactly as given
        for split in ("train", "extra"):
            assert tables_equal(reg.load("ds", split=split), self.inputs[split]), split
        for split in ("test", "val"):
            got = reg.load("ds", split=split)
            assert got.num_rows == self.inputs[split].num_rows, split

    def check_after_kill(self, reg) -> None:
        self._check_new_version(reg, must_exist=False)

    def check_after_rerun(self, reg) -> None:
        self._check_new_version(reg, must_exist=True)


class GcScenario(Scenario):
    op = "gc"

    def prepare(self) -> None:
        reg = dsreg.Registry.init(self.template)
        t = make_table(2000, seed=1)
        reg.commit("ds", {"train": t, "test": make_table(300, seed=2)}, message="v1")
        reg.tag("ds", "v1")
        reg.commit("ds", {"train": edit_table(t, "edit", 0.05).table}, message="v2")
        reg.branch("ds", "tmp")
        for i in range(3):       # garbage-to-be: four splits of fresh rows per commit
            reg.commit("ds", {f"s{j}": make_table(500, seed=100 + 10 * i + j) for j in range(4)},
                       message=f"tmp {i}", branch="tmp")
        reg.branch("ds", delete="tmp")
        self.expected = versions(reg)
        self.garbage = len(unreachable(reg))
        reg.close()
        past = time.time() - 7200       # older than gc's grace period
        for p in (self.template / ".dsreg").rglob("*"):
            os.utime(p, (past, past), follow_symlinks=False)
        self.args = ["gc"]

    def check_after_rerun(self, reg) -> None:
        assert unreachable(reg) == []


class PushScenario(Scenario):
    """Push to S3 (moto over HTTP): the remote has tag v1 already; the push adds main,
    a branch and another tag, moving refs by compare-and-swap."""
    op = "push"

    def __init__(self, base: Path, endpoint: str):
        super().__init__(base)
        self.endpoint = endpoint

    def prepare(self) -> None:
        reg = dsreg.Registry.init(self.template)
        t = make_table(2000, seed=1)
        reg.commit("ds", {"train": t, "test": make_table(300, seed=2)}, message="v1")
        reg.tag("ds", "v1")
        reg.commit("ds", {"train": edit_table(t, "edit", 0.05).table, "val": make_table(700, seed=3)},
                   message="v2")
        reg.tag("ds", "v2")
        reg.branch("ds", "exp", "v1")
        reg.commit("ds", {"exp": make_table(900, seed=4), "more": make_table(600, seed=5)}, message="exp",
                   branch="exp")
        reg.commit("other", {"a": make_table(500, seed=6), "b": make_table(400, seed=7)}, message="other")
        self.expected = versions(reg)
        reg.close()
        self.args = ["push", "origin"]

    def after_copy(self, dest: Path) -> None:
        reg = dsreg.Registry(dest)
        transfer.add_remote(reg, "origin", f"s3://{new_bucket(self.endpoint)}/reg", self.endpoint)
        transfer.push(reg, "origin", "ds@v1")
        reg.close()

    def check_after_kill(self, reg) -> None:
        remote = fsck_remote(reg, "origin")
        assert remote.ok, remote.problems          # every ref there reaches complete data

    def check_after_rerun(self, reg) -> None:
        assert fsck_remote(reg, "origin").ok
        _, remote = transfer.get_remote(reg, "origin")
        assert {(r.dataset, r.kind, r.name): r.commit for r in remote.refs()} == \
            {(r.dataset, r.kind, r.name): r.commit for r in reg.manifest.refs()}


class PullScenario(Scenario):
    """Pull from S3: the local registry has v1 of `ds` (all its data); the remote has
    moved on by two commits with new splits."""
    op = "pull"

    def __init__(self, base: Path, endpoint: str):
        super().__init__(base)
        self.endpoint = endpoint

    def prepare(self) -> None:
        url = f"s3://{new_bucket(self.endpoint)}/reg"
        src = dsreg.Registry.init(self.base / "source")
        t = make_table(2000, seed=1)
        src.commit("ds", {"train": t, "test": make_table(300, seed=2)}, message="v1")
        transfer.add_remote(src, "origin", url, self.endpoint)
        transfer.push(src)
        reg, _ = dsreg.Registry.clone(url, self.template, self.endpoint)
        transfer.pull(reg, "origin", "ds@main")
        self.expected = versions(reg)
        reg.close()
        src.commit("ds", {"train": edit_table(t, "insert", 0.1).table, "val": make_table(800, seed=3)},
                   message="v2")
        src.commit("ds", {f"s{j}": make_table(400, seed=10 + j) for j in range(3)}, message="v3")
        transfer.push(src)
        self.target = versions(src)
        self.head = src.resolve("ds")
        src.close()
        self.args = ["pull", "origin", "ds@main"]

    def check_after_rerun(self, reg) -> None:
        assert reg.resolve("ds") == self.head
        assert_versions_load(reg, self.target)


def _run_scenario(sc: Scenario, full: bool) -> dict:
    n_hook, n_timed = _counts(full)
    sc.prepare()
    # calibrate: one traced, timed, uninterrupted run
    probe = sc.copy(0)
    trace = sc.base / "trace"
    started = time.monotonic()
    done = run_dsreg(*sc.command(probe), cwd=probe, env={"DSREG_CRASH_TRACE": str(trace)})
    elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    labels = trace.read_text().splitlines()
    hook_points = [i + 1 for i in spread(len(labels), n_hook)]
    delays = [elapsed * (0.35 + 0.63 * k / max(n_timed - 1, 1)) for k in range(n_timed)]
    points = [("hook", n) for n in hook_points] + [("timed", d) for d in delays]
    copies = [sc.copy(i + 1) for i in range(len(points))]

    def kill(job):
        (kind, value), project = job
        if kind == "hook":
            return run_killed_after(sc.command(project), project, 600, {"DSREG_CRASH_AT": f"*:{value}"})
        return run_killed_after(sc.command(project), project, value)

    with ThreadPoolExecutor(2) as pool:
        codes = list(pool.map(kill, zip(points, copies)))
    killed = 0
    for (kind, value), project, code in zip(points, copies, codes):
        where = f"{sc.op} {kind} {labels[value - 1] if kind == 'hook' else f'{value:.2f}s'}"
        if kind == "hook":
            assert code == KILLED, (where, code)
        killed += code == KILLED
        reg = dsreg.Registry(project)
        result = reg.fsck()
        assert result.ok, (where, result.problems)
        assert_versions_load(reg, sc.expected)
        sc.check_after_kill(reg)
        reg.close()
        _cli(*sc.command(project))                 # run again: it completes
        reg = dsreg.Registry(project)
        assert reg.fsck().ok, where
        assert_versions_load(reg, sc.expected)
        sc.check_after_rerun(reg)
        reg.close()
        shutil.rmtree(project)
    figures = {"op": sc.op, "kill_points": len(points), "deterministic": len(hook_points), "timed": len(delays),
               "killed": killed, "crash_points_in_op": len(labels), "distinct_labels": len(set(labels)),
               "versions_checked": len(sc.expected), "lost": 0}
    record("crash", **figures)
    return figures


def test_commit_survives_sigkill_anywhere(tmp_path, full_reliability):
    figures = _run_scenario(CommitScenario(tmp_path), full_reliability)
    assert figures["kill_points"] >= (20 if full_reliability else 7)


def test_gc_survives_sigkill_anywhere(tmp_path, full_reliability):
    sc = GcScenario(tmp_path)
    figures = _run_scenario(sc, full_reliability)
    assert sc.garbage >= 20 and figures["kill_points"] >= (20 if full_reliability else 7)


def test_push_survives_sigkill_anywhere(tmp_path, s3_endpoint, full_reliability):
    figures = _run_scenario(PushScenario(tmp_path, s3_endpoint), full_reliability)
    assert figures["kill_points"] >= (20 if full_reliability else 7)


def test_pull_survives_sigkill_anywhere(tmp_path, s3_endpoint, full_reliability):
    figures = _run_scenario(PullScenario(tmp_path, s3_endpoint), full_reliability)
    assert figures["kill_points"] >= (20 if full_reliability else 7)


def test_crashpoints_are_inert_without_the_variable(tmp_path, monkeypatch):
    """The hook costs nothing and does nothing unless asked."""
    from dsreg import faults
    monkeypatch.delenv("DSREG_CRASH_AT", raising=False)
    monkeypatch.delenv("DSREG_CRASH_TRACE", raising=False)
    faults.crashpoint("object.write")
    monkeypatch.setenv("DSREG_CRASH_TRACE", str(tmp_path / "t"))
    faults.reset()
    faults.crashpoint("a")
    faults.crashpoint("b")
    assert (tmp_path / "t").read_text() == "a\nb\n"
    assert dsreg_cmd("x")[-1] == "x"
