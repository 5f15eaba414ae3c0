"""A split's rows as runs over shards: building one from a stream of batches against a
base version (reusing every row proven equal), and reading one back."""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from dsreg.errors import CorruptObject, UsageError
from dsreg.model.serialize import ShardRef, Snapshot
from dsreg.rows.arrowtypes import conform, same_type, storage_schema, strip_metadata
from dsreg.rows.cutter import ShardCutter
from dsreg.rows.equality import canonical_table, tables_equal
from dsreg.rows.fingerprint import row_fingerprints, row_nbytes
from dsreg.rows.fit import misfit
from dsreg.rows.shards import DEFAULT_SHARD_SETTINGS, ShardReader, ShardSettings, ShardStats
from dsreg.rows.sorting import stable_argsort
from dsreg.store import ObjectStore

Progress = Callable[[int], None]   # called with rows just processed


def _noop(_: int) -> None:
    pass


_MIN_MEAN_RUN = 16     # verify matches by slices when their runs average at least this many rows
_COMPACT_RUN_ROWS = 1 << 16   # a loaded table of shorter runs on average is copied into one chunk


def _indices(rows: np.ndarray) -> pa.Array:
    """Row positions for `take`, as an Arrow array made without a conversion: converting a
    numpy array imports pandas (0.5-1.5 s, once per process), which a commit never needs."""
    rows = np.ascontiguousarray(rows, dtype=np.int64)
    return pa.Array.from_buffers(pa.int64(), len(rows), [None, pa.py_buffer(rows)])


class BaseIndex:
    """Every row of the base snapshots, findable by fingerprint (of the current scheme:
    stored ones of another scheme are computed again, see `ShardReader.fingerprints`).

    `shard_fps`: the fingerprints of each snapshot's shards, in order, as `read_fingerprints`
    gives them; the index is then built without the store, so a thread may build it while
    the caller goes on (reading a store may touch the manifest, which is the caller's)."""

    def __init__(self, reader: ShardReader, snapshots: Iterable[Snapshot],
                 shard_fps: list[list[np.ndarray]] | None = None):
        self.reader = reader
        self.shards: list[ShardRef] = []
        snapshots = list(snapshots)
        if shard_fps is None:
            shard_fps = read_fingerprints(reader, snapshots)
        index: dict[str, int] = {}
        fps, shard_of, row_of = [], [], []
        for snap, their_fps in zip(snapshots, shard_fps):
            if not snap.num_runs:
                continue
            # a snapshot of scattered edits has a run per edit: gathered at once, not run by run
            for ref in snap.shards:
                if ref.id not in index:
                    index[ref.id] = len(self.shards)
                    self.shards.append(ref)
            mine = np.array([index[ref.id] for ref in snap.shards], dtype=np.int32)
            first = np.concatenate([[0], np.cumsum(snap.run_count)[:-1]])
            rows = np.repeat(snap.run_start - first, snap.run_count) + np.arange(snap.rows, dtype=np.int64)
            of = np.repeat(snap.run_shard, snap.run_count)
            shift = np.concatenate([[0], np.cumsum([len(f) for f in their_fps])[:-1]]).astype(np.int64)
            fps.append(np.concatenate(their_fps)[shift[of] + rows])
            shard_of.append(mine[of])
            row_of.append(rows)
        self.fps = np.concatenate(fps) if fps else np.zeros(0, np.uint64)
        self.shard_of = np.concatenate(shard_of) if shard_of else np.zeros(0, np.int32)
        self.row_of = np.concatenate(row_of) if row_of else np.zeros(0, np.int64)
        self.order = stable_argsort(self.fps)
        self.sorted_fps = self.fps[self.order]

    def __len__(self) -> int:
        return len(self.fps)

    def match(self, fps: np.ndarray, previous: int) -> np.ndarray:
        """Base position for each fingerprint (-1: none), preferring continuations of the
        previous row's match so that runs stay long where the base has duplicate rows."""
        return self.resolve(fps, self.lookup(fps), previous)

    def lookup(self, fps: np.ndarray) -> Lookup:
        """The first half of `match`, which depends on the fingerprints alone (so a thread
        may look up the next batch while the current one is matched): a candidate base
        position for each (-1: none), and whether the base holds its fingerprint more than once."""
        n = len(self.fps)
        if n == 0 or len(fps) == 0:
            return Lookup(np.full(len(fps), -1, dtype=np.int64), np.zeros(len(fps), dtype=bool))
        # sorted needles: numpy's binary search then starts from the previous answer (8x
        # faster); their order among equal values does not matter
        needles = np.argsort(fps)
        lo = np.empty(len(fps), dtype=np.int64)
        lo[needles] = np.searchsorted(self.sorted_fps, fps[needles], side="left")
        found = self.sorted_fps[np.minimum(lo, n - 1)] == fps
        pos = np.where(found, self.order[np.minimum(lo, n - 1)], -1).astype(np.int64)
        several = found & (self.sorted_fps[np.minimum(lo + 1, n - 1)] == fps) & (lo + 1 < n)
        return Lookup(pos, several)

    def resolve(self, fps: np.ndarray, looked_up: Lookup, previous: int) -> np.ndarray:
        """The second half of `match`: the candidates of `lookup`, continuations preferred."""
        pos = looked_up.pos.copy()
        # A fingerprint the base holds once has one candidate, which is the continuation
        # whenever there is one. A fingerprint held several times (duplicate rows) may
        # match any of them: take the row right after the previous row's match when it
        # fits. This is a chain, so it is decided row by row, but only for such rows;
        # identical data then maps onto the base row for row and gives the same runs.
        n, base_fps = len(self.fps), self.fps
        for i in np.flatnonzero(looked_up.several).tolist():
            nxt = (int(pos[i - 1]) if i else previous) + 1
            if 0 < nxt < n and base_fps[nxt] == fps[i]:
                pos[i] = nxt
        return pos


