"""Every type family dsreg stores, as small Arrow arrays with nulls and edge values, and
how to compare tables of them exactly."""
from __future__ import annotations

import datetime
import decimal

import numpy as np
import pyarrow as pa

from dsreg.rows.equality import tables_equal

D = decimal.Decimal
BITS64 = np.array([0x7FF8000000000000, 0x7FF8000000000001, 0xFFF8000000000000, 0x8000000000000000, 0,
                    0x7FF0000000000000, 0xFFF0000000000000, 1], dtype=np.uint64)


def _floats(dtype, bits):
    return pa.array(np.array(bits, dtype={np.float16: np.uint16, np.float32: np.uint32, np.float64: np.uint64}[dtype])
                    .view(dtype), mask=np.array([False] * (len(bits) - 1) + [True]))


def _ints(t):
    bits, signed = t.bit_width, pa.types.is_signed_integer(t)
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    return pa.array([lo, hi, 0, 1, None, hi - 1], t)


CASES = {
    **{str(t): _ints(t) for t in [pa.int8(), pa.int16(), pa.int32(), pa.int64(),
                                  pa.uint8(), pa.uint16(), pa.uint32(), pa.uint64()]},
    # NaN (quiet, with payload, negative), -0.0, 0.0, +-inf, a denormal, null
    "float16": _floats(np.float16, [0x7E00, 0x7E01, 0xFE00, 0x8000, 0, 0x7C00, 0xFC00, 1, 0]),
    "float32": _floats(np.float32, [0x7FC00000, 0x7FC00001, 0xFFC00000, 0x80000000, 0, 0x7F800000, 0xFF800000, 1, 0]),
    "float64": _floats(np.float64, list(BITS64) + [0]),
    "bool": pa.array([True, False, None, True]),
    "string": pa.array(["", "a", None, "é🦄", "a\x00b", "x" * 1000]),
    "large_string": pa.array(["", "a", None, "é🦄"], pa.large_string()),
    "binary": pa.array([b"", b"\x00\xff", None, b"abc"], pa.binary()),
    "large_binary": pa.array([b"", b"\x00\xff", None, b"abc"], pa.large_binary()),
    "fixed_size_binary": pa.array([b"\x00\x00\x00", None, b"abc", b"\xff\xff\xff"], pa.binary(3)),
    "decimal128": pa.array([D("0.00"), D("-99999999.99"), None, D("99999999.99"), D("1.05")], pa.decimal128(10, 2)),
    "decimal256": pa.array([D("0"), D("-" + "9" * 60 + ".1234"), None, D("1.0001")], pa.decimal256(64, 4)),
    "date32": pa.array([datetime.date(1970, 1, 1), datetime.date(1, 1, 1), None, datetime.date(9999, 12, 31)]),
    "date64": pa.array([0, -86_400_000, None, 86_400_000 * 20_000], pa.date64()),
    "time32_s": pa.array([0, 86399, None, 1], pa.time32("s")),
    "time32_ms": pa.array([0, 86_399_999, None, 1], pa.time32("ms")),
    "time64_us": pa.array([0, 86_399_999_999, None, 1], pa.time64("us")),
    "time64_ns": pa.array([0, 86_399_999_999_999, None, 1], pa.time64("ns")),
    **{f"timestamp_{u}{'_' + tz if tz else ''}": pa.array([0, -1, None, 1_700_000_000, 2**40], pa.timestamp(u, tz))
       for u in ["s", "ms", "us", "ns"] for tz in [None, "UTC", "America/New_York", "+05:30"]},
    **{f"duration_{u}": pa.array([0, -1, None, 2**40], pa.duration(u)) for u in ["s", "ms", "us", "ns"]},
    "list": pa.array([[1, None, 3], [], None, [4]], pa.list_(pa.int32())),
    "list_nonnull_items": pa.array([[1, 2], [], None], pa.list_(pa.field("v", pa.int64(), nullable=False))),
    "list_of_lists": pa.array([[[1.5], [], None], None, [[float("nan"), -0.0]]], pa.list_(pa.list_(pa.float64()))),
    "large_list": pa.array([["a", None], [], None], pa.large_list(pa.string())),
    "large_list_of_large_list": pa.array([[[b"x"]], None, [[], None]], pa.large_list(pa.large_list(pa.binary()))),
    "fixed_size_list": pa.array([[1.0, -0.0], None, [float("inf"), None]], pa.list_(pa.float32(), 2)),
    "fixed_size_list_of_struct": pa.array([[{"a": 1}], [None], None], pa.list_(pa.struct([("a", pa.int8())]), 1)),
    "struct": pa.array([{"a": 1, "b": "x"}, None, {"a": None, "b": None}],
                       pa.struct([("a", pa.int64()), ("b", pa.string())])),
    "struct_nested": pa.array([{"s": {"t": [1, 2], "u": {"v": True}}}, {"s": None}, None],
                              pa.struct([("s", pa.struct([("t", pa.list_(pa.int16())),
                                                          ("u", pa.struct([("v", pa.bool_())]))]))])),
    "struct_nonnull_child": pa.StructArray.from_arrays(
        [pa.array([1, 2, 3])], fields=[pa.field("a", pa.int64(), nullable=False)], mask=pa.array([False, True, False])),
    "list_named_element_with_metadata": pa.array(
        [[1, None], [], None], pa.list_(pa.field("element", pa.int64(), metadata={b"m": b"1"}))),
    "struct_child_metadata": pa.array(
        [{"a": 1}, None], pa.struct([pa.field("a", pa.int16(), metadata={b"unit": b"cm"})])),
    "map": pa.array([[("a", 1), ("b", None)], [], None], pa.map_(pa.string(), pa.int32())),
    "map_sorted_keys": pa.array([[(1, "x"), (2, "y")], None], pa.map_(pa.int64(), pa.string(), keys_sorted=True)),
    "map_of_struct": pa.array([[("k", {"x": 1.5})], None], pa.map_(pa.string(), pa.struct([("x", pa.float64())]))),
    "dictionary": pa.array(["a", "b", None, "a"], pa.dictionary(pa.int8(), pa.string())),
    "dictionary_ordered": pa.DictionaryArray.from_arrays(pa.array([0, 1, None, 1], pa.int16()),
                                                         pa.array(["low", "high"]), ordered=True),
    # unused and repeated dictionary entries: the logical values are what must survive
    "dictionary_messy": pa.DictionaryArray.from_arrays(pa.array([3, 0, None, 3], pa.int32()),
                                                       pa.array(["a", "unused", "a", "b"])),
    "dictionary_of_int": pa.array([10, None, 20, 10], pa.dictionary(pa.int8(), pa.int64())),   # pandas Categorical
    "dictionary_of_float": pa.DictionaryArray.from_arrays(
        pa.array([0, 1, 2, None], pa.int32()), pa.array(BITS64[:3].view(np.float64))),
    "dictionary_of_date": pa.array([0, None, 5, 0], pa.date32()).dictionary_encode().cast(pa.dictionary(pa.int64(), pa.date32())),
    "dictionary_large_string": pa.array(["x", None], pa.dictionary(pa.uint32(), pa.large_string())),
    "list_of_dictionary": pa.array([["a", "b"], None, []], pa.list_(pa.dictionary(pa.int32(), pa.string()))),
    "struct_of_dictionary": pa.array([{"d": 1}, None, {"d": None}],
                                     pa.struct([("d", pa.dictionary(pa.int8(), pa.int32()))])),
    "null": pa.array([None, None, None], pa.null()),
    "struct_of_null": pa.array([{"x": None}, None, {"x": None}], pa.struct([("x", pa.null())])),
    "list_of_list_of_null": pa.array([[[None], []], None, [None]], pa.list_(pa.list_(pa.null()))),
    "string_view": pa.array(["", "short", None, "a string longer than twelve bytes"], pa.string_view()),
    "binary_view": pa.array([b"", b"\x00", None, b"b" * 40], pa.binary_view()),
    "list_of_string_view": pa.array([["x", None], None], pa.list_(pa.string_view())),
}


