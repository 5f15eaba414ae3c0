"""Every Arrow type Parquet can hold round-trips exactly; the others are refused clearly.

For each type: values with nulls and edge cases, field and schema metadata, then
(1) commit -> load gives the same values, bit for bit, and the same schema;
(2) committing it again is `unchanged`;
(3) a longer table of such values, edited at scattered rows, reuses the untouched rows
    and still loads exactly (this reads through many runs, the `take` path).
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from dsreg.errors import BadInput, UnsupportedType
from dsreg.rows.equality import tables_equal
from helpers.typecases import BITS64, CASES, D, _table, _without_pins, assert_exact, same_type  # noqa: E402,F401


@pytest.mark.parametrize("name", sorted(CASES))
def test_type_roundtrips(registry, name):
    want = _table(CASES[name])
    r1 = registry.commit("ds", {"train": want}, message="one")
    assert_exact(registry.load("ds"), want)
    assert registry.load("ds", columns=["v"]).column(0).type == want.schema.field("v").type
    # again: nothing new, the same commit
    r2 = registry.commit("ds", {"train": want}, message="again")
    assert r2.unchanged and r2.id == r1.id
    # an empty table of the type keeps its schema
    registry.commit("empty", {"train": want.slice(0, 0)}, message="empty")
    assert_exact(registry.load("empty"), want.slice(0, 0))


@pytest.mark.parametrize("name", sorted(CASES))
def test_type_rows_are_reused_and_scattered_edits_load_exactly(registry, name):
    arr = CASES[name]
    n = 400
    longer = _table(pa.concat_arrays([arr] * (n // len(arr) + 1)).slice(0, n))
    longer = longer.set_column(0, longer.schema.field("id"), pa.array(np.arange(n, dtype=np.int64)))
    registry.commit("ds", {"train": longer}, message="base")
    # every 5th row gets a new id: scattered edits, ~160 runs
    ids = np.arange(n, dtype=np.int64)
    ids[::5] += 10_000
    edited = longer.set_column(0, longer.schema.field("id"), pa.array(ids))
    r = registry.commit("ds", {"train": edited}, message="edit")
    assert r.splits["train"].new_rows == n // 5
    assert r.splits["train"].reused_rows == n - n // 5
    assert_exact(registry.load("ds"), edited)
    assert_exact(registry.load("ds@main~1"), longer)


def test_non_nullable_fields_roundtrip(registry):
    arr = pa.array([1, 2, 3], pa.int32())
    want = _table(arr, nullable=False)
    registry.commit("ds", {"train": want}, message="m")
    got = registry.load("ds")
    assert not got.schema.field("v").nullable and not got.schema.field("id").nullable
    assert_exact(got, want)


def test_non_nullable_field_holding_nulls_is_refused(registry):
    bad = pa.Table.from_arrays([pa.array([1, None])], schema=pa.schema([pa.field("a", pa.int64(), nullable=False)]))
    with pytest.raises(BadInput, match="non-nullable"):
        registry.commit("ds", {"train": bad}, message="m")
    assert registry.datasets() == []


def test_floats_roundtrip_bit_for_bit(registry):
    bits = np.concatenate([BITS64, np.random.default_rng(0).integers(0, 2**63, 1000, dtype=np.uint64)])
    t = pa.table({"f": pa.array(bits.view(np.float64))})
    registry.commit("ds", t, message="m")
    got = registry.load("ds").column("f").combine_chunks()
    got_bits = np.frombuffer(got.buffers()[1], dtype=np.uint64)[got.offset:got.offset + len(got)]
    assert (got_bits == bits).all()


def test_dictionary_logical_values_and_type_survive_a_rewrite(registry):
    d1 = pa.DictionaryArray.from_arrays(pa.array([1, 1, 0], pa.int8()), pa.array(["b", "a"]))
    d2 = pa.DictionaryArray.from_arrays(pa.array([0, 0, 1], pa.int8()), pa.array(["a", "b"]))
    t1 = pa.table({"d": d1})
    t2 = pa.table({"d": d2})
    registry.commit("ds", t1, message="m")
    # same logical values, different physical dictionary: nothing new is stored
    r = registry.commit("ds", t2, message="m2")
    assert r.splits["train"].new_rows == 0
    got = registry.load("ds")
    assert got.schema.field("d").type == pa.dictionary(pa.int8(), pa.string())
    assert got.column("d").to_pylist() == ["a", "a", "b"]


# -- what cannot be stored ------------------------------------------------------------
UNSUPPORTED = {
    "sparse_union": pa.UnionArray.from_sparse(pa.array([0, 1], pa.int8()), [pa.array([1, 2]), pa.array(["a", "b"])]),
    "dense_union": pa.UnionArray.from_dense(pa.array([0, 1], pa.int8()), pa.array([0, 0], pa.int32()),
                                            [pa.array([1]), pa.array(["a"])]),
    "month_day_nano_interval": pa.array([pa.MonthDayNano([1, 2, 3]), None], pa.month_day_nano_interval()),
    "empty_struct": pa.array([{}, None], pa.struct([])),
    "list_of_empty_struct": pa.array([[{}], None], pa.list_(pa.struct([]))),
    "struct_of_union": pa.StructArray.from_arrays(
        [pa.UnionArray.from_sparse(pa.array([0], pa.int8()), [pa.array([1])])], names=["u"]),
    "decimal_negative_scale": pa.array([D("1E+3"), None], pa.decimal128(5, -3)),
    "list_view": pa.array([[1], None, []], pa.list_view(pa.int32())),
    "large_list_view": pa.array([["a"], None], pa.large_list_view(pa.string())),
    # committed fine once, then unreadable: Parquet cannot write dictionaries of views, and
    # pyarrow reads fixed-size lists of size 0 (or of nulls) back broken
    "dictionary_of_string_view": pa.array(["a", "b", None]).cast(pa.string_view()).dictionary_encode(),
    "dictionary_of_binary_view": pa.array([b"a", None]).cast(pa.binary_view()).dictionary_encode(),
    "list_of_dictionary_of_string_view": pa.ListArray.from_arrays(
        pa.array([0, 1, 1], pa.int32()), pa.array(["a"]).cast(pa.string_view()).dictionary_encode(),
        mask=pa.array([False, True])),
    "fixed_size_list_of_size_0": pa.array([[], [], None], pa.list_(pa.int32(), 0)),
    "fixed_size_list_of_size_0_of_string": pa.array([[], None], pa.list_(pa.string(), 0)),
    "struct_of_fixed_size_list_of_size_0": pa.array([{"a": []}, None], pa.struct([("a", pa.list_(pa.int8(), 0))])),
    "fixed_size_list_of_null": pa.array([[None, None], None], pa.list_(pa.null(), 2)),
    "fixed_size_binary_of_width_0": pa.array([b"", None], pa.binary(0)),
    # refused before, but without naming the column
    "dictionary_of_list": pa.DictionaryArray.from_arrays(pa.array([0, None]), pa.array([[1]], pa.list_(pa.int8()))),
    "dictionary_of_struct": pa.DictionaryArray.from_arrays(pa.array([0, None]), pa.array([{"a": 1}])),
    "dictionary_of_null": pa.DictionaryArray.from_arrays(pa.array([0, None]), pa.array([None], pa.null())),
    "run_end_encoded": pa.RunEndEncodedArray.from_arrays(pa.array([2, 3], pa.int32()), pa.array([1, 2])),
    "extension_uuid": pa.array([b"0" * 16, None], pa.binary(16)).cast(pa.uuid()),
    "extension_json": pa.array(['{"a": 1}', None]).cast(pa.json_()),
    # found by tests/test_ingest_fuzz.py: a null struct in a list, read back from Parquet,
    # comes with a null-typed child too short for it
    "list_of_struct_with_null_field": pa.array([[None, {"x": None}]], pa.list_(pa.struct([("x", pa.null())]))),
    "map_of_struct_with_null_field": pa.array([[("a", None), ("b", {"x": None})]],
                                              pa.map_(pa.string(), pa.struct([("x", pa.null())]))),
}


@pytest.mark.parametrize("name", sorted(UNSUPPORTED))
def test_unsupported_types_are_refused_and_change_nothing(registry, name):
    ok = pa.table({"a": [1, 2]})
    first = registry.commit("ds", {"train": ok}, message="m").id
    bad = pa.table({"a": pa.array([1, 2] * (len(UNSUPPORTED[name]) // 2 + 1))[:len(UNSUPPORTED[name])],
                    "u": UNSUPPORTED[name]})
    with pytest.raises(UnsupportedType) as e:
        registry.commit("ds", {"train": bad}, message="bad")
    assert isinstance(e.value, BadInput)
    assert "column u" in str(e.value)
    with pytest.raises(UnsupportedType):
        registry.commit("fresh", {"train": bad}, message="bad")
    assert registry.resolve("ds") == first
    assert [d.name for d in registry.datasets()] == ["ds"]
    assert tables_equal(registry.load("ds"), ok)


def test_date64_that_is_not_whole_days_is_refused_not_truncated(registry):
    bad = pa.table({"d": pa.array([86_400_000, 1], pa.date64())})
    with pytest.raises(BadInput, match="whole days"):
        registry.commit("ds", {"train": bad}, message="m")
    assert registry.datasets() == []
    nested = pa.table({"d": pa.array([[86_400_000], [5]], pa.list_(pa.date64()))})
    with pytest.raises(BadInput, match="whole days"):
        registry.commit("ds", {"train": nested}, message="m")
    # a slice that leaves the bad value out is fine
    registry.commit("ds", {"train": nested.slice(0, 1)}, message="m")
    assert tables_equal(registry.load("ds"), nested.slice(0, 1))


def test_nested_field_names_do_not_change_shards_but_are_kept(registry, tmp_path):
    """pyarrow's Parquet reader names list items `element`, a Table built in memory `item`:
    the same rows must make the same shards, and each version keep its own names."""
    import pyarrow.parquet as pq

    from dsreg.model.objects import get_commit, get_snapshot
    t = pa.table({"emb": pa.array([[float(i), 1.0] for i in range(2000)], pa.list_(pa.float32(), 2)),
                  "tags": pa.array([["a"] * (i % 3) for i in range(2000)], pa.list_(pa.string()))})
    pq.write_table(t, tmp_path / "t.parquet")
    from_file = pq.read_table(tmp_path / "t.parquet")
    assert "element" in str(from_file.schema.field("emb").type)
    registry.commit("mem", t, message="m")
    registry.commit("file", tmp_path / "t.parquet", message="m")

    def shards(name):
        return [s.id for s in get_snapshot(registry, get_commit(registry, registry.resolve(name)).splits["train"]).shards]
    assert shards("mem") == shards("file")
    assert_exact(registry.load("mem"), t)
    assert_exact(registry.load("file"), from_file)


def test_map_field_names_come_back_canonical(registry):
    """Arrow's IPC schema encoding (which snapshots use, as do Arrow files) does not keep
    a map's own key/item field names: values, types and nullability round-trip, the
    names come back as `key`/`value`."""
    t = pa.map_(pa.field("k", pa.string(), nullable=False), pa.field("v", pa.int32(), nullable=False))
    table = pa.table({"m": pa.array([[("a", 1)], None, []], t)})
    registry.commit("ds", table, message="m")
    got = registry.load("ds")
    assert tables_equal(got, table)
    want = pa.map_(pa.field("key", pa.string(), nullable=False), pa.field("value", pa.int32(), nullable=False))
    assert same_type(got.schema.field("m").type, want) and same_type(got.column("m").type, want)
