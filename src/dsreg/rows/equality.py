"""Exact row equality, the proof behind every reuse.

Two tables are equal when every value is identical: floats by bit pattern (NaN payloads
and the sign of zero count), dictionaries by decoded value, nulls wherever either side
has one. Arrow's own `equals` ignores bytes under nulls, which is what we want, but
compares floats numerically, which is not; viewing float leaves as unsigned integers of
the same width fixes that without copying.
"""
from __future__ import annotations

import pyarrow as pa


def canonical_type(t: pa.DataType) -> pa.DataType:
    """The type whose values compare bitwise: floats as uints, dictionaries decoded."""
    if pa.types.is_dictionary(t):
        return canonical_type(t.value_type)
    if pa.types.is_float16(t):
        return pa.uint16()
    if pa.types.is_float32(t):
        return pa.uint32()
    if pa.types.is_float64(t):
        return pa.uint64()
    if pa.types.is_struct(t):
        return pa.struct([f.with_type(canonical_type(f.type)) for f in t])
    if pa.types.is_map(t):
        return pa.map_(t.key_field.with_type(canonical_type(t.key_type)), t.item_field.with_type(canonical_type(t.item_type)),
                       t.keys_sorted)
    if pa.types.is_fixed_size_list(t):
        return pa.list_(t.value_field.with_type(canonical_type(t.value_type)), t.list_size)
    if pa.types.is_large_list(t):
        return pa.large_list(t.value_field.with_type(canonical_type(t.value_type)))
    if pa.types.is_large_list_view(t):
        return pa.large_list_view(t.value_field.with_type(canonical_type(t.value_type)))
    if pa.types.is_list_view(t):
        return pa.list_view(t.value_field.with_type(canonical_type(t.value_type)))
    if pa.types.is_list(t):
        return pa.list_(t.value_field.with_type(canonical_type(t.value_type)))
    return t


def _decoded_type(t: pa.DataType) -> pa.DataType:
    """Like canonical_type but keeping floats: the type to cast to before viewing."""
    if pa.types.is_dictionary(t):
        return _decoded_type(t.value_type)
    if pa.types.is_struct(t):
        return pa.struct([f.with_type(_decoded_type(f.type)) for f in t])
    if pa.types.is_map(t):
        return pa.map_(t.key_field.with_type(_decoded_type(t.key_type)), t.item_field.with_type(_decoded_type(t.item_type)),
                       t.keys_sorted)
    if pa.types.is_fixed_size_list(t):
        return pa.list_(t.value_field.with_type(_decoded_type(t.value_type)), t.list_size)
    if pa.types.is_large_list(t):
        return pa.large_list(t.value_field.with_type(_decoded_type(t.value_type)))
    if pa.types.is_large_list_view(t):
        return pa.large_list_view(t.value_field.with_type(_decoded_type(t.value_type)))
    if pa.types.is_list_view(t):
        return pa.list_view(t.value_field.with_type(_decoded_type(t.value_type)))
    if pa.types.is_list(t):
        return pa.list_(t.value_field.with_type(_decoded_type(t.value_type)))
    return t


def canonical_column(col: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray:
    if isinstance(col, pa.Array):
        col = pa.chunked_array([col], type=col.type)
    decoded = _decoded_type(col.type)
    if decoded != col.type:
        col = col.cast(decoded)
    target = canonical_type(decoded)
    if target != decoded:
        col = pa.chunked_array([c.view(target) for c in col.chunks], type=target)
    return col


def tables_equal(a: pa.Table | pa.RecordBatch, b: pa.Table | pa.RecordBatch) -> bool:
    """True when `a` and `b` have the same columns (by position) holding identical values."""
    if a.num_rows != b.num_rows or a.num_columns != b.num_columns:
        return False
    for ca, cb in zip(a.columns, b.columns):
        if not _decoded_type(ca.type).equals(_decoded_type(cb.type)):
            return False
        if not canonical_column(ca).equals(canonical_column(cb)):
            return False
    return True