@dataclass(frozen=True)
class Lookup:
    """What `BaseIndex.lookup` found for a batch's fingerprints."""
    pos: np.ndarray         # a base position per row, -1 where none
    several: np.ndarray     # the base holds the row's fingerprint more than once


def read_fingerprints(reader: ShardReader, snapshots: Iterable[Snapshot]) -> list[list[np.ndarray]]:
    """The row fingerprints of each snapshot's shards, in order (what `BaseIndex` indexes)."""
    return [[reader.fingerprints(ref, snap.schema) for ref in snap.shards] for snap in snapshots]


@dataclass(frozen=True)
class Prepared:
    """A batch ready to be added: in storage form, with its row fingerprints and sizes, and
    what they found in the base index if one was given (`prepare`)."""
    table: pa.Table
    fps: np.ndarray
    sizes: np.ndarray
    looked_up: Lookup | None = None


def prepare(batch: pa.RecordBatch | pa.Table, storage: pa.Schema, base: BaseIndex | None = None) -> Prepared:
    """The batch in storage form (`storage`: `storage_schema` of the split's schema) with
    its fingerprints and sizes, looked up in `base`: what `SnapshotBuilder.add` needs first.
    It depends on the batch and the index alone, not on a builder, so a thread may prepare
    the next batches while a builder takes this one, or before the builder exists (see
    pipeline.py)."""
    table = batch if isinstance(batch, pa.Table) else pa.Table.from_batches([batch])
    if table.num_rows == 0:
        return Prepared(table, np.zeros(0, np.uint64), np.zeros(0, np.int64))
    if not all(same_type(c.type, f.type) for c, f in zip(table.columns, storage)):
        table = pa.Table.from_arrays([c if same_type(c.type, f.type) else c.cast(f.type)
                                      for c, f in zip(table.columns, storage)], schema=storage)
    fps = row_fingerprints(table)
    looked_up = base.lookup(fps) if base is not None and len(base) else None
    return Prepared(table, fps, row_nbytes(table), looked_up)


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
                 prefix: Snapshot | None = None, progress: Progress = _noop,
                 settings: ShardSettings = DEFAULT_SHARD_SETTINGS, shard_stats: ShardStats | None = None):
        # shard_stats: computes the column statistics new shards carry (None: none, they
        # are computed when first needed)
        self.store = store
        self.schema = schema
        self.storage_schema = storage_schema(schema)   # the form rows are matched and stored in
        self.base = base if base is not None and len(base) else None
        self.cutter = ShardCutter(store, settings=settings, shard_stats=shard_stats)
        self.progress = progress
        self.reader = base.reader if base is not None else ShardReader(store)
        # runs: (kind, a, b, count); kind 0 = base shard index/row, 1 = new-row index
        self._runs: list[tuple[int, int, int, int]] = []
        self._base_shards: list[ShardRef] = list(self.base.shards) if self.base else []
        self._shard_index = {s.id: i for i, s in enumerate(self._base_shards)}
        self._last_match = -1
        self._proofs: dict[str, pa.Table] = {}     # see _proof_rows
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
        self.add_prepared(self.prepare(batch))

    def prepare(self, batch: pa.RecordBatch | pa.Table) -> Prepared:
        return prepare(batch, self.storage_schema)

    def add_prepared(self, prepared: Prepared) -> None:
        table, fps, sizes = prepared.table, prepared.fps, prepared.sizes
        n = table.num_rows
        if n == 0:
            return
        pos = self._match(table, fps, prepared.looked_up)
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
            self.cutter.add(table.take(_indices(new_mask_rows)) if len(new_mask_rows) < n else table,
                            fps[new_mask_rows], sizes[new_mask_rows])
        new_seen = 0
        for s, e in zip(starts.tolist(), ends.tolist()):
            if is_new[s]:
                self._add_run(1, first_new + new_seen, 0, e - s)
                new_seen += e - s
            else:
                assert self.base is not None        # a reused row matched the base
                ref = self.base.shards[int(shard[s])]
                self._add_run(0, self._base_shard(ref), int(row[s]), e - s)
                self.reused += e - s
        self._last_match = int(pos[-1])
        self.progress(n)

    def _match(self, table: pa.Table, fps: np.ndarray, looked_up: Lookup | None) -> np.ndarray:
        if self.base is None:
            return np.full(len(fps), -1, dtype=np.int64)
        # looked up by `prepare` (in the index this builder was given), or now
        pos = self.base.match(fps, self._last_match) if looked_up is None else \
            self.base.resolve(fps, looked_up, self._last_match)
        hit = np.flatnonzero(pos >= 0)
        if len(hit):
            self._verify(table, pos, hit)
        return pos

    def _verify(self, table: pa.Table, pos: np.ndarray, hit: np.ndarray) -> None:
        """Prove proposed matches equal; turn the ones that are not into new rows.

        Matches come in runs of consecutive rows on both sides; each side is gathered as
        zero-copy slices, one per run, rather than copied row by row with `take`, unless
        the runs are so short that slicing costs more."""
        assert self.base is not None        # only rows that matched the base come here
        shard_idx, rows = self.base.shard_of[pos[hit]], self.base.row_of[pos[hit]]
        brk = np.ones(len(hit), dtype=bool)
        brk[1:] = (hit[1:] != hit[:-1] + 1) | (shard_idx[1:] != shard_idx[:-1]) | (rows[1:] != rows[:-1] + 1)
        starts = np.flatnonzero(brk)
        self._read_ahead(shard_idx[starts])     # one entry per run: the shards in order of need
        if len(starts) * _MIN_MEAN_RUN > len(hit):
            base = self._base_rows(pos[hit])
            new = table.take(_indices(hit))
        else:
            # both sides in comparison form once (a batch, a base shard), then sliced
            counts = np.diff(np.append(starts, len(hit))).tolist()
            canon = canonical_table(table)
            new = pa.concat_tables([canon.slice(a, c) for a, c in zip(hit[starts].tolist(), counts)])
            base = pa.concat_tables([self._proof_rows(si).slice(r, c)
                                     for si, r, c in zip(shard_idx[starts].tolist(), rows[starts].tolist(), counts)])
        bad = self._unequal(new, base, 0)
        if bad:
            pos[hit[np.asarray(bad, dtype=np.int64)]] = -1

    def _proof_rows(self, si: int) -> pa.Table:
        """Base shard `si` as new rows are compared with it: in the types they have, each
        column in comparison form (see equality.py); the last two at hand."""
        assert self.base is not None
        sid = self.base.shards[si].id
        got = self._proofs.pop(sid, None)
        if got is None:
            got = canonical_table(conform(self.reader.table(sid), self.storage_schema))
            while len(self._proofs) >= 2:
                self._proofs.pop(next(iter(self._proofs)))
        self._proofs[sid] = got
        return got

    def _read_ahead(self, shard_idx: np.ndarray) -> None:
        """Have the reader decode, while this batch is verified, the base shard the next
        batch most likely needs: the second one this batch needs (the first is decoded now),
        else the one after the last (edited data mostly follows the base's order)."""
        assert self.base is not None
        needed = list(dict.fromkeys(shard_idx.tolist()))
        later = [*needed[1:], needed[-1] + 1] if needed else []
        for si in later:
            if si < len(self.base.shards):
                self.reader.prefetch(self.base.shards[si].id)
                return

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
        assert self.base is not None        # positions in the base
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
        # in the types the new rows have, so that equal rows compare equal
        return conform(combined.take(_indices(rows + shift[shard_idx])), self.storage_schema)

    def finish(self) -> BuildResult:
        self.cutter.finish()
        bounds = np.asarray(self.cutter.bounds, dtype=np.int64)
        shards = list(self._base_shards)
        index = dict(self._shard_index)
        run_shard: list[int] = []
        run_start: list[int] = []
        run_count: list[int] = []

        def emit(si: int, start: int, count: int) -> None:
            if run_count and run_shard[-1] == si and run_start[-1] + run_count[-1] == start:
                run_count[-1] += count
            else:
                run_shard.append(si)
                run_start.append(start)
                run_count.append(count)

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


