"""Row fingerprints hash logical values: layout (slices, chunks, dictionaries, bytes under
nulls) never changes a fingerprint, while every value difference `rows_equal` sees
(NaN payloads, the sign of zero, list boundaries) does."""
from __future__ import annotations

import datetime
import decimal

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dsreg.rows.fingerprint import hash_array, row_fingerprints

F64 = lambda *bits: pa.array(np.array(bits, dtype=np.uint64).view(np.float64))  # noqa: E731
NAN, NAN1, NEG_NAN, NEG_ZERO, ZERO = 0x7FF8000000000000, 0x7FF8000000000001, 0xFFF8000000000000, 1 << 63, 0

SAMPLES = {
    "int64": pa.array([1, None, -5, 2**62, 0, 7]),
    "uint8": pa.array([1, None, 255, 0, 3, 3], pa.uint8()),
    "float64": F64(NAN, NEG_ZERO, ZERO, NAN1, 0x3FF0000000000000, NEG_NAN),
    "float32": pa.array(np.array([0.0, -0.0, np.nan, 1.5, np.inf, 2.0], dtype=np.float32)),
    "float16": pa.array(np.array([0.0, -0.0, np.nan, 1.5, np.inf, 2.0], dtype=np.float16)),
    "bool": pa.array([True, None, False, True, True, False]),
    "string": pa.array(["", None, "abc", "a" * 37, "é", "x"]),
    "large_binary": pa.array([b"", None, b"\x00", b"\x00\x00", b"z" * 9, b"q"], pa.large_binary()),
    "fixed_size_binary": pa.array([b"ab", None, b"\x00\x00", b"ba", b"ab", b"zz"], pa.binary(2)),
    "decimal128": pa.array([1, None, -1, 10**20, 0, 5], pa.decimal128(30, 0)),
    "date32": pa.array([0, None, 1, -1, 2, 3], pa.date32()),
    "timestamp": pa.array([0, None, 1, -1, 2, 3], pa.timestamp("ns", "UTC")),
    "list": pa.array([[1, 2], None, [], [None], [3], [1, 2]], pa.list_(pa.int64())),
    "large_list_of_string": pa.array([["a"], None, [], ["a", "b"], ["ab"], [""]], pa.large_list(pa.string())),
    "fixed_size_list": pa.array([[1, 2], None, [3, None], [0, 0], [2, 1], [1, 2]], pa.list_(pa.int16(), 2)),
    "struct": pa.array([{"a": 1, "b": "x"}, None, {"a": None, "b": "y"}, {"a": 2, "b": None}, {"a": 1, "b": "x"},
                        {"a": 3, "b": ""}], pa.struct([("a", pa.int32()), ("b", pa.string())])),
    "map": pa.array([[("a", 1)], None, [], [("a", 1), ("b", 2)], [("b", 2)], [("a", None)]],
                    pa.map_(pa.string(), pa.int64())),
    "dictionary": pa.array(["a", None, "b", "a", "c", "b"], pa.dictionary(pa.int8(), pa.string())),
    "null": pa.array([None] * 6, pa.null()),
    "list_of_struct": pa.array([[{"x": 1.5}], None, [], [{"x": None}], [None], [{"x": -0.0}]],
                               pa.list_(pa.struct([("x", pa.float64())]))),
}


