"""Read units: a split's runs cut into pieces of work near a target size.

A unit is a list of pieces (a shard, first row, row count): short runs are coalesced and
long ones split, always at row-group or run boundaries, so every unit reads whole row
groups wherever it can. A unit names everything it reads by content id: any worker that
can reach the store reads it alone, and gets the same rows.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from dsreg.model.serialize import ShardRef, Snapshot
from dsreg.read.files import ShardFile
from dsreg.read.plan import kept_row_groups
from dsreg.rows.snapshots import conform

DEFAULT_TARGET_BYTES = 64 << 20


@dataclass(frozen=True)
class Piece:
    shard: ShardRef
    start: int          # first row in the shard
    count: int

    @property
    def bytes(self) -> int:
        return self.count * self.shard.bytes // max(self.shard.rows, 1)


@dataclass(frozen=True)
class ReadUnit:
    """Rows [first_row, first_row + rows) of the split before any filter, less the row
    groups the filter's statistics ruled out (`rows` counts the pieces' rows)."""
    index: int
    pieces: tuple[Piece, ...]
    first_row: int

    @property
    def rows(self) -> int:
        return sum(p.count for p in self.pieces)

    @property
    def bytes(self) -> int:
        return sum(p.bytes for p in self.pieces)

    @property
    def shards(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(p.shard.id for p in self.pieces))


Opener = Callable[[ShardRef], ShardFile]


def plan_units(snap: Snapshot, open_shard: Opener, target_bytes: int = DEFAULT_TARGET_BYTES,
               filter: pc.Expression | None = None) -> list[ReadUnit]:
    """The units of a snapshot, in split order. Footers are read (a small verified range
    per shard) for row-group boundaries and, with a filter, their statistics."""
    if target_bytes <= 0:
        from dsreg.errors import UsageError
        raise UsageError("target_bytes must be positive")
    layouts: dict[str, tuple[list[int], set[int]]] = {}

    def layout(ref: ShardRef) -> tuple[list[int], set[int]]:
        got = layouts.get(ref.id)
        if got is None:
            f = open_shard(ref)
            starts = f.row_group_starts()
            got = (starts, set(kept_row_groups(f.footer, filter, len(starts) - 1)))
            layouts[ref.id] = got
        return got

    units: list[ReadUnit] = []
    pieces: list[Piece] = []
    unit_start, at, size = 0, 0, 0

    def cut(next_row: int) -> None:
        nonlocal pieces, unit_start, size
        if pieces:
            units.append(ReadUnit(len(units), tuple(pieces), unit_start))
        pieces, unit_start, size = [], next_row, 0

    def add(ref: ShardRef, start: int, count: int) -> None:
        if pieces and pieces[-1].shard.id == ref.id and pieces[-1].start + pieces[-1].count == start:
            pieces[-1] = Piece(ref, pieces[-1].start, pieces[-1].count + count)
        else:
            pieces.append(Piece(ref, start, count))

    for ref, start, count in snap.runs():
        starts, kept = layout(ref)
        end = start + count
        for g in range(len(starts) - 1):
            a, b = max(starts[g], start), min(starts[g + 1], end)
            if a >= b:
                continue
            if not pieces:
                unit_start = at + (a - start)
            if g in kept:
                add(ref, a, b - a)
                size += (b - a) * ref.bytes // max(ref.rows, 1)
            if size >= target_bytes:
                cut(at + (b - start))
        at += count
    cut(at)
    return units


def read_unit(unit: ReadUnit, open_shard: Opener, schema: pa.Schema, columns: list[str] | None,
              read: list[str] | None, filter: pc.Expression | None) -> Iterator[pa.Table]:
    """The unit's rows, one row group at a time, as `schema` (the committed schema of the
    columns asked for): `read` are the columns read from shards (the projection plus what
    the filter needs), `columns` those returned."""
    read_schema = schema if read is None else pa.schema([schema.field(c) for c in read], metadata=schema.metadata)
    out_schema = schema if columns is None else pa.schema([schema.field(c) for c in columns],
                                                          metadata=schema.metadata)
    current: tuple[str, ShardFile] | None = None
    # the row group each shard was last read at: a fragmented version (scattered edits)
    # alternates between a base shard and the new one, many short runs in one row group,
    # which must be decoded once, not once a run
    decoded: dict[str, tuple[int, pa.Table]] = {}
    for piece in unit.pieces:
        if current is None or current[0] != piece.shard.id:
            current = (piece.shard.id, open_shard(piece.shard))
        f = current[1]
        starts = f.row_group_starts()
        end = piece.start + piece.count
        for g in range(len(starts) - 1):
            a, b = max(starts[g], piece.start), min(starts[g + 1], end)
            if a >= b:
                continue
            last = decoded.get(piece.shard.id)
            if last is not None and last[0] == g:
                table = last[1]
            else:
                table = f.read_row_group(g, read)
                decoded[piece.shard.id] = (g, table)
            if a > starts[g] or b < starts[g + 1]:
                table = table.slice(a - starts[g], b - a)
            table = conform(table, read_schema)
            if filter is not None:
                table = table.filter(filter)
            if columns is not None and read != columns:
                table = table.select(columns)
            yield table.replace_schema_metadata(out_schema.metadata) if table.schema != out_schema else table


def unit_rows(unit: ReadUnit, open_shard: Opener, schema: pa.Schema, filter: pc.Expression | None,
              filter_cols: list[str]) -> int:
    """Rows the unit yields: without a filter, known from its runs; with one, counted by
    reading only the filter's columns."""
    if filter is None:
        return unit.rows
    cols = filter_cols or [schema.names[0]]
    return sum(t.num_rows for t in read_unit(unit, open_shard, schema, cols, cols, filter))
