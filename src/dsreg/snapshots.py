"""A split's rows as runs over shards: building one from a stream of batches against a
base version (reusing every row proven equal), and reading one back."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable

import numpy as np
import pyarrow as pa

from .equality import tables_equal
from .fingerprint import row_fingerprints, row_nbytes
from .serialize import ShardRef, Snapshot
from .shards import ShardCutter, ShardReader, strip_metadata
from .store import ObjectStore

Progress = Callable[[int], None]   # called with rows just processed


def _noop(_: int) -> None:
    pass


class BaseIndex:
    """Every row of the base snapshots, findable by fingerprint."""

    def __init__(self, reader: ShardReader, snapshots: Iterable[Snapshot]):
        self.reader = reader
        self.shards: list[ShardRef] = []
        index: dict[str, int] = {}
        fps, shard_of, row_of = [], [], []
        for snap in snapshots:
            for ref, start, count in snap.runs():
                if ref.id not in index:
                    index[ref.id] = len(self.shards)
                    self.shards.append(ref)
                fps.append(reader.fingerprints(ref)[start:start + count])
                shard_of.append(np.full(count, index[ref.id], dtype=np.int32))
                row_of.append(np.arange(start, start + count, dtype=np.int64))
        self.fps = np.concatenate(fps) if fps else np.zeros(0, np.uint64)
        self.shard_of = np.concatenate(shard_of) if shard_of else np.zeros(0, np.int32)
        self.row_of = np.concatenate(row_of) if row_of else np.zeros(0, np.int64)
        self.order = np.argsort(self.fps, kind="stable")
        self.sorted_fps = self.fps[self.order]

    def __len__(self) -> int:
        return len(self.fps)

    def match(self, fps: np.ndarray, previous: int) -> np.ndarray:
        """Base position for each fingerprint (-1: none), preferring continuations of the
        previous row's match so that runs stay long where the base has duplicate rows."""
        n = len(self.fps)
        if n == 0 or len(fps) == 0:
            return np.full(len(fps), -1, dtype=np.int64)
        at = np.searchsorted(self.sorted_fps, fps)
        at_c = np.minimum(at, n - 1)
        found = self.sorted_fps[at_c] == fps
        pos = np.where(found, self.order[at_c], -1).astype(np.int64)
        for _ in range(3):
            prev = np.concatenate([[previous], pos[:-1]])
            nxt = prev + 1
            ok = (prev >= 0) & (nxt < n) & (pos != nxt)
            ok[ok] = self.fps[nxt[ok]] == fps[ok]
            if not ok.any():
                break
            pos[ok] = nxt[ok]
        return pos


@dataclass
class BuildResult:
    snapshot: Snapshot
    new_rows: int
    reused_rows: int
    new_bytes: int
    new_shards: list[ShardRef] = field(default_factory=list)


