"""Exact row equality, the proof behind every reuse.

Two tables are equal when every value is identical: floats by bit pattern (NaN payloads
and the sign of zero count), dictionaries by decoded value, nulls wherever either side
has one. Arrow's own `equals` ignores bytes under nulls, which is what we want, but
compares floats numerically, which is not; viewing float leaves as unsigned integers of
the same width fixes that without copying.
"""
from __future__ import annotations

import pyarrow as pa

from dsreg.rows.arrowtypes import comparison_type, decoded_type


def canonical_column(col: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray:
    """The column in its comparison type (see arrowtypes.py), without copying floats."""
    if isinstance(col, pa.Array):
        col = pa.chunked_array([col], type=col.type)
    decoded = decoded_type(col.type)
    if decoded != col.type:
        col = col.cast(decoded)
    target = comparison_type(decoded)
    if target != decoded:
        col = pa.chunked_array([c.view(target) for c in col.chunks], type=target)
    return col


def canonical_table(table: pa.Table) -> pa.Table:
    """Every column in its comparison type (`canonical_column`): comparing slices of it costs
    no conversion per slice, which matters where a batch is compared as hundreds of runs."""
    columns = [canonical_column(c) for c in table.columns]
    if all(c.type == f.type for c, f in zip(columns, table.schema)):
        return table
    return pa.Table.from_arrays(columns, names=table.column_names)


def tables_equal(a: pa.Table | pa.RecordBatch, b: pa.Table | pa.RecordBatch) -> bool:
    """True when `a` and `b` have the same columns (by position) holding identical values."""
    if a.num_rows != b.num_rows or a.num_columns != b.num_columns:
        return False
    for ca, cb in zip(a.columns, b.columns):
        if not decoded_type(ca.type).equals(decoded_type(cb.type)):
            return False
        if not canonical_column(ca).equals(canonical_column(cb)):
            return False
    return True
