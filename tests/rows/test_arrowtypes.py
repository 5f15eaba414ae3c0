"""The one Arrow type mapper (dsreg/rows/arrowtypes.py): the types a logical type is
stored, decoded and compared as, and the way back from storage."""
from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dsreg.rows.arrowtypes import (
    comparison_type,
    conform,
    decoded_type,
    same_type,
    storage_schema,
    storage_type,
    strip_metadata,
)

META = {b"k": b"v"}


def check(got: pa.DataType, want: pa.DataType) -> None:
    # names of list and map fields too, which Arrow's == ignores
    assert same_type(got, want), (str(got), str(want))


@pytest.mark.parametrize("logical, stored", [
    (pa.string_view(), pa.large_string()),
    (pa.binary_view(), pa.large_binary()),
    (pa.list_(pa.field("element", pa.string_view(), False, metadata=META)),
     pa.list_(pa.field("item", pa.large_string(), False))),
    (pa.large_list(pa.field("x", pa.int8())), pa.large_list(pa.field("item", pa.int8()))),
    (pa.list_(pa.field("v", pa.float32()), 4), pa.list_(pa.field("item", pa.float32()), 4)),
    (pa.map_(pa.field("k", pa.string(), False), pa.field("v", pa.binary_view())),
     pa.map_(pa.field("key", pa.string(), False), pa.field("value", pa.large_binary()))),
    (pa.struct([pa.field("a", pa.string_view(), False, metadata=META)]),
     pa.struct([pa.field("a", pa.large_string(), False)])),
    (pa.dictionary(pa.int8(), pa.string_view(), True), pa.dictionary(pa.int8(), pa.large_string(), True)),
    (pa.timestamp("ms", "UTC"), pa.timestamp("ms", "UTC")),
])
def test_storage_type_names_fields_canonically_and_drops_views(logical, stored):
    check(storage_type(logical), stored)
    check(storage_type(stored), stored)             # already in storage form: unchanged


def test_decoded_type_decodes_dictionaries_at_every_level_and_keeps_fields():
    field = pa.field("element", pa.dictionary(pa.int32(), pa.float64()), False, metadata=META)
    got = decoded_type(pa.struct([pa.field("l", pa.list_(field))]))
    check(got, pa.struct([pa.field("l", pa.list_(pa.field("element", pa.float64(), False, metadata=META)))]))
    check(decoded_type(pa.dictionary(pa.int8(), pa.string())), pa.string())


@pytest.mark.parametrize("t, want", [
    (pa.float16(), pa.uint16()), (pa.float32(), pa.uint32()), (pa.float64(), pa.uint64()),
    (pa.dictionary(pa.int16(), pa.float32()), pa.uint32()),
    (pa.struct([pa.field("x", pa.float64(), False), pa.field("s", pa.string())]),
     pa.struct([pa.field("x", pa.uint64(), False), pa.field("s", pa.string())])),
    (pa.map_(pa.string(), pa.float16()), pa.map_(pa.string(), pa.uint16())),
    (pa.list_(pa.float32(), 3), pa.list_(pa.uint32(), 3)),
    (pa.decimal128(10, 2), pa.decimal128(10, 2)),
])
def test_comparison_type_views_floats_as_their_bits(t, want):
    check(comparison_type(t), want)


def test_conform_gives_rows_read_from_shards_their_committed_schema():
    """Parquet hands back other types (dictionaries decoded, `element` for `item`, no
    metadata); conform restores the committed ones exactly."""
    committed = pa.schema([
        pa.field("v", pa.string_view(), metadata=META),
        pa.field("l", pa.list_(pa.field("element", pa.dictionary(pa.int32(), pa.int64())))),
        pa.field("m", pa.map_(pa.field("k", pa.string(), False), pa.field("w", pa.float32()))),
    ], metadata=META)
    numbers = pa.ListArray.from_arrays(pa.array([0, 2, 2, 2], pa.int32()), pa.array([1, 2]).dictionary_encode(),
                                       type=committed.field("l").type, mask=pa.array([False, True, False]))
    table = pa.table({
        "v": pa.array(["a", None, "c"], pa.string_view()),
        "l": numbers,
        "m": pa.array([[("x", 1.5)], [], None], committed.field("m").type),
    }, schema=committed)
    stored = table.cast(storage_schema(committed))
    assert stored.schema.metadata is None and not any(f.metadata for f in stored.schema)
    buf = io.BytesIO()
    pq.write_table(stored, buf, store_schema=False)
    read = pq.read_table(pa.BufferReader(buf.getvalue()))
    assert not same_type(read.schema.field("l").type, stored.schema.field("l").type)    # else this proves little
    back = conform(read, committed)
    assert back.schema.equals(committed, check_metadata=True)
    for col, f in zip(back.columns, committed):
        check(col.type, f.type)
    assert back.to_pylist() == table.to_pylist()


def test_strip_metadata_keeps_names_types_and_nullability():
    schema = pa.schema([pa.field("a", pa.int8(), False, metadata=META)], metadata=META)
    stripped = strip_metadata(schema)
    assert stripped.metadata is None and stripped.field("a").metadata is None
    assert stripped.field("a").type == pa.int8() and not stripped.field("a").nullable