def compact_copy(arr: pa.Array) -> pa.Array:
    """The same values in fresh buffers at offset 0."""
    copy = arr.take(pa.array(np.arange(len(arr), dtype=np.int64)))
    assert copy.offset == 0
    return copy


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_sliced_arrays_hash_like_unsliced_copies(name):
    arr = SAMPLES[name]
    full = hash_array(arr)
    for start in range(len(arr)):
        for length in range(len(arr) - start + 1):
            part = arr.slice(start, length)
            assert (hash_array(part) == full[start:start + length]).all()
            assert (hash_array(compact_copy(part)) == full[start:start + length]).all()


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_chunking_does_not_matter(name):
    arr = SAMPLES[name]
    whole = hash_array(arr)
    for cut in range(len(arr) + 1):
        chunked = pa.chunked_array([arr.slice(0, cut), arr.slice(cut)], type=arr.type)
        assert (hash_array(chunked) == whole).all()
    table = pa.table({"v": arr, "i": pa.array(range(len(arr)))})
    rechunked = pa.Table.from_batches(table.to_batches(max_chunksize=1))
    assert (row_fingerprints(table) == row_fingerprints(rechunked)).all()
    assert (row_fingerprints(table) == row_fingerprints(table.combine_chunks())).all()
    assert (row_fingerprints(table.to_batches()[0]) == row_fingerprints(table)).all()


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_equal_values_hash_equal_and_different_values_differ(name):
    arr = SAMPLES[name]
    h = hash_array(arr)
    values = arr.to_pylist() if name not in ("float64", "float32", "float16", "list_of_struct") else None
    if values is not None:
        for i in range(len(arr)):
            for j in range(len(arr)):
                assert (h[i] == h[j]) == (values[i] == values[j]), (i, j, values[i], values[j])


def test_nan_and_signed_zeros_are_told_apart():
    h = hash_array(F64(NAN, NAN1, NEG_NAN, NEG_ZERO, ZERO, NAN))
    assert len(set(h[:5].tolist())) == 5
    assert h[0] == h[5]
    for t in (pa.float32(), pa.float16()):
        a = pa.array(np.array([0.0, -0.0, np.nan], dtype=t.to_pandas_dtype()))
        assert len(set(hash_array(a).tolist())) == 3
    # also inside lists, structs and dictionaries
    nested = pa.array([[0.0], [-0.0]], pa.list_(pa.float64()))
    assert hash_array(nested)[0] != hash_array(nested)[1]
    s = pa.StructArray.from_arrays([F64(ZERO, NEG_ZERO)], names=["x"])
    assert hash_array(s)[0] != hash_array(s)[1]
    d = F64(NAN, NAN1).dictionary_encode()
    assert len(d.dictionary) == 2 and hash_array(d)[0] != hash_array(d)[1]


def test_nulls_hash_alike_whatever_is_under_them():
    mask = pa.array([False, True, False])
    cases = [
        (pa.array([1, None, 3]), pa.array([1, 99, 3])),
        (pa.array([1.0, None, 3.0]), pa.array([1.0, float("nan"), 3.0])),
        (pa.array([True, None, False]), pa.array([True, True, False])),
        (pa.array(["a", None, "c"]), pa.array(["a", "garbage", "c"])),
        (pa.array([b"a", None, b"c"], pa.large_binary()), pa.array([b"a", b"\x00" * 50, b"c"], pa.large_binary())),
        (pa.array([b"ab", None, b"cd"], pa.binary(2)), pa.array([b"ab", b"zz", b"cd"], pa.binary(2))),
        (pa.array([1, None, 3], pa.decimal128(5, 0)), pa.array([1, 4, 3], pa.decimal128(5, 0))),
    ]
    for clean, dirty_values in cases:
        dirty = pa.Array.from_buffers(clean.type, 3, [clean.buffers()[0], *dirty_values.buffers()[1:]])
        dirty.validate(full=True)
        assert dirty.to_pylist() == clean.to_pylist()
        assert (hash_array(dirty) == hash_array(clean)).all(), clean.type
    # a null list slot that still spans child values
    lst = pa.ListArray.from_arrays(pa.array([0, 1, 3, 4]), pa.array([1, 7, 8, 2]), mask=mask)
    clean = pa.array([[1], None, [2]], pa.list_(pa.int64()))
    assert (hash_array(lst) == hash_array(clean)).all()
    # a null struct slot over different child values
    s1 = pa.StructArray.from_arrays([pa.array([1, 2, 3])], names=["a"], mask=mask)
    s2 = pa.StructArray.from_arrays([pa.array([1, 9, 3])], names=["a"], mask=mask)
    assert (hash_array(s1) == hash_array(s2)).all()
    # a null dictionary slot whose index points anywhere
    validity = pa.array([1, None, 3]).buffers()[0]
    d1 = pa.DictionaryArray.from_arrays(pa.Array.from_buffers(pa.int8(), 3, [validity, pa.py_buffer(b"\0\1\1")]),
                                        pa.array(["a", "b"]))
    d2 = pa.DictionaryArray.from_arrays(pa.Array.from_buffers(pa.int8(), 3, [validity, pa.py_buffer(b"\0\0\1")]),
                                        pa.array(["a", "b"]))
    assert d1.to_pylist() == d2.to_pylist() == ["a", None, "b"]
    assert (hash_array(d1) == hash_array(d2)).all()
    # but a null is not any value
    for a, b in [([None], [0]), ([None], [""]), ([None], [[]])]:
        assert hash_array(pa.array(a, pa.array(b).type))[0] != hash_array(pa.array(b))[0]