def wanted_columns(columns, schema: pa.Schema, where: str) -> list[str] | None:
    """`columns=` of a load, checked: None, or a list of distinct columns of `schema`."""
    if columns is None:
        return None
    if isinstance(columns, (str, bytes)):
        raise UsageError(f"columns= takes a list of column names, not the string {columns!r}",
                         f"use columns=[{columns!r}]")
    columns = list(columns)
    unknown = [col for col in columns if not isinstance(col, str) or col not in schema.names]
    if unknown:
        raise UsageError(f"{where} has no column {unknown[0]!r}", f"columns: {', '.join(schema.names)}")
    twice = sorted({col for col in columns if columns.count(col) > 1})
    if twice:
        raise UsageError(f"columns= names {', '.join(map(repr, twice))} more than once")
    return columns


def read_snapshot(store: ObjectStore, snap: Snapshot, columns: list[str] | None = None,
                  reader: ShardReader | None = None) -> pa.Table:
    """The split's rows, in order, with the committed schema (metadata included)."""
    schema = snap.schema
    if columns is not None:
        schema = pa.schema([schema.field(c) for c in columns], metadata=schema.metadata)
    if snap.num_runs == 0:
        return schema.empty_table()
    reader = reader or ShardReader(store, columns=columns, cache_size=2)
    storage = storage_schema(schema)
    used = list(dict.fromkeys(snap.run_shard.tolist()))
    if snap.num_runs <= 64:
        pieces = [shard_rows(reader, ref, storage).slice(start, count) for ref, start, count in snap.runs()]
        table = pa.concat_tables(pieces)
    elif snap.rows >= _MIN_MEAN_RUN * snap.num_runs:
        # many runs, but long ones (scattered edits): each shard read once, the runs
        # sliced out and, if they are short, copied together once (3x faster than
        # gathering row by row); runs of whole shards stay as they are, uncopied
        tables = {si: shard_rows(reader, snap.shards[si], storage) for si in used}
        table = pa.concat_tables([tables[si].slice(start, count) for si, start, count in zip(
            snap.run_shard.tolist(), snap.run_start.tolist(), snap.run_count.tolist())])
        if snap.rows < _COMPACT_RUN_ROWS * snap.num_runs:
            table = table.combine_chunks()
    else:
        pieces, shift = [], np.zeros(len(snap.shards), dtype=np.int64)
        total = 0
        for si in used:
            t = shard_rows(reader, snap.shards[si], storage)
            shift[si] = total
            total += t.num_rows
            pieces.append(t)
        combined = pa.concat_tables(pieces)
        starts = snap.run_start + shift[snap.run_shard]
        idx = np.repeat(starts - np.concatenate([[0], np.cumsum(snap.run_count)[:-1]]), snap.run_count) \
            + np.arange(int(snap.run_count.sum()), dtype=np.int64)
        table = combined.take(idx)
    return conform(table, schema)


