"""Dask: a commit straight to an S3 remote (moto over loopback), with no registry: the
workers write the shards there, the driver pushes the snapshot and commit and moves the
branch by compare-and-swap. Compared with a single-process commit pushed to another bucket."""
from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import dsreg
from dsreg.errors import BranchMovedDuringCommit, CheckFailed, RemoteGcRan
from dsreg.maintenance.remote import fsck_remote, gc_remote
from dsreg.remote import transfer
from dsreg.remote.backends import open_remote
from helpers.engines import cut, dask_client, dies_when_written, frame_of, rows
from helpers.s3 import new_bucket

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("dask.distributed")
from dsreg.integrations import dask as dsreg_dask  # noqa: E402


@pytest.fixture(scope="module")
def client(s3_endpoint, tmp_path_factory):
    # the workers inherit the moto credentials (set by s3_endpoint) and their own cache
    os.environ["DSREG_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    with dask_client() as c:
        yield c


@pytest.fixture
def bucket(s3_endpoint) -> str:
    return f"s3://{new_bucket(s3_endpoint)}/team/data"


def clone(url: str, endpoint: str, where) -> dsreg.Registry:
    reg, _ = dsreg.Registry.clone(url, where, endpoint)
    return reg


def pushed(registry, url: str, endpoint: str) -> None:
    transfer.add_remote(registry, "origin", url, endpoint)
    transfer.push(registry, "origin")


def test_commit_to_s3_is_a_commit_then_push(client, registry, bucket, s3_endpoint, tmp_path):
    df = rows(3000).to_pandas()
    res = dsreg_dask.commit(frame_of(cut(df, [700, 700, 2100])), "d", remote=bucket, endpoint_url=s3_endpoint,
                            message="from dask")
    assert res.splits["train"].rows == 3000 and res.splits["train"].new_rows == 3000
    assert open_remote(bucket, s3_endpoint).ref("d", "branch", "main").commit == res.id
    # the same rows committed by one process and pushed to another bucket
    want = registry.commit("d", pa.Table.from_pandas(df, preserve_index=False))
    assert want.splits["train"].rows == 3000
    other = f"s3://{new_bucket(s3_endpoint)}/p"
    pushed(registry, other, s3_endpoint)
    mine, theirs = clone(bucket, s3_endpoint, tmp_path / "a"), clone(other, s3_endpoint, tmp_path / "b")
    a, b = mine.load("d"), theirs.load("d")
    assert a.replace_schema_metadata(None).equals(b.replace_schema_metadata(None))
    assert a.schema.remove_metadata() == b.schema.remove_metadata()
    assert mine.log("d")[0].message == "from dask"
    for reg in (mine, theirs):
        assert fsck_remote(reg, "origin").ok
        reg.close()


def test_a_change_on_a_remote_base_uploads_about_the_change(client, bucket, s3_endpoint, tmp_path):
    df = rows(20000).to_pandas()
    dsreg_dask.commit(frame_of(cut(df, [10000])), "e", remote=bucket, endpoint_url=s3_endpoint)
    before = _bytes(bucket, s3_endpoint)
    edited = df.copy()
    edited.loc[100:199, "id"] = -edited.loc[100:199, "id"]     # 0.5% of the rows
    res = dsreg_dask.commit(frame_of(cut(edited, [10000])), "e", remote=bucket, endpoint_url=s3_endpoint)
    added = _bytes(bucket, s3_endpoint) - before
    assert res.splits["train"].reused_rows >= 19000, res.splits
    assert added < before * 0.05, (added, before)        # measured: 1.2%
    reg = clone(bucket, s3_endpoint, tmp_path / "c")
    assert reg.load("e")["id"].to_pylist() == edited["id"].tolist()
    reg.close()


def _bytes(url: str, endpoint: str) -> int:
    import boto3
    bucket, prefix = url[len("s3://"):].split("/", 1)
    pages = boto3.client("s3", endpoint_url=endpoint).get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=prefix)
    return sum(o["Size"] for page in pages for o in page.get("Contents", []))


