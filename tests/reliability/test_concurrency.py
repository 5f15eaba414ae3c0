"""Concurrency: many processes committing to one registry, and pushing to one remote branch.

Every process runs the real command line. Losers of a race must be told what to do (one
`Error:` line with the command to run), and doing it must get every change in: no commit
lost, no manifest corrupted, fsck passing, every version readable.
"""
from __future__ import annotations

import multiprocessing
import sqlite3
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import dsreg
from dsreg.maintenance import gc as maintenance
from dsreg.maintenance.remote import fsck_remote
from dsreg.remote import transfer
from helpers import reliability_workers as workers
from helpers.reliability import assert_versions_load, record, versions
from helpers.s3 import new_bucket
from helpers.tables import make_table

pytestmark = pytest.mark.slow      # minutes of kills, faults and racing processes


def _workers(full: bool) -> int:
    return 12 if full else 8


def _start(pool_jobs, go: Path, fn, jobs):
    pending = pool_jobs.map_async(fn, jobs)
    time.sleep(1.0)                 # let every worker import and reach the start line
    go.touch()
    return pending


def _one_error_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "Traceback" not in err, err
    return lines[0]


def test_processes_committing_to_one_registry_at_once(registry, tmp_path, full_reliability):
    n = _workers(full_reliability)
    registry.commit("shared", {"train": make_table(2000, seed=1)}, message="seed")
    before = versions(registry)
    registry.close()
    paths = []
    for i in range(n):
        p = tmp_path / f"s{i}.parquet"
        pq.write_table(make_table(20_000, seed=50 + i), p)     # big enough that commits overlap
        paths.append(str(p))
    go, stop = tmp_path / "go", tmp_path / "stop"
    ctx = multiprocessing.get_context("spawn")
    project = str(registry.root)
    with ctx.Pool(n + 1) as pool:
        gc_run = pool.apply_async(workers.gc_while_others_commit, ((project, str(go), str(stop)),))
        pending = _start(pool, go, workers.commit_until_done,
                         [(project, f"s{i}", paths[i], str(go), 40) for i in range(n)])
        results = pending.get(timeout=600)
        stop.touch()
        gc_runs = gc_run.get(timeout=300)["runs"]
    told = 0
    for r in results:
        *lost, (code, err) = r["attempts"]
        assert code == 0, r
        for code, err in lost:
            line = _one_error_line(err)
            assert code == 1 and "moved while this operation ran" in line and "run the command again" in line
            told += 1
    assert all(code == 0 for code, _ in gc_runs), gc_runs
    reg = dsreg.Registry(project)
    conn = sqlite3.connect(str(reg.dir / "manifest.sqlite"))
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    log = reg.log("shared")
    assert len(log) == n + 1                                # every commit landed, none twice
    assert set(reg.show("shared").splits) == {"train"} | {f"s{i}" for i in range(n)}
    for i in range(n):
        assert reg.load("shared", split=f"s{i}").num_rows == 20_000
    assert reg.fsck().ok
    assert_versions_load(reg, before)
    record("concurrency", scenario="commit to one registry", processes=n, gc_process=1, gc_runs=len(gc_runs),
           losers_told=told, commits_landed=len(log) - 1, lost=n + 1 - len(log))
    reg.close()


@pytest.mark.parametrize("kind", ["s3", "file"])
def test_processes_pushing_to_one_remote_branch_at_once(registry, tmp_path, kind, request, full_reliability):
    n = _workers(full_reliability)
    if kind == "s3":
        endpoint = request.getfixturevalue("s3_endpoint")
        url = f"s3://{new_bucket(endpoint)}/team"
    else:
        endpoint = None
        (tmp_path / "remote").mkdir()
        url = f"file://{tmp_path / 'remote'}"
    registry.commit("shared", {"train": make_table(1000, seed=1)}, message="seed")
    transfer.add_remote(registry, "origin", url, endpoint)
    transfer.push(registry)
    jobs = []
    for i in range(n):
        clone, _ = dsreg.Registry.clone(url, tmp_path / f"w{i}", endpoint)
        clone.close()
        p = tmp_path / f"s{i}.parquet"
        pq.write_table(pa.table({"who": [f"s{i}"] * 50, "n": list(range(50))}), p)
        jobs.append((str(tmp_path / f"w{i}"), f"s{i}", str(p), str(tmp_path / "go"), 4 * n))
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(n) as pool:
        results = _start(pool, tmp_path / "go", workers.push_until_done, jobs).get(timeout=900)
    rejected = 0
    for r in results:
        pushes = [a for a in r["attempts"] if a[0] != "pull"]
        assert pushes[-1][0] == 0, r
        for code, err in pushes[:-1]:
            line = _one_error_line(err)
            assert code == 1 and "run 'dsreg pull origin shared@main'" in line, line
            rejected += 1
        for a in r["attempts"]:
            if a[0] == "pull":
                assert a[1] == 0, a
    assert rejected >= 1            # they did race
    assert transfer.pull(registry, "origin", "shared").status == "fast-forward"
    assert set(registry.show("shared").splits) == {"train"} | {f"s{i}" for i in range(n)}
    for i in range(n):
        assert registry.load("shared", split=f"s{i}").column("who").to_pylist() == [f"s{i}"] * 50
    assert len(registry.log("shared")) == n + 1
    assert registry.fsck().ok and fsck_remote(registry, "origin").ok
    record("concurrency", scenario=f"push to one {kind} remote branch", processes=n, losers_told=rejected,
           commits_landed=len(registry.log("shared")) - 1, lost=n + 1 - len(registry.log("shared")))