def shard_rows(reader: ShardReader, ref: ShardRef, storage: pa.Schema) -> pa.Table:
    """A shard's rows, as many and of the kinds its snapshot says (`storage`: the columns
    read, in storage form): a damaged or forged snapshot must not read fewer rows, or
    other values, without a word."""
    table = reader.table(ref.id)
    if table.num_rows != ref.rows:
        raise CorruptObject(f"shard {ref.id} holds {table.num_rows} rows, but a snapshot says {ref.rows}",
                            "run 'dsreg fsck'")
    why = misfit(table.schema, storage)
    if why:
        raise CorruptObject(f"shard {ref.id} does not fit its snapshot's schema: {why}", "run 'dsreg fsck'")
    return table


def schemas_compatible(a: pa.Schema, b: pa.Schema) -> bool:
    """Rows can be reused across these schemas: same names, types and nullability."""
    return strip_metadata(a).equals(strip_metadata(b))


def iter_snapshot(store: ObjectStore, snap: Snapshot, columns: list[str] | None = None,
                  max_rows: int = 1 << 17, reader: ShardReader | None = None):
    """The split's rows in order, as tables of at most `max_rows` rows: memory stays
    bounded (a window of rows, plus the shards the reader keeps at hand)."""
    schema = snap.schema
    if columns is not None:
        schema = pa.schema([schema.field(c) for c in columns], metadata=schema.metadata)
    reader = reader or ShardReader(store, columns=columns, cache_size=2)
    storage = storage_schema(schema)
    ends = np.cumsum(snap.run_count)
    total = int(ends[-1]) if len(ends) else 0
    for w0 in range(0, total, max_rows):
        w1 = min(w0 + max_rows, total)
        # the runs overlapping rows [w0, w1), clipped to them
        first = int(np.searchsorted(ends, w0, side="right"))
        last = int(np.searchsorted(ends, w1, side="left")) + 1
        shard = snap.run_shard[first:last]
        begin = ends[first:last] - snap.run_count[first:last]
        start = snap.run_start[first:last] + np.maximum(w0 - begin, 0)
        count = np.minimum(ends[first:last], w1) - np.maximum(begin, w0)
        if len(count) <= 64:
            pieces = [shard_rows(reader, snap.shards[si], storage).slice(a, c)
                      for si, a, c in zip(shard.tolist(), start.tolist(), count.tolist())]
            yield conform(pa.concat_tables(pieces), schema)
            continue
        # a fragmented window: read each shard it uses once, take its rows, then restore
        # the order (slicing run by run would reread shards that fell out of the cache)
        rows = np.repeat(start - np.concatenate([[0], np.cumsum(count)[:-1]]), count) + \
            np.arange(int(count.sum()), dtype=np.int64)
        of_shard = np.repeat(shard, count)
        pieces, where = [], []
        for si in dict.fromkeys(shard.tolist()):
            mine = np.flatnonzero(of_shard == si)
            pieces.append(shard_rows(reader, snap.shards[si], storage).take(rows[mine]))
            where.append(mine)
        gathered = pa.concat_tables(pieces) if len(pieces) > 1 else pieces[0]
        order = np.argsort(np.concatenate(where), kind="stable")
        yield conform(gathered.take(order), schema)
