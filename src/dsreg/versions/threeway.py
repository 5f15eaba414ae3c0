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

import numpy as np
import pyarrow as pa

from dsreg.diff.compare import changed_positions, row_locations, stored_fingerprints, take_rows
from dsreg.model.serialize import Snapshot
from dsreg.rows.shards import ShardReader
from dsreg.versions.cellmerge import merge_rows
from dsreg.versions.mergeplan import CUT, THEIRS, Side, SplitMerge, build, compose


# -- keyless --------------------------------------------------------------------------
def merge_multisets(m: SplitMerge, store, base: Snapshot, ours: Snapshot, theirs: Snapshot) -> None:
    """Rows as multisets: theirs' added rows are appended; each row theirs removed is cut
    from ours while ours still has a copy (the base's own copy first)."""
    r_t, a_t = changed_positions(store, base, theirs)
    r_o, _ = changed_positions(store, base, ours)
    m.append(THEIRS, a_t)
    m.added = len(a_t)
    if not len(r_t):
        return
    finder = _Finder(store, base, ours, r_o)
    at = finder.kept(r_t, stored_fingerprints(store, base, r_t), search_dropped=True)
    m.edit(at[at >= 0], CUT, 0)
    m.removed = int((at >= 0).sum())


class _Finder:
    """Where ours holds a base row it kept: by the runs (the same shard row), else, for
    rows rewritten or duplicated, by fingerprint over ours' stored fingerprints (read only
    when needed). Each row of ours is handed out once."""

    def __init__(self, store, base: Snapshot, ours: Snapshot, ours_dropped: np.ndarray):
        self.store, self.base, self.ours = store, base, ours
        self.dropped_rows = np.asarray(ours_dropped, dtype=np.int64)
        self.dropped = set(self.dropped_rows.tolist())
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

    def kept(self, ps: np.ndarray, fps: np.ndarray, search_dropped: bool) -> np.ndarray:
        """`find` for many base rows at once (-1: none): rows found in place by the runs
        in one search, the rest (rewritten or duplicated rows) one by one by fingerprint;
        rows ours dropped are looked for only with `search_dropped`."""
        ps = np.asarray(ps, dtype=np.int64)
        out = np.full(len(ps), -1, dtype=np.int64)
        live = ~np.isin(ps, self.dropped_rows)
        at = np.full(len(ps), -1, dtype=np.int64)
        at[live] = self.by_runs(ps[live])
        hit = at >= 0
        _, first = np.unique(at[hit], return_index=True)
        once = np.zeros(int(hit.sum()), dtype=bool)
        once[first] = True                              # a row handed out twice: the second searches
        fresh = np.flatnonzero(hit)[once]
        fresh = fresh[~np.isin(at[fresh], np.fromiter(self.taken, np.int64, len(self.taken)))]
        out[fresh] = at[fresh]
        self.taken.update(at[fresh].tolist())
        rest = np.setdiff1d(np.flatnonzero(live | search_dropped), fresh)
        for i in rest.tolist():
            out[i] = self.find(int(ps[i]), int(fps[i]), int(at[i]))
        return out

    def find(self, p: int, fp: int, runs_at: int) -> int:
        """Ours' row for base row `p` (fingerprint `fp`; `runs_at`: its row by the runs,
        -1: none), or -1 when ours has no copy left."""
        at = -1 if p in self.dropped else runs_at
        if at >= 0 and at not in self.taken:
            self.taken.add(at)
            return at
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
    """Keyed merge of a split whose schema no side changed. Reads the key columns and
    stored fingerprints of the rows either side changed, and whole rows only of keys
    both sides changed: the cost follows the changed rows, not the table."""
    r_o, a_o = changed_positions(store, base, ours)
    r_t, a_t = changed_positions(store, base, theirs)
    if not len(r_t) and not len(a_t):
        return
    touched = np.union1d(r_o, r_t)
    cols = frozenset(m.schema.names)

    def side(snap: Snapshot, pos: np.ndarray) -> Side:
        def fetch(idx: np.ndarray, columns: list[str] | None) -> pa.Table:
            return take_rows(store, snap, pos[np.asarray(idx, dtype=np.int64)], columns)
        return Side(take_rows(store, snap, pos, list(m.keys)), pos, cols, fetch, stored_fingerprints(store, snap, pos))

    bside = side(base, touched)
    finder = _Finder(store, base, ours, r_o)
    ours_kept = finder.kept(touched, bside.fingerprints, search_dropped=False)   # type: ignore[arg-type]
    merge_rows(m, bside, side(ours, a_o), side(theirs, a_t), ours_kept, ~np.isin(touched, r_t), strategy,
               resolve)


__all__ = ["Side", "SplitMerge", "merge_rows", "merge_keyed", "merge_multisets", "build", "compose"]
