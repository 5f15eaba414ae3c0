"""The three-way merge of one split: base, ours (the branch merged into) and theirs.

Only rows that differ from the base on either side are read (diff's `changed_positions`
skips shared runs and pairs the rest by stored fingerprints). The merged split is ours,
edited: rows theirs deleted are cut out, rows it changed are replaced in place, rows it
added are appended in its order. Runs of ours stay as they are, a row taken whole from
theirs is a run over theirs' shard, and only rows neither side had whole are written.

With keys, rows pair by key and merge cell by cell: a cell changed on one side takes
that change, the same change on both is no conflict, two different changes are; so are
delete against modify and one new key inserted with different rows. Without keys rows
merge as multisets: a row's count is ours + theirs - base (at least 0), except that a
split both sides left identical is taken as it is (the same change, made twice, counts once).

When the three schemas differ (a column added, removed or retyped on one side) the
split is read whole and merged in memory under the merged schema; keyless rows then
refuse to merge (their identity is the whole row, which the schema change altered).
"""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from dsreg.diff.compare import changed_positions, row_locations, take_rows
from dsreg.jsonvalues import to_jsonable
from dsreg.model.serialize import ShardRef, Snapshot
from dsreg.rows.arrowtypes import storage_schema
from dsreg.rows.fingerprint import hash_array, row_fingerprints
from dsreg.rows.shards import ShardReader
from dsreg.rows.snapshots import SnapshotBuilder

_ABSENT = np.uint64(0x9E3779B97F4A7C15)   # the hash of a cell a side does not have


@dataclass
class Side:
    """Rows of one side: a table (the rows that matter), and for each its row number in
    the side's snapshot (-1: none)."""
    table: pa.Table
    pos: np.ndarray
    columns: frozenset[str]      # columns the side has (others read as absent)


@dataclass
class SplitMerge:
    """The plan of one split's merge: what happens to ours' rows, what is appended, and
    the conflicts; `build` writes the rows neither side had whole."""
    split: str
    schema: pa.Schema
    ours: Snapshot | None
    theirs: Snapshot | None
    keys: tuple[str, ...]
    edits: dict[int, Any] = field(default_factory=dict)   # ours row -> None (cut) | ("t", pos) | ("n", i)
    appends: list = field(default_factory=list)           # ("t", pos) | ("n", i)
    new_rows: list = field(default_factory=list)          # per new row: {column: (source, index)} | None
    sources: list = field(default_factory=list)           # tables the new rows' cells come from
    conflicts: list = field(default_factory=list)         # (key dict | None, column | None, base, ours, theirs)
    added: int = 0
    removed: int = 0
    modified: int = 0
    whole: Snapshot | None = None                         # a merged table built in memory (schema changes)
    whole_new: tuple[int, int] = (0, 0)                   # its new rows and bytes

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


def _json(v: Any) -> str | None:
    return json.dumps(to_jsonable(v), ensure_ascii=False, sort_keys=True)


def _hashes(side: Side, schema: pa.Schema) -> dict[str, np.ndarray]:
    n = side.table.num_rows
    return {f.name: hash_array(side.table[f.name]) if f.name in side.columns else np.full(n, _ABSENT)
            for f in schema}


def _key_index(side: Side, keys: tuple[str, ...]) -> dict[tuple, int]:
    from dsreg.errors import DuplicateMergeKey
    out: dict[tuple, int] = {}
    cols = [side.table[k].to_pylist() for k in keys]
    for i, key in enumerate(zip(*cols)):
        if key in out:
            raise DuplicateMergeKey(dict(zip(keys, key)))
        out[key] = i
    return out


