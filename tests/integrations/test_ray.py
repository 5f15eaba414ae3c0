"""Ray Data: reading a version as a ray Dataset, and committing one from Ray's workers
(a local Ray on loopback with 2 CPUs, started once), against the single-process reads and
commits."""
from __future__ import annotations

import os

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

import dsreg
from dsreg.errors import BranchMovedDuringCommit
from dsreg.rows.settings import RowSettings
from dsreg.rows.shards import ShardSettings
from helpers.engines import same, worker_killing_engine
from helpers.tables import edit_table, make_table

ray = pytest.importorskip("ray")
from dsreg.integrations import ray as dsreg_ray  # noqa: E402

SMALL = RowSettings(shards=ShardSettings(target_bytes=16 << 10, min_bytes=4 << 10, max_bytes=64 << 10,
                                         row_group_target_bytes=4 << 10, row_group_min_rows=64))


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False,
             configure_logging=False, runtime_env={"env_vars": {"PYTHONPATH": os.environ.get("PYTHONPATH", "")}})
    from ray.data import DataContext
    context = DataContext.get_current()
    context.enable_progress_bars = False
    # the reads are compared row for row with the split: Ray yields blocks in the order
    # their tasks finish unless told to keep it
    context.execution_options.preserve_order = True
    yield
    ray.shutdown()


def gathered(ds) -> pa.Table:
    return pa.concat_tables([ray.get(r) for r in ds.to_arrow_refs()])


def test_read_is_load_in_units(registry):
    registry.commit("r", make_table(3000), settings=SMALL)
    ds = dsreg_ray.read("r", registry=registry, target_bytes=8 << 10)
    assert ds.materialize().num_blocks() > 2
    want = dsreg.load("r", registry=registry)
    assert same(gathered(ds).combine_chunks(), want.combine_chunks())
    assert ds.count() == 3000


def test_read_columns_and_filter(registry):
    registry.commit("r", make_table(3000), settings=SMALL)
    expr = pc.field("count") < 100
    ds = dsreg_ray.read("r", columns=["id", "label"], filter=expr, registry=registry, target_bytes=8 << 10)
    want = dsreg.dataset("r", columns=["id", "label"], filter=expr, registry=registry).to_table()
    got = gathered(ds)
    assert got.column_names == ["id", "label"]
    assert same(got.combine_chunks(), want.combine_chunks())


def test_ray_pushes_a_column_selection_into_the_read(registry):
    registry.commit("r", make_table(2000), settings=SMALL)
    ds = dsreg_ray.read("r", registry=registry, target_bytes=8 << 10)
    got = gathered(ds.select_columns(["score", "id"]))
    want = dsreg.load("r", columns=["score", "id"], registry=registry)
    assert same(got.combine_chunks(), want.combine_chunks())
    source_class, _ = dsreg_ray._classes()
    source = source_class(dsreg.dataset("r", registry=registry), 8 << 10).apply_projection({"score": "score"})
    assert all(task.schema.names == ["score"] for task in source.get_read_tasks(4))


def test_commit_is_a_single_process_commit(registry):
    base = make_table(4000)
    edited = edit_table(base, "edit", 0.02).table
    pieces = [edited.slice(0, 0), edited.slice(0, 1000), edited.slice(1000, 0), edited.slice(1000, 1500),
              edited.slice(2500), edited.slice(0, 0)]
    for name in ("dist", "single"):
        registry.commit(name, base, settings=SMALL)
    got = dsreg_ray.commit(ray.data.from_arrow(pieces), "dist", message="edit", registry=registry, settings=SMALL)
    want = registry.commit("single", pa.concat_tables(pieces), message="edit", settings=SMALL)
    g, w = got.splits["train"], want.splits["train"]
    assert (g.rows, g.new_rows, g.reused_rows) == (w.rows, w.new_rows, w.reused_rows)
    assert g.rows == 4000 and 0 < g.new_rows < 200
    a, b = dsreg.load("dist", registry=registry), dsreg.load("single", registry=registry)
    assert a.schema == b.schema
    assert same(a, b)
    assert registry.fsck().ok


def test_commit_a_computed_dataset_with_keys(registry):
    ds = ray.data.range(2000, override_num_blocks=4).map_batches(
        lambda b: {"id": b["id"], "sq": b["id"] * b["id"]}, batch_format="numpy")
    res = dsreg_ray.commit(ds, "sq", keys=["id"], registry=registry, settings=SMALL)
    assert res.splits["train"].rows == 2000
    t = dsreg.load("sq", registry=registry)
    assert t["id"].to_pylist() == list(range(2000))
    assert t["sq"].to_pylist() == [i * i for i in range(2000)]
    # the same rows again: nothing new, the branch stays
    again = dsreg_ray.commit(ds, "sq", keys=["id"], registry=registry, settings=SMALL)
    assert again.unchanged and again.splits["train"].new_rows == 0


def test_a_worker_killed_mid_commit_leaves_nothing(registry, tmp_path):
    """The write phase's worker dies (the fingerprint phase ran on a materialized copy)."""
    registry.commit("c", pa.table({"x": np.arange(50)}))
    head = registry.resolve("c@main")
    ds = ray.data.from_arrow([pa.table({"x": np.arange(i * 100, i * 100 + 100)}) for i in range(3)])
    engine = worker_killing_engine(dsreg_ray, ds, tmp_path / "armed")
    from dsreg.integrations.engines import commit_engine
    with pytest.raises(ray.exceptions.RayError) as died:
        commit_engine(engine, "c", registry=registry, remote=None, origin="<test>")
    assert "crash" in str(died.value).lower() or "died" in str(died.value).lower(), died.value
    assert registry.resolve("c@main") == head
    check = registry.fsck()
    assert check.ok, check.problems
    # at most the staging folder is left (a task still running when the engine gave up may
    # write into it as it goes): garbage that gc removes, once no commit holds it
    registry.gc(grace_seconds=0)
    assert not list((registry.dir / "tmp").iterdir())
    assert registry.fsck().ok


def test_racing_commits_one_wins_an_append_is_rebased(registry, monkeypatch):
    from dsreg.versions import distributed
    registry.commit("race", pa.table({"x": np.arange(10)}))
    other = dsreg.Registry(registry.root)
    mine = ray.data.from_arrow([pa.table({"x": np.arange(100, 110)}), pa.table({"x": np.arange(110, 120)})])
    theirs = ray.data.from_arrow([pa.table({"x": np.array([-1])})])
    record, interlopers = distributed.record_commit, []

    def someone_else_first(reg, plan, built):
        if reg is registry and not interlopers:
            interlopers.append(dsreg_ray.commit(theirs, "race", append=True, registry=other, message="theirs").id)
        return record(reg, plan, built)

    monkeypatch.setattr(distributed, "record_commit", someone_else_first)
    with pytest.raises(BranchMovedDuringCommit):
        dsreg_ray.commit(mine, "race", registry=registry, message="mine")
    assert registry.resolve("race@main") == interlopers[0]
    interlopers.clear()
    dsreg_ray.commit(mine, "race", append=True, registry=registry, message="mine, appended")
    assert dsreg.load("race", registry=registry)["x"].to_pylist() == [*range(10), -1, -1, *range(100, 120)]
    other.close()
    assert registry.fsck().ok
