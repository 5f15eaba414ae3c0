"""The array-based pieces of the keyed merge (versions/cellmerge.py, mergeplan.py): exact
key ids, splicing runs, and reading only what a cell merge needs."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from dsreg.errors import DuplicateMergeKey
from dsreg.model.serialize import ShardRef
from dsreg.versions import threeway
from dsreg.versions.cellmerge import key_ids
from dsreg.versions.mergeplan import compose, compose_arrays


@pytest.mark.parametrize("values", [
    [[3, 1, 2], [2, 5], [5, 7, 3]],                              # integers: Arrow's hash table
    [[3.0, 1.0, 2.0], [2.0, 5.0], [5.0, 7.0, 3.0]],              # floats: Python's equality
])
def test_key_ids_number_keys_by_first_appearance(values):
    tables = [pa.table({"k": v}) for v in values]
    ids = key_ids(tables, ("k",))
    assert [i.tolist() for i in ids] == [[0, 1, 2], [2, 3], [3, 4, 0]]


def test_key_ids_of_several_columns_and_nulls():
    a = pa.table({"k": ["x", "x", None], "n": [1, 2, 1]})
    b = pa.table({"k": [None, "x"], "n": [1, 1]})
    ids = key_ids([a, b], ("k", "n"))
    assert [i.tolist() for i in ids] == [[0, 1, 2], [2, 0]]


def test_key_ids_refuse_a_key_twice_in_one_table():
    with pytest.raises(DuplicateMergeKey) as e:
        key_ids([pa.table({"k": [1, 2]}), pa.table({"k": [4, 5, 4, 5]})], ("k",))
    assert e.value.key == {"k": 4}


def test_compose_arrays_joins_adjacent_pieces_and_lists_shards_by_first_read():
    refs = [ShardRef(f"{i:032x}", f"{i + 9:032x}", 100, 1000) for i in range(3)]   # type: ignore[arg-type]
    segments = [(refs[2], 0, 5), (refs[2], 5, 3), (refs[0], 10, 0), (refs[0], 7, 1), (refs[2], 9, 1),
                (refs[1], 0, 2), (refs[1], 2, 2), (refs[2], 10, 4)]
    snap = compose(pa.schema([("a", pa.int64())]), segments)
    assert [r.id for r in snap.shards] == [refs[2].id, refs[0].id, refs[1].id]
    assert snap.run_shard.tolist() == [0, 1, 0, 2, 0]
    assert snap.run_start.tolist() == [0, 7, 9, 0, 10]
    assert snap.run_count.tolist() == [8, 1, 1, 4, 4]
    empty = compose_arrays(pa.schema([("a", pa.int64())]), refs, *(np.zeros(0, np.int64),) * 3)
    assert empty.rows == 0 and not empty.shards


def test_keyed_merge_reads_the_base_only_where_the_sides_differ(registry, monkeypatch):
    """Keys both sides changed are read whole from ours and theirs, and from the base only
    in the columns where ours and theirs differ; no other whole rows are read."""
    n = 40
    base = pa.table({"id": list(range(n)), "a": list(range(n)), "b": [f"b{i}" for i in range(n)],
                     "big": [f"text {i}" * 20 for i in range(n)]})
    registry.commit("ds", base, message="base", keys=["id"])
    registry.branch("ds", "feature")

    def changed(t, rows, col, fn):
        vals = t[col].to_pylist()
        for r in rows:
            vals[r] = fn(vals[r])
        return t.set_column(t.schema.get_field_index(col), col, pa.array(vals, t.schema.field(col).type))

    registry.commit("ds", changed(base, [3, 5, 20], "a", lambda v: v + 100), message="ours")
    registry.commit("ds", changed(base, [5, 30], "b", lambda v: v + "!"), message="theirs", branch="feature")
    reads: list[tuple[int, tuple[str, ...] | None]] = []
    real = threeway.take_rows

    def spy(store, snap, positions, columns=None):
        reads.append((len(positions), None if columns is None else tuple(columns)))
        return real(store, snap, positions, columns)

    monkeypatch.setattr(threeway, "take_rows", spy)
    result = registry.merge("ds@feature")
    whole = [r for r in reads if r[1] is None]
    assert whole == [(1, None), (1, None)]          # row 5 (both changed it), of ours and of theirs
    assert [r for r in reads if r[1] not in (None, ("id",))] == [(1, ("a", "b"))]
    assert result.splits["train"]["modified"] == 2
    got = {r["id"]: r for r in registry.load("ds").to_pylist()}
    assert got[5]["a"] == 105 and got[5]["b"] == "b5!" and got[30]["b"] == "b30!" and got[3]["a"] == 103
    assert got[7] == {"id": 7, "a": 7, "b": "b7", "big": "text 7" * 20}