def merge_rows(m: SplitMerge, base: Side, ours: Side, theirs: Side, ours_kept: Callable[[int], int],
               theirs_kept: Callable[[int], bool], strategy: str, resolve: dict[tuple, Any] | None) -> None:
    """Keyed merge of the rows that matter. `ours_kept(i)`: the row number in ours of base
    row i when ours kept it unchanged, else -1; `theirs_kept(i)`: whether theirs kept it."""
    keys, schema = m.keys, m.schema
    hb, ho, ht = (_hashes(s, schema) for s in (base, ours, theirs))
    ib, io, it = (_key_index(s, keys) for s in (base, ours, theirs))
    m.sources = [base.table, ours.table, theirs.table]
    cols = schema.names

    # a row changed when a cell of a column both it and the base have changed: a column
    # added or removed is a change of the schema, not of every row
    compared = {id(s): [c for c in cols if c in base.columns and c in s.columns] for s in (ours, theirs)}

    def state(side: Side, idx: dict, hs: dict, key, b: int | None, kept: bool) -> tuple[str, int]:
        if key in idx:
            i = idx[key]
            if b is not None and all(hs[c][i] == hb[c][b] for c in compared[id(side)]):
                return "base", b            # present, and equal to the base row
            return "row", i
        if b is None:
            return "none", -1
        return ("base", b) if kept else ("gone", -1)

    # columns a side added: a row both sides have merges cell by cell even where neither
    # changed the base's cells, so each side's new cells are kept (and differ: conflict)
    added_cols = [c for c in cols if c not in base.columns]
    for key in dict.fromkeys([*ib, *io, *it]):
        b = ib.get(key)
        so, i_o = state(ours, io, ho, key, b, b is not None and ours_kept(b) >= 0)
        st, i_t = state(theirs, it, ht, key, b, b is not None and theirs_kept(b))
        if added_cols and key in io and key in it:
            so, i_o, st, i_t = "row", io[key], "row", it[key]
        if st in ("base", "none") or so == st == "gone":
            continue                                 # theirs changed nothing here: ours stands
        if so == "row":
            ours_at = int(ours.pos[i_o])
        elif so == "base":
            ours_at = int(ours.pos[io[key]]) if key in io else ours_kept(b)   # type: ignore[arg-type]
        else:
            ours_at = -1
        theirs_pos = int(theirs.pos[i_t]) if st == "row" else -1
        kd = dict(zip(keys, key))
        if so in ("base", "none"):                   # only theirs changed the row: take theirs
            _take_theirs(m, st, ours_at, theirs_pos)
            continue
        if "gone" in (so, st):                       # delete against modify
            desc = [_json(_row(base.table, b)) if b is not None else None,
                    _json(_row(ours.table, i_o)) if so == "row" else None,
                    _json(_row(theirs.table, i_t)) if st == "row" else None]
            if not _settle(m, key, kd, strategy, resolve, ours_at, desc):
                _take_theirs(m, st, ours_at, theirs_pos)
            continue
        # both sides have the row (changed, or inserted): cell by cell
        pick: dict[str, tuple[int, int]] = {}
        clashes = []
        for c in cols:
            bc = hb[c][b] if b is not None else _ABSENT
            oc, tc = ho[c][i_o], ht[c][i_t]
            if oc == tc or tc == bc:
                pick[c] = (1, i_o)
            elif oc == bc:
                pick[c] = (2, i_t)
            else:
                clashes.append(c)
                pick[c] = (2, i_t) if strategy == "theirs" else (1, i_o)
        if clashes and resolve is not None and key in resolve:
            _replace(m, ours_at, resolve[key])
            continue
        if clashes and strategy == "fail":
            for c in clashes:
                m.conflicts.append((kd, c, _json(_cell(base.table, b, c)) if b is not None else None,
                                    _json(_cell(ours.table, i_o, c)), _json(_cell(theirs.table, i_t, c))))
            continue
        if all(s == 1 for s, _ in pick.values()):
            continue
        if all(s == 2 for s, _ in pick.values()):
            _take_theirs(m, "row", ours_at, theirs_pos)
        else:
            _replace(m, ours_at, pick)


def _settle(m: SplitMerge, key, kd, strategy, resolve, ours_at: int, desc) -> bool:
    """A row-level conflict: settled by the resolve file or `ours`; else recorded (fail)."""
    if resolve is not None and key in resolve:
        _replace(m, ours_at, resolve[key])
        return True
    if strategy == "ours":
        return True
    if strategy == "fail":
        m.conflicts.append((kd, None, *desc))
        return True
    return False


def _take_theirs(m: SplitMerge, st: str, ours_at: int, theirs_pos: int) -> None:
    if st == "gone":
        if ours_at >= 0:
            m.edits[ours_at] = None
            m.removed += 1
        return
    if ours_at >= 0:
        m.edits[ours_at] = ("t", theirs_pos)
        m.modified += 1
    else:
        m.appends.append(("t", theirs_pos))
        m.added += 1


def _replace(m: SplitMerge, ours_at: int, cells) -> None:
    """A new row (cells: {column: (source, index)}, or a resolve row as a 1-row table)."""
    m.new_rows.append(cells)
    entry = ("n", len(m.new_rows) - 1)
    if ours_at >= 0:
        m.edits[ours_at] = entry
        m.modified += 1
    else:
        m.appends.append(entry)
        m.added += 1


def _row(t: pa.Table, i: int) -> dict:
    return t.slice(i, 1).to_pylist()[0]


def _cell(t: pa.Table, i: int, c: str) -> Any:
    return t[c][i].as_py() if c in t.column_names else None


