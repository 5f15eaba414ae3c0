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
from dsreg.versions.cellmerge import merge_rows
from dsreg.versions.mergeplan import CUT, NEW, THEIRS, Side, SplitMerge, new_rows_table


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
    tables = []
    for snap in (base, ours, theirs):
        raw = read_snapshot(store, snap) if snap is not None else schema.empty_table()
        table = _conformed(m, raw, schema)
        if table is None:
            return
        tables.append((table, frozenset(raw.column_names)))
    sides = [Side.of_table(t, m.keys, cols) for t, cols in tables]
    n_base = tables[0][0].num_rows
    merge_rows(m, sides[0], sides[1], sides[2], np.full(n_base, -1, np.int64), np.zeros(n_base, bool), strategy,
               resolve)
    if m.conflicts and strategy == "fail":
        return
    table = _assembled(m, tables[1][0], tables[2][0])
    reader = ShardReader(store, cache_size=3)
    candidates = [s for s in (ours, theirs) if schemas_compatible(s.schema, schema)]
    builder = SnapshotBuilder(store, schema, base=BaseIndex(reader, candidates) if candidates else None,
                              shard_stats=shard_stats)
    builder.add(table)
    m.whole = builder.finish().snapshot
    m.whole_new = (builder.cutter.rows, builder.cutter.new_bytes)


def _assembled(m: SplitMerge, ours: pa.Table, theirs: pa.Table) -> pa.Table:
    """Ours' rows with the edits, then the appends, taken from ours, theirs and the new rows."""
    new = new_rows_table(m)
    offsets = {THEIRS: ours.num_rows, NEW: ours.num_rows + theirs.num_rows}
    at, kind, idx = m.edits()
    rows = np.arange(ours.num_rows, dtype=np.int64)
    keep = np.ones(ours.num_rows, dtype=bool)
    keep[at[kind == CUT]] = False
    for k, off in offsets.items():
        rows[at[kind == k]] = idx[kind == k] + off
    akind, aidx = m.appended()
    tail = aidx + np.where(akind == NEW, offsets[NEW], offsets[THEIRS])
    order = pa.array(np.concatenate([rows[keep], tail]))
    return pa.Table.from_arrays([pa.chunked_array([*ours[f.name].chunks, *theirs[f.name].chunks,
                                                   *new[f.name].cast(f.type).chunks], type=f.type).take(order)
                                 for f in ours.schema], schema=ours.schema)


__all__ = ["merged_schema", "merge_whole"]
