"""Evaluating rules on a version, paying for the change rather than for the version.

- Row-local rules (not-null, range, values) read only the rows in runs over shards that
  the baseline (the parent, or what a remote already has) does not use, and of those only
  the columns they name: a 1% edit reads 1% of the rows. Rows the version reuses were
  checked when they came in.
- Set rules (no-duplicates, no-leakage) use the row fingerprints stored beside each shard:
  no shard is decoded. `unique` (and no-leakage with keys) reads just its columns.
  Fingerprints only propose a duplicate; the sampled ones are proven by reading the rows,
  so a fingerprint collision cannot fail a check.
- rows, schema-frozen and max-change use the snapshots (max-change compares fingerprints
  only of the shard rows the two versions do not both read).
- When the version passed to them can be told from the sorted hashes of its rows
  (setcache.py: kept per snapshot, a new version's taken from its parent's plus the
  changed rows), set rules pass without reading the version: equal rows or keys have equal
  hashes, so no repeated hash means no repeat. Any repeated or shared hash sends the rule
  to the full evaluation above, which proves, counts and samples exactly as without it.
- Whatever several rules need (a split's key columns, their hashes, its fingerprints) is
  read once per evaluation.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dsreg.checks import setcache
from dsreg.checks.report import SAMPLE_ROWS, CheckReport, CheckResult
from dsreg.checks.rules import Rule, allowed_values
from dsreg.checks.setcache import FINGERPRINTS, SortedHashes
from dsreg.jsonvalues import to_jsonable
from dsreg.model.serialize import Snapshot
from dsreg.rows.arrowtypes import conform, strip_metadata
from dsreg.rows.equality import tables_equal
from dsreg.rows.fingerprint import combine_columns, hash_array
from dsreg.rows.ingest import describe_schema_difference
from dsreg.rows.shards import ShardReader
from dsreg.rows.snapshots import read_snapshot
from dsreg.store.base import ObjectStore

CONFIRM = 50            # fingerprint matches proven by reading the rows, per rule and split


@dataclass(frozen=True)
class Version:
    """What the rules look at: a version's splits, its key columns, and the baseline whose
    rows count as already checked (None: every row is new)."""
    dataset: str
    splits: dict[str, Snapshot]
    keys: tuple[str, ...] = ()
    baseline: dict[str, Snapshot] | None = None     # what schema-frozen and max-change compare with
    incremental: bool = True        # row-local rules skip rows on shards the baseline uses;
                                    # set rules may pass from the sorted-hash cache
    ids: Mapping[str, str] | None = None            # the splits' snapshot ids (None: not stored yet)
    baseline_ids: Mapping[str, str] | None = None   # the baseline's snapshot ids
    cache: Path | None = None       # the folder of sorted row hashes (setcache.py); None: none kept
    saves: list | None = None       # None: new sorted hashes are written at once; a list: collected
                                    # there, for the caller to write once the version is recorded


def evaluate(store: ObjectStore, rules: Iterable[Rule], version: Version, commit: str | None = None) -> CheckReport:
    ev = _Evaluator(store, version)
    results: list[CheckResult] = []
    for rule in rules:
        results.extend(ev.run(rule))
    return CheckReport(commit, tuple(results))


class _Evaluator:
    def __init__(self, store: ObjectStore, version: Version):
        self.store, self.v = store, version
        self.fp_reader = ShardReader(store, cache_size=2)
        self._fps: dict[str, np.ndarray] = {}
        self._columns: dict[tuple[str, tuple[str, ...]], pa.Table] = {}
        self._hashes: dict[tuple[str, tuple[str, ...]], np.ndarray] = {}
        self._sorted: dict[tuple[str, tuple[str, ...]], SortedHashes | None] = {}
        base = (version.baseline or {}) if version.incremental else {}
        self.old_shards = {ref.id for snap in base.values() for ref in snap.shards}

    def run(self, rule: Rule) -> list[CheckResult]:
        return getattr(self, "_" + rule.kind.replace("-", "_"))(rule)

    # -- row-local ------------------------------------------------------------------------
    def _row_local(self, rule: Rule, violating) -> list[CheckResult]:
        out = []
        for split, snap in sorted(self.v.splits.items()):
            if not all(c in snap.schema.names for c in rule.columns):
                continue
            keys = [k for k in self.v.keys if k in snap.schema.names and k not in rule.columns]
            table, rows = self._new_rows(snap, [*keys, *rule.columns])
            mask = violating(table, snap.schema) if table.num_rows else np.zeros(0, bool)
            hits = np.flatnonzero(mask)
            sample = tuple({"row": int(rows[i]), **_values(table, int(i), [*keys, *rule.columns])}
                           for i in hits[:SAMPLE_ROWS])
            out.append(CheckResult(rule.text, split, len(hits) == 0, len(hits), sample))
        return out or [_missing_columns(rule)]

    def _new_rows(self, snap: Snapshot, columns: list[str]) -> tuple[pa.Table, np.ndarray]:
        """The rows of runs over shards the baseline does not use, with their index in the
        split. One take over those shards, not a slice per run: a scattered edit cuts
        tens of thousands of runs."""
        schema = pa.schema([snap.schema.field(c) for c in columns])
        fresh = np.array([ref.id not in self.old_shards for ref in snap.shards], bool)
        pick = fresh[snap.run_shard] if snap.num_runs else np.zeros(0, bool)
        if not pick.any():
            return schema.empty_table(), np.zeros(0, np.int64)
        reader = ShardReader(self.store, columns=columns, cache_size=2)
        tables, base, offset = [], np.zeros(len(snap.shards), np.int64), 0
        for si in np.unique(snap.run_shard[pick]).tolist():
            tables.append(reader.table(snap.shards[si].id))
            base[si], offset = offset, offset + tables[-1].num_rows
        counts = snap.run_count[pick]
        within = np.arange(int(counts.sum()), dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
        take = np.repeat(base[snap.run_shard[pick]] + snap.run_start[pick], counts) + within
        index = np.repeat((np.cumsum(snap.run_count) - snap.run_count)[pick], counts) + within
        return conform(pa.concat_tables(tables).take(pa.array(take)), schema), index

    def _not_null(self, rule: Rule) -> list[CheckResult]:
        def violating(t: pa.Table, _schema) -> np.ndarray:
            mask = np.zeros(t.num_rows, bool)
            for c in rule.columns:
                mask |= np.asarray(pc.is_null(t[c]).to_numpy(zero_copy_only=False), bool)
            return mask
        return self._row_local(rule, violating)

    def _range(self, rule: Rule) -> list[CheckResult]:
        def violating(t: pa.Table, _schema) -> np.ndarray:
            col = _decoded(t[rule.columns[0]]).cast(pa.float64())
            inside = pc.and_(pc.greater_equal(col, rule.low), pc.less_equal(col, rule.high))
            # a null is not-null's business; NaN is in no range
            return np.asarray(pc.and_(pc.is_valid(col), pc.invert(pc.fill_null(inside, True)))
                              .to_numpy(zero_copy_only=False), bool)
        return self._row_local(rule, violating)

    def _values(self, rule: Rule) -> list[CheckResult]:
        def violating(t: pa.Table, schema: pa.Schema) -> np.ndarray:
            col = _decoded(t[rule.columns[0]])
            allowed = allowed_values(rule, schema.field(rule.columns[0]).type)
            if col.type != allowed.type:
                col = col.cast(allowed.type)
            return np.asarray(pc.and_(pc.is_valid(col), pc.invert(pc.is_in(col, value_set=allowed)))
                              .to_numpy(zero_copy_only=False), bool)
        return self._row_local(rule, violating)

    # -- set rules --------------------------------------------------------------------------
    def fingerprints(self, split: str) -> np.ndarray:
        """Every row's stored fingerprint, in the split's order: no shard is decoded."""
        if split not in self._fps:
            snap = self.v.splits[split]
            self._fps[split] = _gather(snap, [self.fp_reader.fingerprints(ref, snap.schema) for ref in snap.shards])
            self._keep_sorted(split, FINGERPRINTS, self._fps[split])
        return self._fps[split]

    def columns(self, split: str, columns: list[str] | tuple[str, ...]) -> pa.Table:
        """These columns of the whole split, read once for every rule that needs them
        (`unique id` and `no-leakage` by key read the same column)."""
        key = (split, tuple(columns))
        if key not in self._columns:
            self._columns[key] = read_snapshot(self.store, self.v.splits[split], columns=list(columns))
        return self._columns[key]

    def hashes(self, split: str, columns: list[str] | tuple[str, ...]) -> np.ndarray:
        """A hash of these columns' values in every row of the split, computed once."""
        key = (split, tuple(columns))
        if key not in self._hashes:
            table = self.columns(split, columns)
            self._hashes[key] = combine_columns((hash_array(table[c]) for c in columns), table.num_rows)
            self._keep_sorted(split, ("columns", *columns), self._hashes[key])
        return self._hashes[key]

    def _keep_sorted(self, split: str, what: tuple[str, ...], hashes: np.ndarray) -> None:
        """Cache the sorted hashes computed from every row, for the next commit to start from."""
        sid = (self.v.ids or {}).get(split)
        if self.v.cache is None or sid is None or self._sorted.get((split, what)) is not None:
            return
        got = setcache.of_hashes(hashes)
        self._save(sid, what, got)
        self._sorted[(split, what)] = got

    def _save(self, sid: str, what: tuple[str, ...], got: SortedHashes) -> None:
        if self.v.saves is not None:
            self.v.saves.append((sid, what, got))
        else:
            setcache.save(self.v.cache, sid, what, got)

    def sorted_hashes(self, split: str, what: tuple[str, ...]) -> SortedHashes | None:
        """The split's sorted row hashes without reading it: cached for its snapshot, or
        derived from the baseline's cached ones and the rows the baseline does not have.
        None when neither is at hand (or the evaluation is not incremental)."""
        key = (split, what)
        if key in self._sorted:
            return self._sorted[key]
        got = None
        if self.v.incremental and self.v.cache is not None:
            snap, sid = self.v.splits[split], (self.v.ids or {}).get(split)
            got = setcache.load(self.v.cache, sid, what, snap)
            base = (self.v.baseline or {}).get(split)
            if got is None and sid is not None and base is not None:
                parent = setcache.load(self.v.cache, (self.v.baseline_ids or {}).get(split), what, base)
                if parent is not None:
                    got = setcache.derive(base, parent, snap, lambda rows: self._hash_rows(snap, rows, what))
                    if got is not None:
                        self._save(sid, what, got)
        self._sorted[key] = got
        return got

    def _hash_rows(self, snap: Snapshot, rows: np.ndarray, what: tuple[str, ...]) -> np.ndarray:
        """The hashes (`what`) of these rows of the split (ascending), reading only their shards."""
        ends = np.cumsum(snap.run_count)
        run = np.searchsorted(ends, rows, side="right")
        shard = snap.run_shard[run]
        within = snap.run_start[run] + rows - (ends[run] - snap.run_count[run])
        out = np.empty(len(rows), np.uint64)
        columns = list(what[1:])
        reader = ShardReader(self.store, columns=columns, cache_size=1) if what != FINGERPRINTS else None
        schema = pa.schema([snap.schema.field(c) for c in columns])
        for si in np.unique(shard).tolist():
            pick = shard == si
            ref = snap.shards[si]
            if reader is None:
                out[pick] = self.fp_reader.fingerprints(ref, snap.schema)[within[pick]]
            else:
                t = conform(reader.table(ref.id).take(pa.array(within[pick])), schema)
                out[pick] = combine_columns((hash_array(t[c]) for c in columns), t.num_rows)
        return out

    def _no_duplicates(self, rule: Rule) -> list[CheckResult]:
        out = []
        for split, snap in sorted(self.v.splits.items()):
            fast = self.sorted_hashes(split, FINGERPRINTS)
            if fast is not None and not fast.has_repeats:
                out.append(CheckResult(rule.text, split, True, 0, ()))
                continue
            fps = self.fingerprints(split)
            later, first = _repeats(fps)
            pairs = [(int(i), int(j)) for i, j in zip(later[:CONFIRM], first[:CONFIRM])]
            proven = [(i, j) for i, j in pairs if self._same_rows(snap, i, snap, j)]
            count = len(later) if proven else 0
            sample = tuple({"row": i, "same_as": j, **self._keys_of(snap, i)} for i, j in proven[:SAMPLE_ROWS])
            out.append(CheckResult(rule.text, split, count == 0, count, sample))
        return out

    def _unique(self, rule: Rule) -> list[CheckResult]:
        out = []
        for split, snap in sorted(self.v.splits.items()):
            if not all(c in snap.schema.names for c in rule.columns):
                continue
            if not any(_floating(snap.schema.field(c).type) for c in rule.columns):    # NaN needs the rows
                fast = self.sorted_hashes(split, ("columns", *rule.columns))
                if fast is not None and not fast.has_repeats:
                    out.append(CheckResult(rule.text, split, True, 0, (), ""))
                    continue
            table = self.columns(split, rule.columns)
            nan = _nan_mask(table)
            hashes = self.hashes(split, rule.columns)
            later, first = _repeats(hashes)
            proven = [(int(i), int(j)) for i, j in zip(later[:CONFIRM], first[:CONFIRM])
                      if tables_equal(table.slice(int(i), 1), table.slice(int(j), 1))]
            dups = later[~nan[later]] if proven else np.zeros(0, np.int64)
            bad = np.union1d(np.flatnonzero(nan), dups)
            sample = tuple({"row": int(i), **_values(table, int(i), list(rule.columns))} for i in bad[:SAMPLE_ROWS])
            out.append(CheckResult(rule.text, split, len(bad) == 0, len(bad), sample,
                                   "NaN is never equal to itself" if nan.any() and not len(dups) else ""))
        return out or [_missing_columns(rule)]

    def _no_leakage(self, rule: Rule) -> list[CheckResult]:
        splits = [s for s in (rule.splits or sorted(self.v.splits)) if s in self.v.splits]
        if len(splits) < 2:
            return [CheckResult(rule.text, None, True, 0)]
        keys = list(self.v.keys)
        by_key = bool(keys) and all(all(k in self.v.splits[s].schema.names for k in keys) for s in splits)
        fast = [self.sorted_hashes(s, ("columns", *keys) if by_key else FINGERPRINTS) for s in splits]
        known = [f for f in fast if f is not None]
        if len(known) == len(splits) and not any(_meet(a, b) for a, b in combinations(known, 2)):
            return [CheckResult(rule.text, s, True, 0, ()) for s in splits]
        tables: dict[str, pa.Table] = {}
        if by_key:
            tables = {s: self.columns(s, keys) for s in splits}
            hashes = {s: self.hashes(s, keys) for s in splits}
        else:
            hashes = {s: self.fingerprints(s) for s in splits}
        out = []
        ordered = {s: np.sort(h) for s, h in hashes.items()}     # each sorted once, looked up by all
        for s in splits:
            others = [o for o in splits if o != s]
            shared = np.zeros(len(hashes[s]), bool)
            where = np.full(len(hashes[s]), -1, np.int64)
            for k, o in enumerate(others):
                hit = _member(hashes[s], ordered[o])
                where[hit & (where < 0)] = k
                shared |= hit
            hits = np.flatnonzero(shared)
            sample: list[dict[str, Any]] = []
            proven = 0
            for i in hits[:CONFIRM]:
                o = others[int(where[i])]
                j = int(np.flatnonzero(hashes[o] == hashes[s][i])[0])
                if by_key:
                    same = tables_equal(tables[s].slice(int(i), 1), tables[o].slice(j, 1))
                else:
                    same = self._same_rows(self.v.splits[s], int(i), self.v.splits[o], j)
                if same:
                    proven += 1
                    if len(sample) < SAMPLE_ROWS:
                        row = {"row": int(i), "also_in": o, "row_there": j}
                        row.update(_values(tables[s], int(i), keys) if by_key else self._keys_of(self.v.splits[s], int(i)))
                        sample.append(row)
            count = len(hits) if proven else 0
            out.append(CheckResult(rule.text, s, count == 0, count, tuple(sample)))
        return out

    # -- version rules ----------------------------------------------------------------------
    def _rows(self, rule: Rule) -> list[CheckResult]:
        out = []
        for split, snap in sorted(self.v.splits.items()):
            ok = snap.rows >= (rule.low or 0) and (rule.high is None or snap.rows <= rule.high)
            out.append(CheckResult(rule.text, split, ok, 0 if ok else 1, (),
                                   "" if ok else f"{snap.rows:,} rows"))
        return out

    def _schema_frozen(self, rule: Rule) -> list[CheckResult]:
        base = self.v.baseline
        out = []
        for split, snap in sorted(self.v.splits.items()):
            if not base:
                out.append(CheckResult(rule.text, split, True, 0))
                continue
            old = (base.get(split) or next(iter(base.values()))).schema
            same = strip_metadata(old).equals(strip_metadata(snap.schema))
            out.append(CheckResult(rule.text, split, same, 0 if same else 1, (),
                                   "" if same else describe_schema_difference(old, snap.schema)))
        return out

    def _max_change(self, rule: Rule) -> list[CheckResult]:
        base = self.v.baseline or {}
        out = []
        for split in sorted(set(base) | set(self.v.splits)):
            if split not in base or not base[split].rows:
                continue        # a new split changes nothing that was there
            old = base[split]
            new = self.v.splits.get(split)
            added, removed = (0, old.rows) if new is None else self._changed(old, new)
            frac = max(added, removed) / old.rows
            ok = frac <= (rule.fraction or 0.0)
            what = "dropped" if new is None else f"{added:,} rows added, {removed:,} removed"
            out.append(CheckResult(rule.text, split, ok, 0 if ok else max(added, removed), (),
                                   "" if ok else f"{frac:.1%} of {old.rows:,} rows changed ({what})"))
        return out

    def _changed(self, old: Snapshot, new: Snapshot) -> tuple[int, int]:
        """(rows added, rows removed) from `old` to `new`, as multisets of rows: shard rows
        both versions read (as often) cancel out unread, wherever their runs were cut; the
        fingerprints of the rest are compared."""
        cover_old, cover_new = _coverage(old), _coverage(new)
        refs = {ref.id: (ref, snap.schema) for snap in (old, new) for ref in snap.shards}
        added, removed = [], []
        for sid, (ref, schema) in refs.items():
            extra = cover_new.get(sid, 0) - cover_old.get(sid, 0)
            if not np.any(extra):
                continue
            fps = self.fp_reader.fingerprints(ref, schema)
            rows = np.arange(ref.rows)
            added.append(fps[np.repeat(rows, np.maximum(extra, 0))])
            removed.append(fps[np.repeat(rows, np.maximum(-extra, 0))])
        a = np.concatenate(added) if added else np.zeros(0, np.uint64)
        b = np.concatenate(removed) if removed else np.zeros(0, np.uint64)
        ua, ca = np.unique(a, return_counts=True)
        ub, cb = np.unique(b, return_counts=True)
        _, ia, ib = np.intersect1d(ua, ub, assume_unique=True, return_indices=True)
        kept = int(np.minimum(ca[ia], cb[ib]).sum())
        return len(a) - kept, len(b) - kept

    # -- rows, read only to prove or show ---------------------------------------------------
    def _row(self, snap: Snapshot, i: int, columns: list[str] | None = None) -> pa.Table:
        ref, start = _locate(snap, i)
        schema = snap.schema if columns is None else pa.schema([snap.schema.field(c) for c in columns])
        table = ShardReader(self.store, columns=columns, cache_size=1).table(ref.id).slice(start, 1)
        return conform(table, schema)

    def _same_rows(self, a: Snapshot, i: int, b: Snapshot, j: int) -> bool:
        return tables_equal(self._row(a, i), self._row(b, j))

    def _keys_of(self, snap: Snapshot, i: int) -> dict[str, Any]:
        keys = [k for k in self.v.keys if k in snap.schema.names]
        return _values(self._row(snap, i, keys), 0, keys) if keys else {}


