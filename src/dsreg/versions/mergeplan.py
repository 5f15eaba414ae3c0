"""The plan of one split's three-way merge, and building the merged snapshot from it.

A plan is arrays, not a row at a time: which rows of ours are cut or replaced (by a row
of theirs, or by a new row), which rows are appended, and the new rows as indices into a
pool of source tables (one column may come from ours and the next from theirs). Building
splices ours' runs at the edited rows in one pass over arrays, so its cost follows the
runs and the edits, not the rows.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from dsreg.diff.compare import row_locations
from dsreg.jsonvalues import to_jsonable
from dsreg.model.serialize import ShardRef, Snapshot
from dsreg.rows.arrowtypes import storage_schema
from dsreg.rows.snapshots import SnapshotBuilder

CUT, THEIRS, NEW = 0, 1, 2          # what an edit puts in place of a row of ours


def _ints(v, n: int) -> np.ndarray:
    return np.broadcast_to(np.asarray(v, dtype=np.int64), (n,)).copy()


@dataclass
class Side:
    """Rows of one side that matter: their key columns, each one's row number in the
    side's snapshot, the columns the side has (others read as absent), rows on demand
    (`fetch(indices, columns)`, storage types; columns None: all), and, when its schema
    matches the base's,
    stored row fingerprints (equal fingerprints: a row equal to the base's)."""
    keys: pa.Table
    pos: np.ndarray
    columns: frozenset[str]
    fetch: Callable[[np.ndarray, list[str] | None], pa.Table]
    fingerprints: np.ndarray | None = None

    @classmethod
    def of_table(cls, table: pa.Table, keys, columns: frozenset[str]) -> Side:
        def fetch(idx: np.ndarray, cols: list[str] | None) -> pa.Table:
            return (table if cols is None else table.select(cols)).take(pa.array(np.asarray(idx, dtype=np.int64)))
        return cls(table.select(list(keys)), np.arange(table.num_rows, dtype=np.int64), columns, fetch)


@dataclass
class SplitMerge:
    """The plan of one split's merge: what happens to ours' rows, what is appended, and
    the conflicts; `build` writes the rows neither side had whole."""
    split: str
    schema: pa.Schema
    ours: Snapshot | None
    theirs: Snapshot | None
    keys: tuple[str, ...]
    conflicts: list = field(default_factory=list)         # (key dict | None, column | None, base, ours, theirs)
    added: int = 0
    removed: int = 0
    modified: int = 0
    whole: Snapshot | None = None                         # a merged table built in memory (schema changes)
    whole_new: tuple[int, int] = (0, 0)                   # its new rows and bytes
    sources: list = field(default_factory=list)           # tables the new rows' cells come from (one pool)
    new_rows: list = field(default_factory=list)          # blocks (rows, columns) of indices into the pool
    _edits: list = field(default_factory=list)            # blocks (ours row, CUT|THEIRS|NEW, row)
    _appends: list = field(default_factory=list)          # blocks (THEIRS|NEW, row)
    _pool: int = 0
    _new: int = 0

    def edit(self, at, kind, idx) -> None:
        """Rows `at` of ours are cut (CUT) or become row `idx` of theirs (THEIRS) or new row `idx` (NEW)."""
        at = np.asarray(at, dtype=np.int64).reshape(-1)
        if len(at):
            self._edits.append((at, _ints(kind, len(at)), _ints(idx, len(at))))

    def append(self, kind, idx) -> None:
        idx = np.asarray(idx, dtype=np.int64).reshape(-1)
        if len(idx):
            self._appends.append((_ints(kind, len(idx)), idx))

    def edits(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(ours row, kind, row) of every edit, by ours' row."""
        if not self._edits:
            return (np.zeros(0, np.int64),) * 3
        at, kind, idx = (np.concatenate(x) for x in zip(*self._edits))
        order = np.argsort(at, kind="stable")
        return at[order], kind[order], idx[order]

    def appended(self) -> tuple[np.ndarray, np.ndarray]:
        if not self._appends:
            return (np.zeros(0, np.int64),) * 2
        kind, idx = (np.concatenate(x) for x in zip(*self._appends))
        return kind, idx

    def source(self, table: pa.Table) -> int:
        """Add a table to the pool new rows take cells from; returns its first row's index."""
        at = self._pool
        self.sources.append(table)
        self._pool += table.num_rows
        return at

    def new(self, cells: np.ndarray) -> np.ndarray:
        """New rows, each a row of pool indices (one per column of `schema`); their numbers."""
        cells = np.asarray(cells, dtype=np.int64).reshape(-1, len(self.schema))
        self.new_rows.append(cells)
        self._new += len(cells)
        return np.arange(self._new - len(cells), self._new, dtype=np.int64)

    def counts(self) -> dict[str, int]:
        return {"added": self.added, "removed": self.removed, "modified": self.modified,
                "conflicts": len(self.conflicts)}

    def conflict_table(self) -> pa.Table:
        key_cols = {k: [to_jsonable(c[0].get(k)) if c[0] else None for c in self.conflicts] for k in self.keys}
        cols: dict[str, list] = {"split": [self.split] * len(self.conflicts), **key_cols}
        for i, name in enumerate(("column", "base", "ours", "theirs")):
            cols[name] = [c[1 + i] for c in self.conflicts]
        schema = pa.schema([("split", pa.string())]
                           + [(k, self.schema.field(k).type if k in self.schema.names else pa.string())
                              for k in self.keys]
                           + [(n, pa.string()) for n in ("column", "base", "ours", "theirs")])
        try:
            return pa.Table.from_pydict(cols, schema=schema)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            schema = pa.schema([(n, pa.string()) for n in cols])
            return pa.Table.from_pydict({n: [None if v is None else str(v) for v in vs] for n, vs in cols.items()},
                                        schema=schema)


def to_json(v: Any) -> str | None:
    return json.dumps(to_jsonable(v), ensure_ascii=False, sort_keys=True)


def new_rows_table(m: SplitMerge) -> pa.Table:
    """The new rows, in storage types: one `take` per column over the pooled sources."""
    schema = storage_schema(m.schema)
    cells = np.concatenate(m.new_rows) if m.new_rows else np.zeros((0, len(schema)), np.int64)
    columns = []
    for j, f in enumerate(schema):
        pool = pa.chunked_array([ch for t in m.sources for ch in t[f.name].cast(f.type).chunks], type=f.type)
        columns.append(pool.take(pa.array(cells[:, j])))
    return pa.Table.from_arrays(columns, schema=schema)


def build(m: SplitMerge, store, shard_stats=None) -> tuple[Snapshot, int, int]:
    """The merged snapshot: ours' runs with the edits, then the appended rows. Returns it,
    the new rows and their new bytes."""
    if m.whole is not None:
        return m.whole, *m.whole_new
    new_snap, new_rows, new_bytes = None, 0, 0
    if m.new_rows:
        builder = SnapshotBuilder(store, m.schema, shard_stats=shard_stats)
        builder.add(new_rows_table(m))
        built = builder.finish()
        new_snap, new_rows, new_bytes = built.snapshot, built.new_rows, built.new_bytes
    snaps = [s for s in (m.ours, m.theirs, new_snap) if s is not None]
    refs = [r for s in snaps for r in s.shards]
    first: dict[str, int] = {}
    unified = np.array([first.setdefault(r.id, i) for i, r in enumerate(refs)] or [0], dtype=np.int64)
    offset = {id(s): o for s, o in zip(snaps, np.cumsum([0] + [len(s.shards) for s in snaps]).tolist())}

    def locate(snap: Snapshot | None, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if not len(rows):
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        assert snap is not None        # edits name only rows that exist
        g, r = row_locations(snap, rows)
        return unified[g + offset[id(snap)]], r

    at, kind, idx = m.edits()
    # ours' rows in pieces: cut at every run start and around every edited row
    pieces_g, pieces_s, pieces_c, pieces_p = [], [], [], []
    ours = m.ours
    if ours is not None and ours.rows:
        ends = np.cumsum(ours.run_count)
        bp = np.unique(np.concatenate([ends - ours.run_count, at, at + 1, [ours.rows]]))
        lo, hi = bp[:-1], bp[1:]
        plain = ~np.isin(lo, at)
        lo, hi = lo[plain], hi[plain]
        run = np.searchsorted(ends, lo, side="right")
        pieces_g.append(unified[ours.run_shard[run]])
        pieces_s.append(ours.run_start[run] + lo - (ends[run] - ours.run_count[run]))
        pieces_c.append(hi - lo)
        pieces_p.append(lo)
    for k, snap in ((THEIRS, m.theirs), (NEW, new_snap)):
        sel = kind == k
        g, r = locate(snap, idx[sel])
        pieces_g.append(g)
        pieces_s.append(r)
        pieces_c.append(np.ones(len(r), np.int64))
        pieces_p.append(at[sel])
    g, s, c, p = (np.concatenate(x) if x else np.zeros(0, np.int64)
                  for x in (pieces_g, pieces_s, pieces_c, pieces_p))
    order = np.argsort(p, kind="stable")
    g, s, c = g[order], s[order], c[order]
    akind, aidx = m.appended()
    tail_g, tail_s = np.zeros(len(aidx), np.int64), np.zeros(len(aidx), np.int64)
    for k, snap in ((THEIRS, m.theirs), (NEW, new_snap)):
        sel = akind == k
        tail_g[sel], tail_s[sel] = locate(snap, aidx[sel])
    g = np.concatenate([g, tail_g])
    s = np.concatenate([s, tail_s])
    c = np.concatenate([c, np.ones(len(aidx), np.int64)])
    return compose_arrays(m.schema, refs, g, s, c), new_rows, new_bytes


def compose_arrays(schema: pa.Schema, refs: list[ShardRef], g: np.ndarray, start: np.ndarray,
                   count: np.ndarray) -> Snapshot:
    """A snapshot reading rows `start[i]:start[i]+count[i]` of shard `refs[g[i]]` in
    order: adjacent pieces that continue each other become one run, and shards are listed
    in the order they are first read (as `compose` does)."""
    keep = count > 0
    g, start, count = g[keep], start[keep], count[keep]
    if len(g):
        heads = np.ones(len(g), dtype=bool)
        heads[1:] = (g[1:] != g[:-1]) | (start[1:] != start[:-1] + count[:-1])
        at = np.flatnonzero(heads)
        g, start, count = g[at], start[at], np.add.reduceat(count, at)
    uniq, first = np.unique(g, return_index=True)
    listed = uniq[np.argsort(first)]
    rank = np.empty(len(uniq), dtype=np.int64)
    rank[np.searchsorted(uniq, listed)] = np.arange(len(listed))
    run_shard = rank[np.searchsorted(uniq, g)] if len(g) else np.zeros(0, np.int64)
    return Snapshot(schema_ipc=schema.serialize().to_pybytes(), shards=tuple(refs[int(i)] for i in listed),
                    run_shard=run_shard.astype(np.int64), run_start=start.astype(np.int64),
                    run_count=count.astype(np.int64))


def compose(schema: pa.Schema, segments) -> Snapshot:
    """A snapshot reading these (shard, start, count) segments in order."""
    segments = list(segments)
    refs: list[ShardRef] = []
    index: dict[str, int] = {}
    g = np.array([index.setdefault(ref.id, len(index)) for ref, _, _ in segments], dtype=np.int64)
    for ref, _, _ in segments:
        if index[ref.id] == len(refs):
            refs.append(ref)
    return compose_arrays(schema, refs, g, np.array([s for _, s, _ in segments], dtype=np.int64),
                          np.array([c for _, _, c in segments], dtype=np.int64))


__all__ = ["Side", "SplitMerge", "CUT", "THEIRS", "NEW", "build", "compose", "compose_arrays", "new_rows_table",
           "to_json"]