class SnapshotBuilder:
    """Feed batches in order; get a snapshot whose rows are exactly those batches."""

    def __init__(self, store: ObjectStore, schema: pa.Schema, base: BaseIndex | None = None,
                 prefix: Snapshot | None = None, progress: Progress = _noop):
        self.store = store
        self.schema = schema
        self.base = base if base is not None and len(base) else None
        self.cutter = ShardCutter(store)
        self.progress = progress
        self.reader = base.reader if base is not None else ShardReader(store)
        # runs: (kind, a, b, count); kind 0 = base shard index/row, 1 = new-row index
        self._runs: list[tuple[int, int, int, int]] = []
        self._base_shards: list[ShardRef] = list(self.base.shards) if self.base else []
        self._shard_index = {s.id: i for i, s in enumerate(self._base_shards)}
        self._last_match = -1
        self.reused = 0
        if prefix is not None:
            for ref, start, count in prefix.runs():
                self._add_run(0, self._base_shard(ref), start, count)

    def _base_shard(self, ref: ShardRef) -> int:
        if ref.id not in self._shard_index:
            self._shard_index[ref.id] = len(self._base_shards)
            self._base_shards.append(ref)
        return self._shard_index[ref.id]

    def _add_run(self, kind: int, a: int, b: int, count: int) -> None:
        if count <= 0:
            return
        if self._runs:
            k, pa_, pb, pc_ = self._runs[-1]
            if k == kind and pa_ == a and pb + pc_ == b and kind == 0:
                self._runs[-1] = (k, pa_, pb, pc_ + count)
                return
            if k == kind == 1 and pa_ + pc_ == a:
                self._runs[-1] = (k, pa_, 0, pc_ + count)
                return
        self._runs.append((kind, a, b, count))

    def add(self, batch: pa.RecordBatch | pa.Table) -> None:
        table = batch if isinstance(batch, pa.Table) else pa.Table.from_batches([batch])
        n = table.num_rows
        if n == 0:
            return
        fps = row_fingerprints(table)
        sizes = row_nbytes(table)
        pos = self._match(table, fps)
        # split the batch into segments: reused runs (contiguous base rows) and new rows
        is_new = pos < 0
        shard = np.where(is_new, -1, self.base.shard_of[np.maximum(pos, 0)] if self.base else -1)
        row = np.where(is_new, -1, self.base.row_of[np.maximum(pos, 0)] if self.base else -1)
        brk = np.ones(n, dtype=bool)
        brk[1:] = (is_new[1:] != is_new[:-1]) | (~is_new[1:] & ((shard[1:] != shard[:-1]) | (row[1:] != row[:-1] + 1)))
        starts = np.flatnonzero(brk)
        ends = np.append(starts[1:], n)
        new_mask_rows = np.flatnonzero(is_new)
        if len(new_mask_rows):
            first_new = self.cutter.rows
            self.cutter.add(table.take(new_mask_rows) if len(new_mask_rows) < n else table,
                            fps[new_mask_rows], sizes[new_mask_rows])
        new_seen = 0
        for s, e in zip(starts.tolist(), ends.tolist()):
            if is_new[s]:
                self._add_run(1, first_new + new_seen, 0, e - s)
                new_seen += e - s
            else:
                ref = self.base.shards[int(shard[s])]
                self._add_run(0, self._base_shard(ref), int(row[s]), e - s)
                self.reused += e - s
        self._last_match = int(pos[-1])
        self.progress(n)

    def _match(self, table: pa.Table, fps: np.ndarray) -> np.ndarray:
        if self.base is None:
            return np.full(len(fps), -1, dtype=np.int64)
        pos = self.base.match(fps, self._last_match)
        hit = np.flatnonzero(pos >= 0)
        if len(hit):
            self._verify(table, pos, hit)
        return pos

    def _verify(self, table: pa.Table, pos: np.ndarray, hit: np.ndarray) -> None:
        """Prove proposed matches equal; turn the ones that are not into new rows."""
        base = self._base_rows(pos[hit])
        new = table.take(hit)
        bad = self._unequal(new, base, 0)
        if bad:
            pos[hit[np.asarray(bad, dtype=np.int64)]] = -1

    def _unequal(self, new: pa.Table, base: pa.Table, offset: int) -> list[int]:
        if tables_equal(new, base):
            return []
        n = new.num_rows
        if n == 1:
            return [offset]
        half = n // 2
        return (self._unequal(new.slice(0, half), base.slice(0, half), offset)
                + self._unequal(new.slice(half), base.slice(half), offset + half))

    def _base_rows(self, positions: np.ndarray) -> pa.Table:
        shard_idx = self.base.shard_of[positions]
        rows = self.base.row_of[positions]
        used = np.unique(shard_idx)
        tables, offsets, total = [], {}, 0
        for s in used.tolist():
            t = self.reader.table(self.base.shards[s].id)
            offsets[s] = total
            total += t.num_rows
            tables.append(t)
        shift = np.zeros(int(used.max()) + 1, dtype=np.int64)
        for s, o in offsets.items():
            shift[s] = o
        combined = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
        return combined.take(rows + shift[shard_idx])

    def finish(self) -> BuildResult:
        self.cutter.finish()
        bounds = np.asarray(self.cutter.bounds, dtype=np.int64)
        shards = list(self._base_shards)
        index = dict(self._shard_index)
        run_shard, run_start, run_count = [], [], []

        def emit(si: int, start: int, count: int) -> None:
            if run_count and run_shard[-1] == si and run_start[-1] + run_count[-1] == start:
                run_count[-1] += count
            else:
                run_shard.append(si), run_start.append(start), run_count.append(count)

        for kind, a, b, count in self._runs:
            if kind == 0:
                emit(a, b, count)
                continue
            # new rows [a, a+count) may span several new shards
            while count > 0:
                k = int(np.searchsorted(bounds, a, side="right")) - 1
                ref = self.cutter.shards[k]
                if ref.id not in index:
                    index[ref.id] = len(shards)
                    shards.append(ref)
                take = min(count, int(bounds[k + 1]) - a)
                emit(index[ref.id], a - int(bounds[k]), take)
                a += take
                count -= take
        # keep only shards the runs use, renumbered in order of first use
        used_order: dict[int, int] = {}
        for si in run_shard:
            used_order.setdefault(si, len(used_order))
        final_shards = tuple(shards[i] for i in used_order)
        remap = np.zeros(len(shards) + 1, dtype=np.int64)
        for old, new in used_order.items():
            remap[old] = new
        snap = Snapshot(
            schema_ipc=self.schema.serialize().to_pybytes(),
            shards=final_shards,
            run_shard=remap[np.asarray(run_shard, dtype=np.int64)] if run_shard else np.zeros(0, np.int64),
            run_start=np.asarray(run_start, dtype=np.int64),
            run_count=np.asarray(run_count, dtype=np.int64),
        )
        return BuildResult(snap, self.cutter.rows, self.reused, self.cutter.new_bytes, list(self.cutter.shards))