def test_appends_and_a_new_branch(client, bucket, s3_endpoint, tmp_path):
    first = pd.DataFrame({"x": np.arange(10)})
    dsreg_dask.commit(frame_of([first]), "a", remote=bucket, endpoint_url=s3_endpoint)
    more = frame_of([pd.DataFrame({"x": np.arange(10, 15)}), pd.DataFrame({"x": np.arange(15, 20)})])
    dsreg_dask.commit(more, "a", append=True, remote=bucket, endpoint_url=s3_endpoint)
    dsreg_dask.commit(frame_of([first]), "a", branch="dev", remote=bucket, endpoint_url=s3_endpoint)
    reg = clone(bucket, s3_endpoint, tmp_path / "c")
    assert reg.load("a")["x"].to_pylist() == list(range(20))
    assert reg.load("a@dev")["x"].to_pylist() == list(range(10))
    assert reg.log("a@dev")[1].id == reg.resolve("a@main")      # a new branch starts at main
    reg.close()


def test_a_killed_worker_leaves_the_remote_branch_and_fsck_clean(client, bucket, s3_endpoint, tmp_path,
                                                                  monkeypatch):
    import tempfile
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    dsreg_dask.commit(frame_of([pd.DataFrame({"x": np.arange(50)})]), "k", remote=bucket, endpoint_url=s3_endpoint)
    remote = open_remote(bucket, s3_endpoint)
    head = remote.ref("k", "branch", "main").commit
    ddf = dd.from_map(dies_when_written(str(tmp_path), 5000), range(3), meta=pd.DataFrame({"x": np.zeros(0, np.int64)}),
                      enforce_metadata=False)
    with pytest.raises(Exception):  # noqa: B017 - dask's KilledWorker
        dsreg_dask.commit(ddf, "k", append=True, remote=bucket, endpoint_url=s3_endpoint)
    client.wait_for_workers(2, timeout=60)
    assert remote.ref("k", "branch", "main").commit == head
    assert not list(scratch.iterdir())      # the driver's scratch registry is gone
    reg = clone(bucket, s3_endpoint, tmp_path / "c")
    assert fsck_remote(reg, "origin").ok
    # what the other workers uploaded is garbage: gc deletes it, and the version stays whole
    monkeypatch.setenv("DSREG_REMOTE_GC_SETTLE", "0")
    garbage = len(list(remote.object_times()))
    assert gc_remote(reg, "origin", grace_seconds=0).deleted_objects > 0
    assert len(list(remote.object_times())) < garbage
    assert fsck_remote(reg, "origin").ok
    assert reg.load("k")["x"].to_pylist() == list(range(50))
    reg.close()


def test_a_driver_killed_before_the_ref_moves_leaves_it(bucket, s3_endpoint, tmp_path):
    """The driver SIGKILLed right before the compare-and-swap (the snapshot and commit
    uploaded): the remote branch has not moved and remote fsck is clean."""
    import subprocess
    import sys
    dsreg_dask.commit(frame_of([pd.DataFrame({"x": np.arange(10)})]), "dk", remote=bucket, endpoint_url=s3_endpoint)
    remote = open_remote(bucket, s3_endpoint)
    head = remote.ref("dk", "branch", "main").commit
    script = tmp_path / "driver.py"
    script.write_text(
        "import sys, numpy as np, pandas as pd, dask, dask.dataframe as dd\n"
        "from dsreg.integrations import dask as dsreg_dask\n"
        "dask.config.set(scheduler='synchronous')\n"
        "ddf = dd.from_pandas(pd.DataFrame({'x': np.arange(1000, 3000)}), npartitions=3)\n"
        "dsreg_dask.commit(ddf, 'dk', append=True, remote=sys.argv[1], endpoint_url=sys.argv[2])\n")
    env = {**os.environ, "DSREG_CRASH_AT": "remote.ref.before:1"}
    proc = subprocess.run([sys.executable, str(script), bucket, s3_endpoint], env=env, capture_output=True,
                          timeout=300)
    assert proc.returncode == -9, proc.stderr.decode()[-2000:]
    assert remote.ref("dk", "branch", "main").commit == head
    reg = clone(bucket, s3_endpoint, tmp_path / "c")
    assert fsck_remote(reg, "origin").ok
    assert reg.load("dk")["x"].to_pylist() == list(range(10))
    reg.close()


