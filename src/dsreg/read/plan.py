"""Projection and filter pushdown: which columns to read, and which row groups cannot hold
a matching row.

A filter is a pyarrow compute expression over the committed columns. It is always applied
exactly to the rows read (so results equal `Table.filter`); the statistics every shard's
Parquet footer stores per row group (min, max, nulls: dsreg writes them) only decide which
row groups need reading at all. Pruning is Arrow's own (`ParquetFileFragment.subset`), run
on the footer alone; where Arrow cannot evaluate an expression on statistics, nothing is
skipped.
"""
from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads

from dsreg.errors import UsageError


def check_filter(expr: object, schema: pa.Schema) -> pc.Expression:
    """The filter, if it is an expression these columns can evaluate to booleans."""
    if not isinstance(expr, pc.Expression):
        raise UsageError(f"filter must be a pyarrow.compute.Expression, not {type(expr).__name__}",
                         "e.g. pyarrow.compute.field('label') == 'pos'")
    try:
        schema.empty_table().filter(expr)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, TypeError) as e:
        raise UsageError(f"filter {expr} does not apply to these columns: {str(e).splitlines()[0]}") from None
    return expr


def filter_columns(expr: pc.Expression | None, schema: pa.Schema) -> list[str]:
    """The columns the filter reads: those without which it no longer binds."""
    if expr is None:
        return []
    needed = []
    for name in schema.names:
        rest = pa.schema([f for f in schema if f.name != name])
        try:
            rest.empty_table().filter(expr)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, TypeError):
            needed.append(name)
    return needed


def read_columns(columns: list[str] | None, expr: pc.Expression | None, schema: pa.Schema) -> list[str] | None:
    """What to read from shards: the projection plus the filter's columns, in schema order."""
    if columns is None:
        return None
    want = set(columns) | set(filter_columns(expr, schema))
    return [n for n in schema.names if n in want]


def kept_row_groups(footer: bytes, expr: pc.Expression | None, count: int) -> list[int]:
    """Row groups of a shard whose statistics do not rule the filter out. `footer` is a
    buffer whose tail is the shard's Parquet footer (the whole file will do)."""
    if expr is None:
        return list(range(count))
    try:
        fragment = pads.ParquetFileFormat().make_fragment(pa.BufferReader(footer))
        return sorted(rg.id for rg in fragment.subset(filter=expr).row_groups)
    except (pa.ArrowException, TypeError, ValueError):
        # statistics Arrow cannot compare to this filter: read everything, filter exactly
        return list(range(count))
