"""The pieces a commit's pipeline is made of give what the plain versions give: a base
index built in a thread from fingerprints read first, lookups made ahead of matching, base
shards decoded row group by row group, and rows compared in comparison form."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from dsreg.model.objects import get_commit, get_snapshot
from dsreg.rows.arrowtypes import storage_schema
from dsreg.rows.equality import canonical_table, tables_equal
from dsreg.rows.fingerprint import row_fingerprints
from dsreg.rows.pipeline import background
from dsreg.rows.settings import RowSettings, ShardSettings
from dsreg.rows.shards import ShardReader, write_shard
from dsreg.rows.snapshots import BaseIndex, read_fingerprints
from dsreg.store import MemoryStore
from helpers.tables import edit_table, make_table

SMALL = RowSettings(shards=ShardSettings(target_bytes=64 << 10, min_bytes=16 << 10, max_bytes=256 << 10,
                                         row_group_target_bytes=8 << 10, row_group_min_rows=64))


def snapshot_of(reg, spec: str):
    return get_snapshot(reg, get_commit(reg, reg.resolve(spec)).splits["train"])


@pytest.fixture
def fragmented(registry):
    """A version of scattered edits over another (many runs), and the table it holds."""
    base = make_table(6_000, seed=3)
    registry.commit("ds", base, settings=SMALL)
    edited = edit_table(base, "edit", 0.03, seed=4).table
    registry.commit("ds", edited, settings=SMALL)
    snap = snapshot_of(registry, "ds")
    assert snap.num_runs > 50
    return snap, edited


def reference_index(reader: ShardReader, snapshots) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What the index holds, built run by run as the simplest code would."""
    fps, shard_of, row_of, ids = [], [], [], {}
    for snap in snapshots:
        for ref, start, count in snap.runs():
            si = ids.setdefault(ref.id, len(ids))
            fps.append(reader.fingerprints(ref, snap.schema)[start:start + count])
            shard_of.append(np.full(count, si))
            row_of.append(np.arange(start, start + count))
    return np.concatenate(fps), np.concatenate(shard_of), np.concatenate(row_of)


def test_the_index_of_a_fragmented_version_holds_each_row_where_it_is(registry, fragmented):
    snap, edited = fragmented
    first = snapshot_of(registry, "ds@main~1")
    reader = ShardReader(registry.store)
    for snapshots in ([snap], [snap, first], [first, snap]):
        index = BaseIndex(reader, snapshots)
        fps, shard_of, row_of = reference_index(reader, snapshots)
        assert index.fps.tolist() == fps.tolist()
        assert index.shard_of.tolist() == shard_of.tolist() and index.row_of.tolist() == row_of.tolist()
        assert index.order.tolist() == np.argsort(fps, kind="stable").tolist()
    # the version's own rows are found where the version has them
    index = BaseIndex(reader, [snap])
    mine = row_fingerprints(edited.cast(storage_schema(edited.schema)))
    assert (index.match(mine, -1) == np.arange(edited.num_rows)).all()


def test_an_index_built_in_a_thread_from_fingerprints_read_first_is_the_same(registry, fragmented):
    snap, _ = fragmented
    reader = ShardReader(registry.store)
    read = read_fingerprints(reader, [snap])
    threaded = background(BaseIndex, ShardReader(registry.store), [snap], read).result()
    plain = BaseIndex(ShardReader(registry.store), [snap])
    assert threaded.fps.tolist() == plain.fps.tolist() and threaded.order.tolist() == plain.order.tolist()


def test_a_lookup_made_ahead_resolves_to_what_match_gives(registry):
    # duplicate rows: the base holds some fingerprints several times, and which copy a row
    # takes depends on the previous row's match (resolve), not on the lookup alone
    rows = make_table(400, seed=9)
    table = pa.concat_tables([rows, rows.slice(0, 100), rows, rows.slice(50, 30)])
    registry.commit("ds", table, settings=SMALL)
    index = BaseIndex(ShardReader(registry.store), [snapshot_of(registry, "ds")])
    new = pa.concat_tables([rows.slice(100, 200), rows, rows.slice(0, 100)])
    fps = row_fingerprints(new.cast(storage_schema(new.schema)))
    for previous in (-1, 0, 99, 450):
        looked_up = index.lookup(fps)
        assert looked_up.several.any()
        assert index.resolve(fps, looked_up, previous).tolist() == index.match(fps, previous).tolist()
    assert index.lookup(fps).pos.tolist() == index.lookup(fps).pos.tolist()     # resolve left it alone


def test_a_failing_background_task_raises_where_its_result_is_asked_for():
    def fail():
        raise ValueError("no index")
    with pytest.raises(ValueError, match="no index"):
        background(fail).result()


def test_shards_decoded_by_row_group_hold_the_same_rows():
    store = MemoryStore()
    table = make_table(5_000, seed=5)
    settings = ShardSettings(row_group_target_bytes=16 << 10, row_group_min_rows=64)
    ref, _, _ = write_shard(store, table, row_fingerprints(table), settings)
    whole = ShardReader(store).table(ref.id)
    by_group = ShardReader(store, by_row_group=True)
    chunked = by_group.table(ref.id)
    assert chunked.column(0).num_chunks > 1          # one chunk per row group
    assert chunked.equals(whole) and tables_equal(chunked, table)
    cols = ShardReader(store, columns=[table.column_names[1]], by_row_group=True).table(ref.id)
    assert cols.column_names == [table.column_names[1]] and cols.column(0).equals(whole.column(1))


def test_rows_compare_alike_in_comparison_form():
    table = pa.table({"x": pa.array([0.0, -0.0, float("nan"), 1.5]), "s": ["a", "b", None, "d"],
                      "d": pa.array(["u", "v", "u", "w"]).dictionary_encode(),
                      "l": pa.array([[1.0], [], None, [float("nan")]], pa.list_(pa.float32()))})
    canon = canonical_table(table)
    assert canon.num_rows == table.num_rows and not canon.schema.equals(table.schema)
    assert tables_equal(canon, canonical_table(table))
    assert tables_equal(canon.slice(1, 2), canonical_table(table.slice(1, 2)))
    assert not tables_equal(canon, table)      # both sides in one form, or they differ
    other = table.set_column(0, "x", pa.array([-0.0, -0.0, float("nan"), 1.5]))    # only the sign of a zero
    assert not tables_equal(canonical_table(other), canon)
    plain = pa.table({"n": [1, 2, 3]})
    assert canonical_table(plain) is plain