def test_racing_commits_one_wins_an_append_is_rebased(client, bucket, s3_endpoint, tmp_path, monkeypatch):
    """Another commit moves the remote branch after ours matched, wrote and recorded, just
    before ours pushes."""
    from dsreg.remote import direct
    dsreg_dask.commit(frame_of([pd.DataFrame({"x": np.arange(10)})]), "race", remote=bucket,
                      endpoint_url=s3_endpoint)
    mine = frame_of([pd.DataFrame({"x": np.arange(100, 110)}), pd.DataFrame({"x": np.arange(110, 120)})])
    theirs = frame_of([pd.DataFrame({"x": [-1]})])
    real_push, interlopers = direct.push, []

    def someone_else_first(reg, *args, **kw):
        if not interlopers:
            interlopers.append(None)        # (their commit pushes through here too)
            interlopers[0] = dsreg_dask.commit(theirs, "race", append=True, remote=bucket,
                                               endpoint_url=s3_endpoint, message="theirs").id
        return real_push(reg, *args, **kw)

    monkeypatch.setattr(direct, "push", someone_else_first)
    remote = open_remote(bucket, s3_endpoint)
    with pytest.raises(BranchMovedDuringCommit, match="nothing was recorded"):
        dsreg_dask.commit(mine, "race", remote=bucket, endpoint_url=s3_endpoint, message="mine")
    assert remote.ref("race", "branch", "main").commit == interlopers[0]
    interlopers.clear()
    res = dsreg_dask.commit(mine, "race", append=True, remote=bucket, endpoint_url=s3_endpoint,
                            message="mine, appended")
    assert remote.ref("race", "branch", "main").commit == res.id
    reg = clone(bucket, s3_endpoint, tmp_path / "c")
    assert [e.message for e in reg.log("race")[:2]] == ["mine, appended", "theirs"]
    assert reg.load("race")["x"].to_pylist() == [*range(10), -1, -1, *range(100, 120)]
    assert fsck_remote(reg, "origin").ok
    reg.close()


def test_the_remote_branch_checks_hold(client, registry, bucket, s3_endpoint):
    from dsreg.checks.manage import add_check
    registry.commit("chk", pd.DataFrame({"x": [1.0, 2.0]}))
    add_check(registry, "chk", ["not-null", "x"])
    pushed(registry, bucket, s3_endpoint)       # the checks travel with the branch
    remote = open_remote(bucket, s3_endpoint)
    head = remote.ref("chk", "branch", "main").commit
    bad = frame_of([pd.DataFrame({"x": [3.0]}), pd.DataFrame({"x": [None]}, dtype="float64")])
    with pytest.raises(CheckFailed, match="not-null"):
        dsreg_dask.commit(bad, "chk", append=True, remote=bucket, endpoint_url=s3_endpoint)
    assert remote.ref("chk", "branch", "main").commit == head
    res = dsreg_dask.commit(bad, "chk", append=True, remote=bucket, endpoint_url=s3_endpoint, no_verify=True)
    assert res.splits["train"].rows == 4
    assert remote.checks("chk", "main") == [text for _, text in registry.manifest.checks("chk", "main")]


def test_a_gc_started_meanwhile_stops_the_commit(client, bucket, s3_endpoint, monkeypatch):
    from dsreg.remote import direct
    dsreg_dask.commit(frame_of([pd.DataFrame({"x": np.arange(10)})]), "g", remote=bucket, endpoint_url=s3_endpoint)
    remote = open_remote(bucket, s3_endpoint)
    head = remote.ref("g", "branch", "main").commit
    real_push = direct.push

    def gc_first(*args, **kw):
        remote.set_gc_marker({"id": "someone", "started": 1.0, "finished": 2.0})
        return real_push(*args, **kw)
    monkeypatch.setattr(direct, "push", gc_first)
    with pytest.raises(RemoteGcRan):
        dsreg_dask.commit(frame_of([pd.DataFrame({"x": np.arange(20)})]), "g", remote=bucket,
                          endpoint_url=s3_endpoint)
    assert remote.ref("g", "branch", "main").commit == head


def test_misuse_is_refused(registry, bucket, s3_endpoint):
    from dsreg.errors import UsageError
    with pytest.raises(UsageError, match="not both"):
        dsreg_dask.commit(frame_of([pd.DataFrame({"x": [1]})]), "m", registry=registry, remote=bucket,
                          endpoint_url=s3_endpoint)
    assert open_remote(bucket, s3_endpoint).refs() == []