# -- keyless --------------------------------------------------------------------------
def merge_multisets(m: SplitMerge, store, base: Snapshot, ours: Snapshot, theirs: Snapshot) -> None:
    """Rows as multisets: theirs' added rows are appended; each row theirs removed is cut
    from ours while ours still has a copy (the base's own copy first)."""
    r_t, a_t = changed_positions(store, base, theirs)
    r_o, _ = changed_positions(store, base, ours)
    for p in a_t.tolist():
        m.appends.append(("t", p))
    m.added = len(a_t)
    if not len(r_t):
        return
    finder = _Finder(store, base, ours, r_o)
    fps = row_fingerprints(take_rows(store, base, r_t))
    for p, f, runs_at in zip(r_t.tolist(), fps.tolist(), finder.by_runs(r_t).tolist()):
        at = finder.find(p, f, runs_at)
        if at >= 0:
            m.edits[at] = None
            m.removed += 1


class _Finder:
    """Where ours holds a base row it kept: by the runs (the same shard row), else, for
    rows rewritten or duplicated, by fingerprint over ours' stored fingerprints (read only
    when needed). Each row of ours is handed out once."""

    def __init__(self, store, base: Snapshot, ours: Snapshot, ours_dropped: np.ndarray):
        self.store, self.base, self.ours = store, base, ours
        self.dropped = set(ours_dropped.tolist())
        self.taken: set[int] = set()
        ids = {r.id: i for i, r in enumerate(ours.shards)}
        self.base_to_ours = np.array([ids.get(r.id, -1) for r in base.shards] or [0], dtype=np.int64)
        key = (ours.run_shard << 32) | ours.run_start
        self.order = np.argsort(key, kind="stable")
        self.keys = key[self.order]
        self.pos = np.cumsum(ours.run_count) - ours.run_count
        self._fps: np.ndarray | None = None

    def by_runs(self, ps: np.ndarray) -> np.ndarray:
        """For each base row number, ours' row number of the same shard row (-1: none), all
        at once: one search over the runs for all rows, not one per row."""
        ps = np.asarray(ps, dtype=np.int64)
        if not len(ps) or not len(self.keys):
            return np.full(len(ps), -1, dtype=np.int64)
        g, r = row_locations(self.base, ps)
        og = self.base_to_ours[g]
        i = np.searchsorted(self.keys, (og << 32) | r, side="right") - 1
        run = self.order[np.maximum(i, 0)]
        start, count = self.ours.run_start[run], self.ours.run_count[run]
        ok = (og >= 0) & (i >= 0) & (self.ours.run_shard[run] == og) & (start <= r) & (r < start + count)
        return np.where(ok, self.pos[run] + r - start, -1)

    def find(self, p: int, fp: int | None = None, runs_at: int | None = None) -> int:
        """Ours' row for base row `p` (fingerprint `fp`), or -1 when ours has no copy left.
        `runs_at`: `by_runs` of `p`, when computed for many rows at once."""
        if p in self.dropped and fp is None:
            return -1
        if p in self.dropped:
            at = -1
        else:
            at = int(self.by_runs(np.array([p]))[0]) if runs_at is None else runs_at
        if at >= 0 and at not in self.taken:
            self.taken.add(at)
            return at
        if fp is None:
            fp = int(row_fingerprints(take_rows(self.store, self.base, np.array([p])))[0])
        for cand in np.flatnonzero(self.fingerprints() == np.uint64(fp)).tolist():
            if cand not in self.taken:
                self.taken.add(cand)
                return cand
        return -1

    def fingerprints(self) -> np.ndarray:
        if self._fps is None:
            reader = ShardReader(self.store, cache_size=2)
            schema = self.ours.schema
            parts = [reader.fingerprints(ref, schema)[a:a + c] for ref, a, c in self.ours.runs()]
            self._fps = np.concatenate(parts) if parts else np.zeros(0, np.uint64)
        return self._fps


# -- keyed, one schema: only the rows that differ --------------------------------------
def merge_keyed(m: SplitMerge, store, base: Snapshot, ours: Snapshot, theirs: Snapshot, strategy: str,
                resolve) -> None:
    r_o, a_o = changed_positions(store, base, ours)
    r_t, a_t = changed_positions(store, base, theirs)
    if not len(r_t) and not len(a_t):
        return
    touched = np.union1d(r_o, r_t)
    cols = frozenset(m.schema.names)
    bside = Side(take_rows(store, base, touched), touched, cols)
    oside = Side(take_rows(store, ours, a_o), a_o, cols)
    tside = Side(take_rows(store, theirs, a_t), a_t, cols)
    ours_dropped = np.isin(touched, r_o)
    theirs_dropped = np.isin(touched, r_t)
    finder = _Finder(store, base, ours, r_o)
    found: dict[int, int] = {}
    runs_at = finder.by_runs(touched)

    def ours_kept(i: int) -> int:
        if ours_dropped[i]:
            return -1
        if i not in found:
            found[i] = finder.find(int(touched[i]), runs_at=int(runs_at[i]))
        return found[i]

    merge_rows(m, bside, oside, tside, ours_kept, lambda i: not theirs_dropped[i], strategy, resolve)