# -- helpers -------------------------------------------------------------------------------
def _missing_columns(rule: Rule) -> CheckResult:
    return CheckResult(rule.text, None, False, 0, (), f"no split has column(s) {', '.join(rule.columns)}")


def _decoded(col: pa.ChunkedArray) -> pa.ChunkedArray:
    return col.cast(col.type.value_type) if pa.types.is_dictionary(col.type) else col


def _values(table: pa.Table, i: int, columns: list[str]) -> dict[str, Any]:
    return {c: to_jsonable(table[c][i].as_py()) for c in columns}


def _nan_mask(table: pa.Table) -> np.ndarray:
    mask = np.zeros(table.num_rows, bool)
    for col in table.columns:
        if pa.types.is_floating(col.type):
            mask |= np.asarray(pc.fill_null(pc.is_nan(col), False).to_numpy(zero_copy_only=False), bool)
    return mask


def _repeats(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions of values seen before (in order), and of the first position of each's value."""
    if not len(values):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    s = np.sort(values)          # the usual case, no repeats, needs no (slower) stable argsort
    if not (s[1:] == s[:-1]).any():
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    order = np.argsort(values, kind="stable")
    s = values[order]
    same = np.concatenate([[False], s[1:] == s[:-1]])
    if not same.any():
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    group_start = np.maximum.accumulate(np.where(same, 0, np.arange(len(s))))
    later = order[same]
    first = order[group_start[same]]
    keep = np.argsort(later, kind="stable")
    return later[keep], first[keep]


def _floating(t: pa.DataType) -> bool:
    return pa.types.is_floating(t.value_type if pa.types.is_dictionary(t) else t)


def _meet(a: SortedHashes, b: SortedHashes) -> bool:
    """Whether two sorted hash arrays share a value: the smaller searched in the larger."""
    small, large = (a.values, b.values) if len(a.values) <= len(b.values) else (b.values, a.values)
    return bool(_member(small, large).any())


def _member(values: np.ndarray, ordered: np.ndarray) -> np.ndarray:
    """np.isin(values, ordered) for an already sorted `ordered`: a binary search, no sort
    of `values` (a large split against a small one costs little)."""
    if not len(ordered):
        return np.zeros(len(values), bool)
    at = np.minimum(np.searchsorted(ordered, values), len(ordered) - 1)
    return ordered[at] == values


def _gather(snap: Snapshot, per_shard: list[np.ndarray]) -> np.ndarray:
    """Concatenate each run's slice of its shard's array, in run order, without a loop per run."""
    if not snap.num_runs:
        return np.zeros(0, np.uint64)
    lengths = np.array([len(a) for a in per_shard], np.int64)
    base = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    flat = np.concatenate(per_shard)
    starts = base[snap.run_shard] + snap.run_start
    idx = np.repeat(starts - np.concatenate([[0], np.cumsum(snap.run_count)[:-1]]), snap.run_count) \
        + np.arange(int(snap.run_count.sum()), dtype=np.int64)
    return flat[idx]


def _coverage(snap: Snapshot) -> dict[str, np.ndarray]:
    """{shard id: how many times the snapshot reads each of its rows}."""
    out: dict[str, np.ndarray] = {}
    for si in np.unique(snap.run_shard).tolist():
        pick = snap.run_shard == si
        starts, counts = snap.run_start[pick], snap.run_count[pick]
        ref = snap.shards[si]
        edges = np.zeros(ref.rows + 1, np.int64)
        np.add.at(edges, starts, 1)
        np.add.at(edges, starts + counts, -1)
        out[ref.id] = np.cumsum(edges[:-1])
    return out


def _locate(snap: Snapshot, i: int):
    ends = np.cumsum(snap.run_count)
    r = int(np.searchsorted(ends, i, side="right"))
    begin = int(ends[r] - snap.run_count[r])
    return snap.shards[int(snap.run_shard[r])], int(snap.run_start[r]) + i - begin


def nan_rows(store: ObjectStore, snap: Snapshot, column: str) -> int:
    """How many rows of a floating point column are NaN (0 for other columns)."""
    if column not in snap.schema.names or not pa.types.is_floating(snap.schema.field(column).type):
        return 0
    table = read_snapshot(store, snap, columns=[column])
    return int(_nan_mask(table).sum())


__all__ = ["Version", "evaluate", "nan_rows"]