def test_processes_committing_to_one_registry_and_pushing_to_one_branch(registry, tmp_path, s3_endpoint,
                                                                        full_reliability):
    """Both at once: every process commits to the same registry's main and pushes it to
    the same remote branch."""
    n = _workers(full_reliability)
    url = f"s3://{new_bucket(s3_endpoint)}/team"
    registry.commit("shared", {"train": make_table(500, seed=1)}, message="seed")
    transfer.add_remote(registry, "origin", url, s3_endpoint)
    transfer.push(registry)
    registry.close()
    jobs = []
    for i in range(n):
        p = tmp_path / f"s{i}.parquet"
        pq.write_table(make_table(3000, seed=80 + i), p)
        jobs.append((str(registry.root), f"s{i}", str(p), str(tmp_path / "go"), 4 * n))
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(n) as pool:
        results = _start(pool, tmp_path / "go", workers.commit_and_push, jobs).get(timeout=900)
    told = 0
    for r in results:
        for verb in ("commit", "push"):
            mine = [a for a in r["attempts"] if a[0] == verb]
            assert mine[-1][1] == 0, r
            for _, code, err in mine[:-1]:
                line = _one_error_line(err)
                assert code == 1 and ("run the command again" in line or "run 'dsreg pull" in line), line
                told += 1
        assert all(a[1] == 0 for a in r["attempts"] if a[0] == "pull"), r
    reg = dsreg.Registry(registry.root)
    assert len(reg.log("shared")) == n + 1
    assert set(reg.show("shared").splits) == {"train"} | {f"s{i}" for i in range(n)}
    _, remote = transfer.get_remote(reg, "origin")
    assert remote.ref("shared", "branch", "main").commit == reg.resolve("shared")
    assert reg.fsck().ok and fsck_remote(reg, "origin").ok
    record("concurrency", scenario="commit to one registry and push to one S3 branch", processes=n,
           losers_told=told, commits_landed=len(reg.log("shared")) - 1, lost=n + 1 - len(reg.log("shared")))
    reg.close()


def test_gc_between_fetching_and_recording_refs_cannot_lose_rows(registry, tmp_path, monkeypatch):
    """Known gap (a): fetch added manifest rows in one transaction and the remote-tracking
    refs that keep them alive in a later one; a gc in between deleted the rows. Now both
    go in one transaction: a gc at that moment finds nothing to take."""
    remote = tmp_path / "remote"
    remote.mkdir()
    registry.commit("ds", {"train": make_table(500)}, message="v1")
    transfer.add_remote(registry, "origin", f"file://{remote}")
    transfer.push(registry)
    other, _ = dsreg.Registry.clone(f"file://{remote}", tmp_path / "other")
    other.commit("ds", {"test": make_table(200, seed=3)}, message="v2")
    transfer.push(other)
    head = other.resolve("ds")
    other.close()
    real = transfer._fetch_commits
    ran = []

    def fetch_then_gc(reg, *a, **kw):
        real(reg, *a, **kw)
        with dsreg.Registry(reg.root) as again:     # another process's gc, at the worst moment
            ran.append(maintenance.gc(again))
    monkeypatch.setattr(transfer, "_fetch_commits", fetch_then_gc)
    transfer.fetch(registry, "origin")
    assert ran and ran[0].deleted_objects == 0
    assert registry.manifest.commit(head) is not None
    assert registry.fsck().ok
    assert transfer.pull(registry, "origin", "ds").status == "fast-forward"
    assert registry.load("ds", split="test").num_rows == 200