# -- building ---------------------------------------------------------------------------
def build(m: SplitMerge, store, shard_stats=None) -> tuple[Snapshot, int, int]:
    """The merged snapshot: ours' runs with the edits, then the appended rows. Returns it,
    the new rows and their new bytes."""
    if m.whole is not None:
        return m.whole, *m.whole_new
    new_snap, new_rows, new_bytes = _new_rows_snapshot(m, store, shard_stats)
    segments: list[tuple[ShardRef, int, int]] = []
    edits = sorted(m.edits)
    where = _locate([m.edits[p] for p in edits] + m.appends, {"t": m.theirs, "n": new_snap})
    ours = m.ours
    k, at = 0, 0
    for ref, start, count in ours.runs() if ours is not None else ():
        end = at + count
        cur = start
        while k < len(edits) and edits[k] < end:
            p = edits[k]
            if p > at:
                segments.append((ref, cur, p - at))
            spliced = where[k]
            if spliced is not None:
                segments.append((*spliced, 1))
            k += 1
            cur += p - at + 1
            at = p + 1
        if end > at:
            segments.append((ref, cur, end - at))
        at = end
    segments += [(*w, 1) for w in where[len(edits):] if w is not None]       # (appends are never cuts)
    return compose(m.schema, segments), new_rows, new_bytes


def _locate(entries: list, snaps: dict[str, Snapshot | None]) -> list[tuple[ShardRef, int] | None]:
    """(shard, row) of each entry ("t" or "n", row number; None: a cut row), looked up in
    one search per snapshot rather than one per row."""
    out: list[tuple[ShardRef, int] | None] = [None] * len(entries)
    for kind, snap in snaps.items():
        js = [j for j, e in enumerate(entries) if e is not None and e[0] == kind]
        if not js:
            continue
        assert snap is not None       # entries name only rows that exist
        g, r = row_locations(snap, np.array([entries[j][1] for j in js], dtype=np.int64))
        for j, gg, rr in zip(js, g.tolist(), r.tolist()):
            out[j] = (snap.shards[gg], rr)
    return out


def _new_rows_snapshot(m: SplitMerge, store, shard_stats) -> tuple[Snapshot | None, int, int]:
    if not m.new_rows:
        return None, 0, 0
    schema = storage_schema(m.schema)
    # every cell is taken from a source table (base, ours, theirs) or a resolve row: one
    # `take` per column over the sources concatenated, rather than a slice per cell
    resolved = [c for c in m.new_rows if isinstance(c, pa.Table)]
    offsets = np.cumsum([0] + [t.num_rows for t in m.sources])
    at_resolved = {id(t): int(offsets[-1]) + k for k, t in enumerate(resolved)}
    columns = []
    for f in schema:
        idx = np.array([at_resolved[id(c)] if isinstance(c, pa.Table) else int(offsets[c[f.name][0]]) + c[f.name][1]
                        for c in m.new_rows], dtype=np.int64)
        pool = [t[f.name].cast(f.type) for t in m.sources] + [t[f.name].cast(f.type) for t in resolved]
        columns.append(pa.chunked_array([ch for p in pool for ch in p.chunks], type=f.type).take(pa.array(idx)))
    table = pa.Table.from_arrays(columns, schema=schema)
    builder = SnapshotBuilder(store, m.schema, shard_stats=shard_stats)
    builder.add(table)
    built = builder.finish()
    return built.snapshot, built.new_rows, built.new_bytes


def compose(schema: pa.Schema, segments) -> Snapshot:
    """A snapshot reading these (shard, start, count) segments in order."""
    shards: list[ShardRef] = []
    index: dict[str, int] = {}
    rs: list[int] = []
    st: list[int] = []
    ct: list[int] = []
    for ref, start, count in segments:
        if count <= 0:
            continue
        g = index.setdefault(ref.id, len(shards))
        if g == len(shards):
            shards.append(ref)
        if rs and rs[-1] == g and st[-1] + ct[-1] == start:
            ct[-1] += count
        else:
            rs.append(g)
            st.append(start)
            ct.append(count)
    return Snapshot(schema_ipc=schema.serialize().to_pybytes(), shards=tuple(shards),
                    run_shard=np.asarray(rs, dtype=np.int64), run_start=np.asarray(st, dtype=np.int64),
                    run_count=np.asarray(ct, dtype=np.int64))


__all__ = ["Side", "SplitMerge", "merge_rows", "merge_keyed", "merge_multisets", "build", "compose"]
