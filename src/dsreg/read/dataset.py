"""`Dataset`: a pinned, immutable view of one split of one commit, read as a table, as a
stream of batches, or in read units. The adapters (pandas, polars, DuckDB, Hugging Face
datasets, torch) are added above, in `dsreg.integrations.dataset`.

It knows only an object store and a snapshot: `dsreg.dataset` opens one from a registry,
from a remote (through the verified user cache), or from the lock file.
"""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from dsreg.errors import UsageError
from dsreg.model.objects import pin
from dsreg.model.serialize import ShardRef, Snapshot
from dsreg.read.files import ShardFile
from dsreg.read.plan import check_filter, filter_columns, read_columns
from dsreg.read.stream import prefetched, rebatch
from dsreg.read.units import DEFAULT_TARGET_BYTES, ReadUnit, plan_units, read_unit
from dsreg.rows.shards import ShardReader
from dsreg.rows.snapshots import read_snapshot, wanted_columns
from dsreg.store import ObjectStore

DEFAULT_BATCH_ROWS = 65536
PREFETCH_DEPTH = 4           # row groups decoded ahead of the consumer (each ~2 MiB stored)
ReaderFactory = Callable[[ObjectStore, "list[str] | None"], ShardReader]


class Dataset:
    """One split of one commit. Immutable: `select` and `filter` return new views."""

    def __init__(self, store: ObjectStore, snapshot: Snapshot, *, dataset: str, commit: str, split: str,
                 columns: list[str] | None = None, filter: pc.Expression | None = None,
                 shard_reader: ReaderFactory | None = None, spec: str | None = None):
        self.store = store
        self.snapshot = snapshot
        self.dataset, self.commit, self.split = dataset, commit, split
        committed = snapshot.schema
        columns = wanted_columns(columns, committed, f"{spec or dataset + '@' + commit[:12]} split {split!r}")
        self.columns = columns
        self.filter = check_filter(filter, committed) if filter is not None else None
        self._committed = committed
        self._read = read_columns(columns, self.filter, committed)
        self._shard_reader = shard_reader
        self._units: dict[int, list[ReadUnit]] = {}
        self._files: OrderedDict[str, ShardFile] = OrderedDict()
        self._num_rows: int | None = None if self.filter is not None else snapshot.rows
        # how to open this version again in another process (a DataLoader worker started
        # by spawn): set by whoever opened it; a pickled Dataset carries only this
        self.reopen: Callable[[], Dataset] | None = None

    def __reduce__(self):
        if self.reopen is None:
            raise TypeError("this Dataset cannot be pickled: open it with dsreg.dataset()")
        return (_reopened, (self.reopen, self.columns, self.filter))

    # -- what it is ---------------------------------------------------------------------
    @property
    def schema(self) -> pa.Schema:
        """The committed schema of the columns read, with the version pinned in its metadata."""
        s = self._committed
        if self.columns is not None:
            s = pa.schema([s.field(c) for c in self.columns], metadata=s.metadata)
        return pin(s.empty_table(), self.dataset, self.commit, self.split).schema

    @property
    def num_rows(self) -> int:
        """Rows this view reads (with a filter: counted once, reading only its columns)."""
        if self._num_rows is None:
            cols = filter_columns(self.filter, self._committed) or self._committed.names[:1]
            self._num_rows = sum(t.num_rows for u in self.read_units()
                                 for t in read_unit(u, self._open, self._committed, cols, cols, self.filter))
        return self._num_rows

    def __len__(self) -> int:
        return self.num_rows

    def __repr__(self) -> str:
        return (f"Dataset({self.dataset}@{self.commit[:12]}, split={self.split!r}, "
                f"columns={self.columns!r}, filter={str(self.filter) if self.filter is not None else None})")

    def select(self, columns: list[str]) -> Dataset:
        return self._view(columns=columns, filter=self.filter)

    def where(self, expr: pc.Expression) -> Dataset:
        """Only the rows matching `expr` too (and-ed with this view's filter)."""
        combined = expr if self.filter is None else (self.filter & expr)
        return self._view(columns=self.columns, filter=combined)

    def _view(self, columns, filter) -> Dataset:
        view = type(self)(self.store, self.snapshot, dataset=self.dataset, commit=self.commit, split=self.split,
                       columns=columns, filter=filter, shard_reader=self._shard_reader)
        view.reopen = self.reopen
        return view

    # -- read units ---------------------------------------------------------------------
    def read_units(self, target_bytes: int = DEFAULT_TARGET_BYTES) -> list[ReadUnit]:
        """The split as units of work near `target_bytes` of stored data each, aligned to
        row groups, without the row groups the filter's statistics rule out."""
        got = self._units.get(target_bytes)
        if got is None:
            got = plan_units(self.snapshot, self._footers(), target_bytes, self.filter)
            self._units[target_bytes] = got
        return got

    def read_unit(self, unit: ReadUnit) -> pa.Table:
        """One unit's rows (projected and filtered), as a table with this view's schema."""
        parts = list(self._unit_tables(unit))
        return pa.concat_tables(parts) if parts else self.schema.empty_table()

    def _unit_tables(self, unit: ReadUnit) -> Iterator[pa.Table]:
        schema = self.schema
        for t in read_unit(unit, self._open, self._committed, self.columns, self._read, self.filter):
            yield t.replace_schema_metadata(schema.metadata)

    def _footers(self) -> Callable[[ShardRef], ShardFile]:
        """Footers for planning: from a remote, fetched several at a time (each is a
        round trip or two), so planning costs a few round trips, not two per shard."""
        refs = list({r.id: r for r in self.snapshot.shards}.values())
        opened: dict[str, ShardFile] = {}
        if self.store.prefers_ranges and len(refs) > 1:
            from concurrent.futures import ThreadPoolExecutor
            with ThreadPoolExecutor(min(8, len(refs))) as pool:
                opened = dict(zip((r.id for r in refs), pool.map(self._footer, refs)))
        return lambda ref: opened.get(ref.id) or self._footer(ref)

    def _footer(self, ref: ShardRef) -> ShardFile:
        """A shard opened for its footer alone (planning): by range, so that planning a
        remote version does not download every shard before the first batch."""
        f = self._files.get(ref.id)
        return f if f is not None else ShardFile(self.store, ref, ranged=True)

    def _open(self, ref: ShardRef) -> ShardFile:
        f = self._files.pop(ref.id, None)
        if f is None:
            # by range where that is cheap (local files) or saves bytes (a projection)
            ranged = not self.store.prefers_ranges or self._read is not None
            f = ShardFile(self.store, ref, ranged=ranged)
            while len(self._files) >= 8:
                self._files.popitem(last=False)
        self._files[ref.id] = f
        return f

    # -- streams --------------------------------------------------------------------------
    def to_batches(self, batch_size: int = DEFAULT_BATCH_ROWS, *, prefetch: int = PREFETCH_DEPTH,
                   units: list[ReadUnit] | None = None) -> Iterator[pa.RecordBatch]:
        """The rows in order as record batches of `batch_size` rows (the last may be
        shorter). Memory holds a few row groups and one batch, never the split: the next
        row groups are read and decoded in a background thread meanwhile."""
        if batch_size <= 0:
            raise UsageError("batch_size must be positive")
        chosen = self.read_units() if units is None else units

        def tables() -> Iterator[pa.Table]:
            # a worker of its own: ShardFile caches are not shared across threads
            reader = self._view(self.columns, self.filter)
            for i, unit in enumerate(chosen):
                # a clone's data on demand: start fetching the next units' shards now
                ahead = [s for u in chosen[i:i + 2] for s in u.shards]
                self.store.prefetch(ahead)  # type: ignore[arg-type]
                yield from reader._unit_tables(unit)
        return rebatch(prefetched(tables, prefetch), batch_size, self.schema)

    def to_reader(self, batch_size: int = DEFAULT_BATCH_ROWS) -> pa.RecordBatchReader:
        """A `pyarrow.RecordBatchReader` over `to_batches`: for engines that take one."""
        return pa.RecordBatchReader.from_batches(self.schema, self.to_batches(batch_size))

    def to_table(self) -> pa.Table:
        """All the rows, in memory."""
        if self.filter is None:
            snap = self.snapshot
            self.store.prefetch([snap.shards[i].id for i in dict.fromkeys(snap.run_shard.tolist())])
            reader = self._shard_reader(self.store, self.columns) if self._shard_reader else None
            table = read_snapshot(self.store, snap, columns=self.columns, reader=reader)
            return pin(table, self.dataset, self.commit, self.split)
        parts = [pa.Table.from_batches([b]) for b in self.to_batches()]
        return pa.concat_tables(parts) if parts else self.schema.empty_table()


def _reopened(reopen: Callable[[], Dataset], columns: list[str] | None, filter: pc.Expression | None) -> Dataset:
    base = reopen()
    view = base._view(columns, filter)
    return view


def open_dataset(reg: Any, spec: str, split: str = "train", columns: list[str] | None = None,
                 filter: pc.Expression | None = None) -> Dataset:
    """A `Dataset` of NAME[@REV] in a registry."""
    from dsreg.model.objects import get_commit, split_snapshot
    from dsreg.model.revisions import resolve
    rev = resolve(reg, spec)
    snap = split_snapshot(reg, get_commit(reg, rev.commit_id), split, spec)
    return Dataset(reg.store, snap, dataset=rev.dataset, commit=rev.commit_id, split=split,
                   columns=columns, filter=filter, spec=spec)