def _table(arr: pa.Array, nullable: bool = True) -> pa.Table:
    schema = pa.schema([pa.field("id", pa.int64(), nullable=False),
                        pa.field("v", arr.type, nullable=nullable, metadata={b"unit": b"thing", b"k": b"\x00\xff"})],
                       metadata={b"dataset": b"types", b"blob": bytes(range(256))})
    return pa.Table.from_arrays([pa.array(np.arange(len(arr), dtype=np.int64)), arr], schema=schema)


def _without_pins(schema: pa.Schema) -> pa.Schema:
    kept = {k: v for k, v in (schema.metadata or {}).items() if not k.startswith(b"dsreg.")}
    return schema.with_metadata(kept) if kept else schema.remove_metadata()


def same_type(a: pa.DataType, b: pa.DataType) -> bool:
    """Equal including nested field names (Arrow's == ignores list and map field names)."""
    return a.equals(b, check_metadata=True) and str(a) == str(b)


def assert_exact(got: pa.Table, want: pa.Table) -> None:
    assert _without_pins(got.schema).equals(want.schema, check_metadata=True), f"{got.schema}\n!=\n{want.schema}"
    for i, f in enumerate(want.schema):
        assert same_type(got.schema.field(i).type, f.type), (got.schema.field(i).type, f.type)
        assert same_type(got.column(i).type, f.type), (got.column(i).type, f.type)
    assert tables_equal(got, want)
    got.validate(full=True)