def test_dictionary_hashes_like_decoded():
    decoded = pa.array(["x", None, "y", "x", "", "zz"])
    for index in (pa.int8(), pa.uint16(), pa.int32(), pa.int64()):
        d = decoded.dictionary_encode().cast(pa.dictionary(index, pa.string()))
        assert (hash_array(d) == hash_array(decoded)).all()
    # a physical dictionary with unused and repeated entries, sliced
    messy = pa.DictionaryArray.from_arrays(pa.array([4, None, 2, 4, 0, 3], pa.int32()),
                                           pa.array(["", "unused", "y", "zz", "x"]))
    assert (hash_array(messy) == hash_array(decoded)).all()
    assert (hash_array(messy.slice(2, 3)) == hash_array(decoded.slice(2, 3))).all()
    ints = pa.array([5, None, 5, 6])
    assert (hash_array(ints.dictionary_encode()) == hash_array(ints)).all()
    nested = pa.array([["a", "b"], None, []], pa.list_(pa.dictionary(pa.int8(), pa.string())))
    assert (hash_array(nested) == hash_array(pa.array([["a", "b"], None, []], pa.list_(pa.string())))).all()


def test_views_hash_like_their_offset_forms():
    strings = ["", None, "short", "a string longer than twelve bytes"]
    sv = pa.array(strings, pa.string_view())
    assert (hash_array(sv) == hash_array(pa.array(strings, pa.large_string()))).all()
    assert (hash_array(sv) == hash_array(pa.array(strings, pa.string()))).all()
    bv = pa.array([b"", None, b"\x00" * 20], pa.binary_view())
    assert (hash_array(bv) == hash_array(pa.array([b"", None, b"\x00" * 20], pa.binary()))).all()
    # list views: out-of-order, overlapping and empty views, nulls, slices
    lv = pa.ListViewArray.from_arrays(pa.array([2, 0, 0, 1, 3]), pa.array([1, 3, 0, 2, 0]), pa.array([1, 2, 3]),
                                      mask=pa.array([False, False, True, False, False]))
    as_list = pa.array(lv.to_pylist(), pa.list_(pa.int64()))
    assert (hash_array(lv) == hash_array(as_list)).all()
    assert (hash_array(lv.slice(1, 3)) == hash_array(as_list.slice(1, 3))).all()


def test_structure_is_part_of_the_value():
    lists = pa.array([[1, 2], [3], [1], [2, 3]], pa.list_(pa.int64()))
    h = hash_array(lists)
    assert h[0] != h[2] and h[1] != h[3]
    # values swapped between columns make a different row
    t1 = pa.table({"a": [1, 2], "b": [2, 1]})
    fp = row_fingerprints(t1)
    assert fp[0] != fp[1]
    # struct fields by position
    s = pa.array([{"a": 1, "b": 2}, {"a": 2, "b": 1}], pa.struct([("a", pa.int8()), ("b", pa.int8())]))
    assert hash_array(s)[0] != hash_array(s)[1]