def read_snapshot(store: ObjectStore, snap: Snapshot, columns: list[str] | None = None,
                  reader: ShardReader | None = None) -> pa.Table:
    """The split's rows, in order, with the committed schema (metadata included)."""
    schema = snap.schema
    if columns is not None:
        schema = pa.schema([schema.field(c) for c in columns], metadata=schema.metadata)
    if snap.num_runs == 0:
        return schema.empty_table()
    reader = reader or ShardReader(store, columns=columns, cache_size=2)
    used = list(dict.fromkeys(snap.run_shard.tolist()))
    if snap.num_runs <= 64:
        pieces = [reader.table(ref.id).slice(start, count) for ref, start, count in snap.runs()]
        table = pa.concat_tables(pieces)
    else:
        tables, shift = [], np.zeros(len(snap.shards), dtype=np.int64)
        total = 0
        for si in used:
            t = reader.table(snap.shards[si].id)
            shift[si] = total
            total += t.num_rows
            tables.append(t)
        combined = pa.concat_tables(tables)
        starts = snap.run_start + shift[snap.run_shard]
        idx = np.repeat(starts - np.concatenate([[0], np.cumsum(snap.run_count)[:-1]]), snap.run_count) \
            + np.arange(int(snap.run_count.sum()), dtype=np.int64)
        table = combined.take(idx)
    return conform(table, schema)


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """Give rows read from shards the committed schema (types, nullability, metadata)."""
    if table.schema.equals(schema, check_metadata=True):
        return table
    try:
        return pa.Table.from_arrays(table.columns, schema=schema)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
        return table.cast(schema)


def schemas_compatible(a: pa.Schema, b: pa.Schema) -> bool:
    """Rows can be reused across these schemas: same names, types and nullability."""
    return strip_metadata(a).equals(strip_metadata(b))


def iter_snapshot(store: ObjectStore, snap: Snapshot, columns: list[str] | None = None,
                  max_rows: int = 1 << 17, reader: ShardReader | None = None):
    """The split's rows in order, as tables of about `max_rows` rows: memory stays bounded."""
    schema = snap.schema
    if columns is not None:
        schema = pa.schema([schema.field(c) for c in columns], metadata=schema.metadata)
    reader = reader or ShardReader(store, columns=columns, cache_size=2)
    pieces, rows = [], 0
    for ref, start, count in snap.runs():
        t = reader.table(ref.id)
        while count > 0:
            take = min(count, max_rows - rows)
            pieces.append(t.slice(start, take))
            rows += take
            start += take
            count -= take
            if rows >= max_rows:
                yield conform(pa.concat_tables(pieces), schema)
                pieces, rows = [], 0
    if pieces:
        yield conform(pa.concat_tables(pieces), schema)
