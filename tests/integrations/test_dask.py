"""Dask: reading a version as a dask DataFrame, and committing one from a cluster's workers
(two local worker processes on loopback), against the single-process reads and commits."""
from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest

import dsreg
from dsreg.errors import BranchMovedDuringCommit, PartitionChanged
from dsreg.rows.settings import RowSettings
from dsreg.rows.shards import ShardSettings
from helpers.engines import cut, dask_client, dies_when_written, frame_of, rows, same
from helpers.tables import edit_table, make_table

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("dask.distributed")
from dsreg.integrations import dask as dsreg_dask  # noqa: E402

# small shards, so that a few thousand rows make several shards and several read units
SMALL = RowSettings(shards=ShardSettings(target_bytes=16 << 10, min_bytes=4 << 10, max_bytes=64 << 10,
                                         row_group_target_bytes=4 << 10, row_group_min_rows=64))


@pytest.fixture(scope="module")
def client():
    with dask_client() as c:
        yield c


# -- read -------------------------------------------------------------------------------
def test_read_is_load_in_units(client, registry):
    table = make_table(3000)
    registry.commit("r", table, settings=SMALL)
    ddf = dsreg_dask.read("r", registry=registry, target_bytes=8 << 10)
    assert ddf.npartitions > 2
    got = pa.Table.from_pandas(ddf.compute(), preserve_index=False)
    want = dsreg.load("r", registry=registry)
    assert same(got.cast(want.schema.remove_metadata()), want)      # (pandas keeps strings as large ones)


def test_read_columns_and_filter(client, registry):
    registry.commit("r", make_table(3000), settings=SMALL)
    expr = pc.field("count") < 100
    ddf = dsreg_dask.read("r", columns=["id", "label"], filter=expr, registry=registry, target_bytes=8 << 10)
    assert list(ddf.columns) == ["id", "label"]
    got = ddf.compute().reset_index(drop=True)
    want = dsreg.dataset("r", columns=["id", "label"], filter=expr, registry=registry).to_table().to_pandas()
    pd.testing.assert_frame_equal(got, want, check_dtype=False)
    # dask narrows the columns read when a query uses fewer
    assert ddf["id"].sum().compute() == want["id"].sum()


def test_read_from_a_dataset_and_an_empty_version(client, registry):
    registry.commit("e", pa.table({"x": pa.array([], pa.int64())}))
    assert len(dsreg_dask.read("e", registry=registry).compute()) == 0
    registry.commit("r", make_table(500))
    ddf = dsreg_dask.read(registry.dataset("r", columns=["id"]))
    assert ddf.compute()["id"].tolist() == list(range(500))


# -- commit -----------------------------------------------------------------------------
def test_commit_is_a_single_process_commit(client, registry):
    base = rows(4000)
    edited = edit_table(base, "edit", 0.02).table
    df = edited.to_pandas()
    pieces = cut(df, [0, 1000, 1000, 2500, 4000])      # empty partitions first, inside and last
    for name in ("dist", "single"):
        registry.commit(name, base.to_pandas(), settings=SMALL)
    got = dsreg_dask.commit(frame_of(pieces), "dist", message="edit", registry=registry, settings=SMALL)
    want = registry.commit("single", pd.concat(pieces, ignore_index=True), message="edit", settings=SMALL)
    g, w = got.splits["train"], want.splits["train"]
    assert (g.rows, g.new_rows, g.reused_rows) == (w.rows, w.new_rows, w.reused_rows) == (4000, g.new_rows, 4000 - g.new_rows)
    assert 0 < g.new_rows < 200             # the edited rows, not the table
    a, b = dsreg.load("dist", registry=registry), dsreg.load("single", registry=registry)
    assert a.schema.remove_metadata() == b.schema.remove_metadata()
    assert same(a, b)
    assert registry.show("dist").splits["train"].rows == 4000
    assert registry.log("dist")[0].message == "edit"
    assert registry.fsck().ok


def test_commit_first_version_keys_and_append(client, registry):
    df = rows(1500).to_pandas()
    res = dsreg_dask.commit(frame_of(cut(df, [700])), "k", keys=["id"], registry=registry, settings=SMALL)
    assert res.splits["train"].new_rows == 1500
    more = rows(300, seed=5).to_pandas()
    res2 = dsreg_dask.commit(frame_of(cut(more, [100, 100])), "k", append=True, registry=registry, settings=SMALL)
    assert (res2.splits["train"].rows, res2.splits["train"].new_rows) == (1800, 300)
    want = pa.Table.from_pandas(pd.concat([df, more], ignore_index=True), preserve_index=False)
    assert same(dsreg.load("k", registry=registry), want)
    assert registry.diff("k@main~1", "k@main").splits["train"].added == 300


def test_commit_refuses_partitions_of_other_schemas(client, registry):
    a = pd.DataFrame({"x": [1, 2]})
    b = pd.DataFrame({"x": ["a", "b"]})
    with pytest.raises(dsreg.DsregError, match="partition 1 has another schema"):
        dsreg_dask.commit(frame_of([a, b]), "s", registry=registry)
    assert registry.datasets() == []
    res = dsreg_dask.commit(frame_of([a, pd.DataFrame({"x": [3.5]})]), "s", registry=registry,
                            schema=pa.schema([("x", pa.float64())]))
    assert res.splits["train"].rows == 3


