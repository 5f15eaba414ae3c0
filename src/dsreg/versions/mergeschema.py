"""A keyed merge of one split whose schema changed on a side: the merged schema, then the
rows, read whole and merged in memory under it (a schema change rewrites every row of
the side that made it, so there are no shared runs to skip)."""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from dsreg.model.serialize import Snapshot
from dsreg.rows.arrowtypes import storage_schema
from dsreg.rows.shards import ShardReader
from dsreg.rows.snapshots import BaseIndex, SnapshotBuilder, read_snapshot, schemas_compatible
from dsreg.versions.threeway import Side, SplitMerge, merge_rows


def merged_schema(m: SplitMerge, base: pa.Schema | None, ours: pa.Schema, theirs: pa.Schema) -> pa.Schema | None:
    """Ours' columns, less those theirs removed, plus those it added; a type changed on one
    side is taken; two different changes are conflicts (recorded in `m`; None returned)."""
    b = {f.name: f for f in base} if base is not None else {}
    t = {f.name: f for f in theirs}
    fields = []
    for f in ours:
        if f.name in b and f.name not in t:
            continue                                       # theirs removed it
        other = t.get(f.name)
        if other is None or other.equals(f):
            fields.append(f)
        elif f.name in b and b[f.name].equals(f):
            fields.append(other)                           # only theirs retyped it
        elif f.name in b and b[f.name].equals(other):
            fields.append(f)
        else:
            m.conflicts.append((None, f.name, str(b[f.name].type) if f.name in b else None, str(f.type),
                                str(other.type)))
    o = {f.name for f in ours}
    fields += [f for f in theirs if f.name not in b and f.name not in o]
    return None if m.conflicts else pa.schema(fields, metadata=ours.metadata)


def _conformed(m: SplitMerge, table: pa.Table, schema: pa.Schema) -> pa.Table | None:
    cols = []
    for f in storage_schema(schema):
        if f.name not in table.column_names:
            cols.append(pa.nulls(table.num_rows, f.type))
            continue
        try:
            cols.append(table[f.name].cast(f.type))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            m.conflicts.append((None, f.name, None, str(table.schema.field(f.name).type), str(f.type)))
            return None
    return pa.Table.from_arrays(cols, schema=pa.schema([pa.field(f.name, f.type) for f in storage_schema(schema)]))


def merge_whole(m: SplitMerge, store, base: Snapshot | None, ours: Snapshot, theirs: Snapshot, strategy: str,
                resolve, shard_stats=None) -> None:
    """Merge the split in memory under the merged schema; `m.whole` is the result, built
    against ours' and theirs' rows so rows either side has whole are reused."""
    schema = merged_schema(m, base.schema if base is not None else None, ours.schema, theirs.schema)
    missing = [k for k in m.keys if schema is not None and k not in schema.names]
    if schema is None or missing:
        if missing:
            m.conflicts.append((None, missing[0], None, None, None))
        return
    m.schema = schema
    sides = []
    for snap in (base, ours, theirs):
        raw = read_snapshot(store, snap) if snap is not None else schema.empty_table()
        table = _conformed(m, raw, schema)
        if table is None:
            return
        sides.append(Side(table, np.arange(table.num_rows), frozenset(raw.column_names)))
    merge_rows(m, sides[0], sides[1], sides[2], lambda i: -1, lambda i: False, strategy, resolve)
    if m.conflicts and strategy == "fail":
        return
    order: list = [("o", p) for p in range(sides[1].table.num_rows)]
    rows = []
    for kind, p in order:
        entry = m.edits.get(p, ("o", p)) if kind == "o" else (kind, p)
        if entry is not None:
            rows.append(entry)
    rows += m.appends
    pieces = []
    for kind, i in rows:
        if kind == "n":
            pieces.append(_cells(m, i, schema))
        else:
            pieces.append(sides[1 if kind == "o" else 2].table.slice(i, 1))
    table = pa.concat_tables(pieces) if pieces else sides[1].table.schema.empty_table()
    reader = ShardReader(store, cache_size=3)
    candidates = [s for s in (ours, theirs) if schemas_compatible(s.schema, schema)]
    builder = SnapshotBuilder(store, schema, base=BaseIndex(reader, candidates) if candidates else None,
                              shard_stats=shard_stats)
    builder.add(table)
    m.whole = builder.finish().snapshot
    m.whole_new = (builder.cutter.rows, builder.cutter.new_bytes)


def _cells(m: SplitMerge, i: int, schema: pa.Schema) -> pa.Table:
    cells = m.new_rows[i]
    target = storage_schema(schema)
    if isinstance(cells, pa.Table):
        return pa.Table.from_arrays([cells[f.name].cast(f.type) for f in target], schema=target)
    return pa.Table.from_arrays([m.sources[cells[f.name][0]][f.name].slice(cells[f.name][1], 1) for f in target],
                                schema=target)


__all__ = ["merged_schema", "merge_whole"]