def test_equal_rows_have_equal_fingerprints_across_tables():
    rng = np.random.default_rng(0)
    n = 2000
    t1 = pa.table({"k": pa.array(rng.integers(0, 50, n)), "s": pa.array([f"w{i % 37}" for i in range(n)]),
                   "f": pa.array(rng.choice([0.0, -0.0, np.nan, 1.0], n)),
                   "l": pa.array([[i % 3] * (i % 4) for i in range(n)], pa.list_(pa.int64()))})
    perm = rng.permutation(n)
    t2 = pa.concat_tables([t1.slice(n // 2), t1.slice(0, n // 2)]).take(pa.array(perm))
    f1, f2 = row_fingerprints(t1), row_fingerprints(t2)
    src = np.concatenate([np.arange(n // 2, n), np.arange(n // 2)])[perm]
    assert (f2 == f1[src]).all()
    # and fingerprints separate distinct rows: no collision among the distinct rows here
    distinct_rows = {tuple(map(repr, r.values())) for r in t1.to_pylist()}
    assert len(set(f1.tolist())) == len(distinct_rows)


@settings(max_examples=60, deadline=None)
@given(values=st.lists(st.one_of(st.none(), st.integers(-2**63, 2**63 - 1)), min_size=1, max_size=40),
       strings=st.lists(st.one_of(st.none(), st.text(max_size=12)), min_size=1, max_size=40),
       cuts=st.lists(st.integers(0, 40), max_size=4), start=st.integers(0, 39))
def test_layout_never_changes_fingerprints(values, strings, cuts, start):
    n = min(len(values), len(strings))
    t = pa.table({"i": pa.array(values[:n], pa.int64()), "s": pa.array(strings[:n]),
                  "l": pa.array([[v, v] if v is not None else None for v in values[:n]], pa.list_(pa.int64()))})
    fp = row_fingerprints(t)
    bounds = sorted({0, n, *[min(c, n) for c in cuts]})
    batches = [b for a, z in zip(bounds, bounds[1:]) for b in t.slice(a, z - a).to_batches()]
    rechunked = pa.Table.from_batches(batches, schema=t.schema)
    assert (row_fingerprints(rechunked) == fp).all()
    s = min(start, n)
    assert (row_fingerprints(t.slice(s)) == fp[s:]).all()
    as_dict = t.set_column(1, "s", t["s"].dictionary_encode())
    assert (row_fingerprints(as_dict) == fp).all()


def test_stored_fingerprints_match_the_rows(registry):
    from dsreg.model.objects import get_commit, get_snapshot
    from dsreg.rows.shards import ShardReader
    t = pa.table({"a": pa.array(range(5000)), "s": pa.array([str(i % 7) for i in range(5000)])})
    registry.commit("ds", t, message="m")
    t2 = t.slice(100).append_column("x", pa.array([1] * 4900))
    registry.commit("ds", t2.drop_columns(["x"]), message="m2")
    snap = get_snapshot(registry, get_commit(registry, registry.resolve("ds")).splits["train"])
    reader = ShardReader(registry.store)
    for ref, start, count in snap.runs():
        stored = reader.fingerprints(ref, snap.schema)[start:start + count]
        rows = reader.table(ref.id).slice(start, count)
        assert (stored == row_fingerprints(rows)).all()


# -- the scheme: pinned values, recorded in every fingerprint object, never mixed ------
def golden_table() -> pa.Table:
    """Three rows (one mostly null) of every type family the fingerprints handle."""
    f64 = np.array([0x3FF8000000000000, 0x8000000000000000, 0x7FF8000000000001], dtype=np.uint64).view(np.float64)
    return pa.table({
        "null": pa.array([None] * 3, pa.null()),
        "bool": pa.array([True, None, False]),
        "int8": pa.array([-1, None, 127], pa.int8()),
        "int16": pa.array([-2, None, 300], pa.int16()),
        "int32": pa.array([-3, None, 70000], pa.int32()),
        "int64": pa.array([-4, None, 2**62], pa.int64()),
        "uint8": pa.array([1, None, 255], pa.uint8()),
        "uint64": pa.array([1, None, 2**64 - 1], pa.uint64()),
        "float16": pa.array(np.array([1.5, -0.0, np.inf], dtype=np.float16)),
        "float32": pa.array(np.array([1.5, -0.0, np.nan], dtype=np.float32)),
        "float64": pa.array(f64),
        "decimal128": pa.array([decimal.Decimal("1.25"), None, decimal.Decimal("-3.50")], pa.decimal128(10, 2)),
        "decimal256": pa.array([decimal.Decimal("1"), None, decimal.Decimal("-7")], pa.decimal256(40, 0)),
        "date32": pa.array([datetime.date(2024, 2, 29), None, datetime.date(1969, 12, 31)]),
        "date64": pa.array([86_400_000, None, 0], pa.date64()),
        "time32": pa.array([1, None, 86399], pa.time32("s")),
        "time64": pa.array([1, None, 86_399_999_999], pa.time64("us")),
        "timestamp": pa.array([0, None, 1_700_000_000_000_000_000], pa.timestamp("ns", "UTC")),
        "duration": pa.array([5, None, -5], pa.duration("ms")),
        "string": pa.array(["", None, "héllo, wörld: more than eight bytes"]),
        "large_string": pa.array(["a", None, "bc"], pa.large_string()),
        "string_view": pa.array(["a", None, "bc"], pa.string_view()),
        "binary": pa.array([b"\x00", None, b"\x01\x02\x03\x04\x05\x06\x07\x08\x09"]),
        "large_binary": pa.array([b"", None, b"z"], pa.large_binary()),
        "fixed_size_binary": pa.array([b"ab", None, b"\x00\x00"], pa.binary(2)),
        "dictionary": pa.array(["pos", None, "neg"], pa.dictionary(pa.int8(), pa.string())),
        "list_int": pa.array([[1, 2], None, [None, 3]], pa.list_(pa.int64())),
        "list_string": pa.array([["a"], None, []], pa.list_(pa.string())),
        "large_list": pa.array([[1.5], None, []], pa.large_list(pa.float64())),
        "fixed_size_list": pa.array([[1.0, 2.0], None, [0.5, -0.5]], pa.list_(pa.float32(), 2)),
        "list_view": pa.array([[1], None, [2, 3]], pa.list_view(pa.int32())),
        "map": pa.array([[("a", 1)], None, []], pa.map_(pa.string(), pa.int64())),
        "struct": pa.array([{"a": 1, "b": "x"}, None, {"a": None, "b": ""}],
                           pa.struct([("a", pa.int32()), ("b", pa.string())])),
        "list_of_struct": pa.array([[{"x": 1.5}], None, [None]], pa.list_(pa.struct([("x", pa.float64())]))),
    })


# Fingerprints of each column of golden_table() alone, and of the whole table, under
# scheme rowfp-2. Registries hold these values: if one changes, so must SCHEME.
GOLDEN = {
    "null": ["5821cf538535ad44", "5821cf538535ad44", "5821cf538535ad44"],
    "bool": ["ba66fcf750f301ba", "5821cf538535ad44", "212b4bac4a502778"],
    "int8": ["5a43570f1c54bc5e", "5821cf538535ad44", "006154e6a2213aac"],
    "int16": ["3ec9a02915c456f4", "5821cf538535ad44", "f7ea7441073699f5"],
    "int32": ["88976f5a0334f985", "5821cf538535ad44", "915f4d3ca89b46b3"],
    "int64": ["1afe2c121a691f52", "5821cf538535ad44", "e61c298e5b457980"],
    "uint8": ["fce14eaf67d2a995", "5821cf538535ad44", "5a43570f1c54bc5e"],
    "uint64": ["dcd7209b8672cc95", "5821cf538535ad44", "212b4bac4a502778"],
    "float16": ["5b50f089e635fc5a", "dc5f15810306785b", "bec7c34064d55b8c"],
    "float32": ["e1f21af0d9ec79c2", "cd4c28cc5cc49eef", "a074f9f9699f701d"],
    "float64": ["6e5f1abe69e957dd", "f375657e5df756d9", "b89ce53a1b2f03ea"],
    "decimal128": ["4d1c2fca39c1fe3a", "5821cf538535ad44", "c69e260fb6080964"],
    "decimal256": ["d5d4e53fa68aba9c", "5821cf538535ad44", "667cdfb93ca74199"],
    "date32": ["6bd630c557f98794", "5821cf538535ad44", "5af4eff7fcf94500"],
    "date64": ["162da3c83badd05e", "5821cf538535ad44", "ba66fcf750f301ba"],
    "time32": ["f8c6fde9d49f87af", "5821cf538535ad44", "4edd64c320fc63d5"],
    "time64": ["dcd7209b8672cc95", "5821cf538535ad44", "78f03e9fad92b695"],
    "timestamp": ["ba66fcf750f301ba", "5821cf538535ad44", "6fac69432f0e6576"],
    "duration": ["4b97bf6385534983", "5821cf538535ad44", "6f78f113948b6e17"],
    "string": ["2352f1f620e9d988", "5821cf538535ad44", "448e1dcff50db8c4"],
    "large_string": ["2156e075696faf37", "5821cf538535ad44", "7c0e8987b471e41b"],
    "string_view": ["2156e075696faf37", "5821cf538535ad44", "7c0e8987b471e41b"],
    "binary": ["ce14cecdb5fef7fc", "5821cf538535ad44", "04bb8cf3c12b2132"],
    "large_binary": ["2352f1f620e9d988", "5821cf538535ad44", "d61048d755304a9e"],
    "fixed_size_binary": ["51cddc2e3c0d12fb", "5821cf538535ad44", "e1c48f1aaf96f13e"],
    "dictionary": ["ae9bddfc53d1104e", "5821cf538535ad44", "73731ec6bce6ab0a"],
    "list_int": ["e9f6630f12c37e27", "5821cf538535ad44", "bb07badffaf1e277"],
    "list_string": ["afc8adf1b650db28", "5821cf538535ad44", "5f9d219e0ce21972"],
    "large_list": ["900c2e02dfbb311d", "5821cf538535ad44", "2352f1f620e9d988"],
    "fixed_size_list": ["e638cfdafcc8383e", "5821cf538535ad44", "9978e80208bc4507"],
    "list_view": ["6f4b435efa5104a1", "5821cf538535ad44", "56261a73088e845b"],
    "map": ["75874b8e706086a6", "5821cf538535ad44", "5f9d219e0ce21972"],
    "struct": ["629d70af12329b95", "5821cf538535ad44", "cd14db8e16027062"],
    "list_of_struct": ["fac17da9ead5376b", "5821cf538535ad44", "b76a2a09ad25801c"],
}
GOLDEN_TABLE = ["be677cd8bcf33c26", "c2cc21d734969e43", "f0feb58723eec398"]


def hexes(fps: np.ndarray) -> list[str]:
    return [f"{int(v):016x}" for v in fps]


def test_golden_fingerprints_pin_the_scheme():
    """An accidental change of the hash fails here; a deliberate one changes SCHEME too."""
    from dsreg.rows.fingerprint import SCHEME
    t = golden_table()
    assert SCHEME == "rowfp-2"
    assert sorted(GOLDEN) == sorted(t.column_names)
    got = {name: hexes(row_fingerprints(t.select([name]))) for name in t.column_names}
    assert got == GOLDEN
    assert hexes(row_fingerprints(t)) == GOLDEN_TABLE
    sliced = pa.Table.from_batches(t.to_batches(max_chunksize=1))
    assert hexes(row_fingerprints(sliced)) == GOLDEN_TABLE


def test_fingerprint_objects_name_their_scheme():
    from dsreg.errors import CorruptObject
    from dsreg.maintenance.rebuild import object_kind
    from dsreg.model.serialize import (
        decode_fingerprint_object,
        decode_fingerprints,
        encode_fingerprints,
        fingerprints_size,
    )
    fps = np.array([1, 2**64 - 1, 0], dtype=np.uint64)
    data = encode_fingerprints(fps, "fp-9")
    assert data[:16] == b"DSRGFP2\nfp-9   \n" and len(data) == fingerprints_size(3, "fp-9") == 16 + 24
    scheme, got = decode_fingerprint_object(data)
    assert scheme == "fp-9" and (got == fps).all()
    # rowfp-2 keeps the header its objects always had: byte-identical to what older dsregs
    # wrote and read, so the same shard keeps the same fingerprint object id
    legacy = encode_fingerprints(fps, "rowfp-2")
    assert legacy == b"DSRGFP1\n" + fps.astype("<u8").tobytes() and len(legacy) == fingerprints_size(3)
    scheme, got = decode_fingerprint_object(legacy)
    assert scheme == "rowfp-2" and (got == fps).all() and (decode_fingerprints(legacy) == fps).all()
    assert object_kind(data) == object_kind(legacy) == "fingerprints"
    for bad in (b"DSRGFP2\nrowfp-2\n" + b"x" * 7, b"DSRGFP2\nrow fp\n\n" + bytes(8), b"DSRGFP3\nrowfp-2\n", b""):
        with pytest.raises(CorruptObject):
            decode_fingerprint_object(bad)
    with pytest.raises(ValueError):
        encode_fingerprints(fps, "much-too-long")


def test_legacy_fingerprint_objects_are_trusted(registry):
    """Existing registries keep working: old-header objects are read, not recomputed."""
    from dsreg.model.serialize import ShardRef
    from dsreg.rows.shards import ShardReader
    registry.commit("ds", pa.table({"a": [1, 2, 3]}))
    ref, schema = _first_shard(registry)
    marked = np.array([7, 8, 9], dtype=np.uint64)       # not the rows' fingerprints: shows they are read
    fid, _ = registry.store.put(b"DSRGFP1\n" + marked.astype("<u8").tobytes())
    legacy = ShardRef(ref.id, fid, ref.rows, ref.bytes, ref.index)
    assert (ShardReader(registry.store).fingerprints(legacy, schema) == marked).all()


def _first_shard(registry, spec: str = "ds"):
    from dsreg.model.objects import get_commit, get_snapshot
    snap = get_snapshot(registry, get_commit(registry, registry.resolve(spec)).splits["train"])
    return snap.shards[0], snap.schema


def test_fingerprints_of_another_scheme_are_computed_again_from_the_rows(registry):
    """Stored fingerprints of another scheme are never trusted: what the reader hands out
    is computed from the rows, and equals what this scheme stores, for every type."""
    from dsreg.model.serialize import ShardRef, encode_fingerprints
    from dsreg.rows.shards import ShardReader
    t = golden_table().drop_columns(["list_view"])      # Parquet cannot store list views
    registry.commit("ds", t)
    ref, schema = _first_shard(registry)
    reader = ShardReader(registry.store)
    stored = reader.fingerprints(ref, schema)
    assert (stored == row_fingerprints(t)).all()
    fid, _ = registry.store.put(encode_fingerprints(np.arange(3, dtype=np.uint64), "rowfp-1"))
    foreign = ShardRef(ref.id, fid, ref.rows, ref.bytes, ref.index)
    assert (ShardReader(registry.store).fingerprints(foreign, schema) == stored).all()


def test_reuse_and_diff_never_compare_fingerprints_of_two_schemes(registry, monkeypatch):
    """A version written under another scheme (simulated: another hash, another name):
    committing on top of it still reuses its rows, and diff still matches them."""
    import dsreg.rows.shards
    import dsreg.rows.snapshots
    from dsreg.model.serialize import decode_fingerprint_object
    from dsreg.rows.fingerprint import mix
    from helpers.tables import edit_table, make_table
    t = make_table(3000)
    with monkeypatch.context() as m:
        m.setattr(dsreg.rows.shards, "SCHEME", "rowfp-1")
        m.setattr(dsreg.rows.snapshots, "row_fingerprints", lambda table: mix(row_fingerprints(table) ^ np.uint64(99)))
        registry.commit("ds", t)
    ref, _ = _first_shard(registry)
    assert decode_fingerprint_object(registry.store.get(ref.fingerprints))[0] == "rowfp-1"
    e = edit_table(t, "edit")
    result = registry.commit("ds", e.table)
    assert result.splits["train"].reused_rows == 3000 - len(e.modified_ids)
    diff = registry.diff("ds")
    assert (diff.splits["train"].removed, diff.splits["train"].unchanged) == (30, 2970)
    # the same rows in another order, in shards of their own: only fingerprints can match them
    registry.commit("other", t.take(pa.array(np.arange(3000)[::-1])))
    other = registry.diff("ds@main~1", "other@main")
    assert (other.splits["train"].added, other.splits["train"].removed, other.splits["train"].unchanged) == \
        (0, 0, 3000)