def test_a_worker_killed_mid_commit_leaves_nothing(client, registry, tmp_path):
    registry.commit("c", pd.DataFrame({"x": np.arange(50)}))
    head = registry.resolve("c@main")
    part = dies_when_written(str(tmp_path), 100)
    ddf = dd.from_map(part, range(3), meta=pd.DataFrame({"x": np.zeros(0, np.int64)}), enforce_metadata=False)
    with pytest.raises(Exception):  # noqa: B017 - dask's KilledWorker
        dsreg_dask.commit(ddf, "c", registry=registry)
    client.wait_for_workers(2, timeout=60)
    assert registry.resolve("c@main") == head
    check = registry.fsck()
    assert check.ok, check.problems
    # at most the staging folder is left (a task still running when the engine gave up may
    # write into it as it goes): garbage that gc removes, once no commit holds it
    registry.gc(grace_seconds=0)
    assert not list((registry.dir / "tmp").iterdir())
    assert registry.fsck().ok


def test_rows_that_change_between_the_phases_are_refused(client, registry, tmp_path):
    calls = str(tmp_path)

    def part(i: int) -> pd.DataFrame:
        n = len(os.listdir(calls))
        open(os.path.join(calls, f"{i}-{n}"), "w").close()
        return pd.DataFrame({"x": np.arange(10) + n})        # other rows every time
    ddf = dd.from_map(part, range(2), meta=pd.DataFrame({"x": np.zeros(0, np.int64)}), enforce_metadata=False)
    with pytest.raises(PartitionChanged):
        dsreg_dask.commit(ddf, "n", registry=registry)
    assert registry.datasets() == []


def test_racing_commits_one_wins_an_append_is_rebased(client, registry, monkeypatch):
    """Another engine commit (through its own Registry, as another process would) moves
    the branch after ours matched and wrote its rows, just before ours records."""
    from dsreg.versions import distributed
    registry.commit("race", pd.DataFrame({"x": np.arange(10)}))
    other = dsreg.Registry(registry.root)
    mine = frame_of([pd.DataFrame({"x": np.arange(100, 110)}), pd.DataFrame({"x": np.arange(110, 120)})])
    theirs = frame_of([pd.DataFrame({"x": [-1]})])
    record, interlopers = distributed.record_commit, []

    def someone_else_first(reg, plan, built):
        if reg is registry and not interlopers:
            interlopers.append(dsreg_dask.commit(theirs, "race", append=True, registry=other, message="theirs").id)
        return record(reg, plan, built)

    monkeypatch.setattr(distributed, "record_commit", someone_else_first)
    # a replacement cannot be replayed over theirs: refused, and theirs stands
    with pytest.raises(BranchMovedDuringCommit, match="nothing was recorded"):
        dsreg_dask.commit(mine, "race", registry=registry, message="mine")
    assert registry.resolve("race@main") == interlopers[0]
    # an append can: rebased onto their head
    interlopers.clear()
    res = dsreg_dask.commit(mine, "race", append=True, registry=registry, message="mine, appended")
    assert [e.message for e in registry.log("race")[:3]] == ["mine, appended", "theirs", "theirs"]
    assert dsreg.load("race", registry=registry)["x"].to_pylist() == [*range(10), -1, -1, *range(100, 120)]
    assert res.splits["train"].rows == 32 and res.splits["train"].new_rows == 20
    other.close()
    assert registry.fsck().ok


def test_the_branch_checks_hold(client, registry):
    from dsreg.checks.manage import add_check
    from dsreg.errors import CheckFailed
    registry.commit("chk", pd.DataFrame({"x": [1.0, 2.0]}))
    head = registry.resolve("chk@main")
    add_check(registry, "chk", ["not-null", "x"])
    bad = frame_of([pd.DataFrame({"x": [3.0]}), pd.DataFrame({"x": [None]}, dtype="float64")])
    with pytest.raises(CheckFailed, match="not-null"):
        dsreg_dask.commit(bad, "chk", append=True, registry=registry)
    assert registry.resolve("chk@main") == head
    res = dsreg_dask.commit(bad, "chk", append=True, registry=registry, no_verify=True)
    assert res.splits["train"].rows == 4


def test_a_killed_driver_leaves_nothing_visible(registry, tmp_path):
    """The driver (here also its workers: Dask's threads) SIGKILLed while staging the new
    objects: the branch has not moved, fsck passes, and only a staging folder is left."""
    import subprocess
    import sys
    registry.commit("d", pd.DataFrame({"x": np.arange(10)}))
    head = registry.resolve("d@main")
    script = tmp_path / "driver.py"
    script.write_text(
        "import sys, numpy as np, pandas as pd, dask, dask.dataframe as dd, dsreg\n"
        "from dsreg.integrations import dask as dsreg_dask\n"
        "dask.config.set(scheduler='synchronous')\n"
        "ddf = dd.from_pandas(pd.DataFrame({'x': np.arange(1000, 3000)}), npartitions=3)\n"
        "dsreg_dask.commit(ddf, 'd', append=True, registry=dsreg.Registry(sys.argv[1]))\n")
    env = {**os.environ, "DSREG_CRASH_AT": "object.write.temp:2"}
    proc = subprocess.run([sys.executable, str(script), str(registry.root)], env=env, capture_output=True, timeout=300)
    assert proc.returncode == -9, proc.stderr.decode()[-2000:]
    assert registry.resolve("d@main") == head
    check = registry.fsck()
    assert check.ok, check.problems
    assert [p.name.startswith("commit-") for p in (registry.dir / "tmp").iterdir()] == [True]
    registry.gc(grace_seconds=0)            # no lock holds it: gc removes it
    assert not list((registry.dir / "tmp").iterdir())
    assert registry.fsck().ok
