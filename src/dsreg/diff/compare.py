"""Row-level diff between two versions, or between a version and uncommitted files.

Rows both versions read from the same (shard, row) are unchanged, known from the runs
alone: a sweep over per-shard intervals pairs them without reading anything. The rest is
compared as multisets of stored row fingerprints; only rows left over (added, removed)
are ever read, and then only their row groups and the columns needed. When a split's
schema changed, stored fingerprints are not comparable, so the rows are fingerprinted
again over the columns both sides have, batch by batch: a column whose type changed is
compared as the old values cast to the new type where that cast is exact (else the value
differs from any new one); one whose old type cannot be cast to the new one at all is
left out of the comparison, and the schema diff says so (`not_compared`). A side whose
stored fingerprints cover exactly the compared columns, uncast, keeps them.

Unchanged means equal fingerprints (64-bit), as git trusts equal hashes; `modified`
pairs a removed and an added row that share a key (the `--key` columns, or the keys the
commit was made with unless `default_keys=False`).
"""
from __future__ import annotations

import dataclasses
import json
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dsreg.errors import DuplicateKeyColumn, KeyColumnTypeChanged, UnknownKeyColumn, UsageError
from dsreg.ids import ObjectId
from dsreg.jsonvalues import to_jsonable
from dsreg.model.objects import get_commit, get_snapshot
from dsreg.model.revisions import resolve
from dsreg.model.serialize import ShardRef, Snapshot
from dsreg.names import check_split_name
from dsreg.progress import NO_PROGRESS, Progress
from dsreg.rows.arrowtypes import conform, storage_schema, storage_type
from dsreg.rows.fingerprint import castable, combine_columns, hash_array, hash_as
from dsreg.rows.ingest import check_schema, open_source
from dsreg.rows.shards import ObjectSource, ShardReader
from dsreg.rows.snapshots import BaseIndex, SnapshotBuilder, iter_snapshot, schemas_compatible
from dsreg.rows.sorting import stable_argsort
from dsreg.store import LocalStore

if TYPE_CHECKING:
    from dsreg.registry import Registry

OPS = ("removed", "added", "modified")


# -- results ------------------------------------------------------------------
def _type_name(f: pa.Field) -> str:
    return str(f.type) if f.nullable else f"{f.type} not null"


def _same_type(a: pa.Field, b: pa.Field) -> bool:
    # Arrow's equality, which ignores names of list items ("item" in memory, "element" after Parquet)
    return a.type.equals(b.type) and a.nullable == b.nullable


@dataclass(frozen=True)
class SchemaDiff:
    added: tuple[tuple[str, str], ...] = ()            # (column, type)
    removed: tuple[tuple[str, str], ...] = ()
    changed: tuple[tuple[str, str, str], ...] = ()     # (column, old type, new type)
    reordered: bool = False                             # shared columns in another order
    not_compared: tuple[str, ...] = ()                  # changed columns whose values cannot be compared

    @classmethod
    def between(cls, old: pa.Schema | None, new: pa.Schema | None) -> SchemaDiff:
        o = {f.name: f for f in old} if old is not None else {}
        n = {f.name: f for f in new} if new is not None else {}
        changed = [k for k, f in n.items() if k in o and not _same_type(o[k], f)]
        return cls(
            added=tuple((k, _type_name(f)) for k, f in n.items() if k not in o),
            removed=tuple((k, _type_name(f)) for k, f in o.items() if k not in n),
            changed=tuple((k, _type_name(o[k]), _type_name(n[k])) for k in changed),
            reordered=[k for k in o if k in n] != [k for k in n if k in o],
            not_compared=tuple(k for k in changed if not _comparable(o[k].type, n[k].type)))

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed or self.reordered)

    def to_json(self) -> dict:
        return {"added": [{"name": k, "type": t} for k, t in self.added],
                "removed": [{"name": k, "type": t} for k, t in self.removed],
                "changed": [{"name": k, "from": a, "to": b} for k, a, b in self.changed],
                "reordered": self.reordered, "not_compared": list(self.not_compared)}


@dataclass(frozen=True)
class SplitDiff:
    status: str          # "added" | "removed" | "changed" | "unchanged"
    added: int
    removed: int
    modified: int
    unchanged: int
    schema: SchemaDiff = SchemaDiff()
    keys: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return self.status != "unchanged"

    def to_json(self) -> dict:
        return {"added": self.added, "removed": self.removed, "modified": self.modified,
                "unchanged": self.unchanged, "status": self.status, "keys": list(self.keys),
                "schema": self.schema.to_json()}


@dataclass(frozen=True)
class RowChange:
    split: str
    op: str                                  # "added" | "removed" | "modified"
    index: int                               # row number in the old (removed) or new version
    row: dict[str, Any] | None = None        # JSON-ready values, for added and removed rows
    key: dict[str, Any] | None = None        # when keys are in effect
    changes: dict[str, tuple[Any, Any]] | None = None   # modified: column -> (old, new)

    def to_json(self) -> dict:
        out: dict[str, Any] = {"split": self.split, "op": self.op, "index": self.index}
        if self.key is not None:
            out["key"] = self.key
        if self.row is not None:
            out["row"] = self.row
        if self.changes is not None:
            out["changes"] = {k: list(v) for k, v in self.changes.items()}
        return out


@dataclass(frozen=True)
class DiffResult:
    from_id: str | None          # None: the empty version before a first commit
    to_id: str | None            # None: uncommitted files
    from_spec: str | None
    to_spec: str
    splits: dict[str, SplitDiff]
    rows: tuple[RowChange, ...] = ()
    rows_truncated: bool = False  # rows were asked for, and more changed than were listed
    keys: tuple[str, ...] = ()    # the key columns in effect: given, or recorded at commit time

    @property
    def schema(self) -> SchemaDiff:
        """Column changes of the splits both sides have (new and dropped splits not counted)."""
        parts = [s.schema for s in self.splits.values() if s.status in ("changed", "unchanged")]

        def union(kind):
            return tuple(dict.fromkeys(x for p in parts for x in getattr(p, kind)))
        return SchemaDiff(union("added"), union("removed"), union("changed"), any(p.reordered for p in parts),
                          union("not_compared"))

    @property
    def splits_added(self) -> list[str]:
        return [k for k, s in self.splits.items() if s.status == "added"]

    @property
    def splits_removed(self) -> list[str]:
        return [k for k, s in self.splits.items() if s.status == "removed"]

    @property
    def stats(self) -> dict[str, int]:
        return {k: sum(getattr(s, k) for s in self.splits.values())
                for k in ("added", "removed", "modified", "unchanged")}

    def __bool__(self) -> bool:
        return any(self.splits.values())

    def to_json(self) -> dict:
        return {"from": self.from_id, "to": self.to_id, "from_spec": self.from_spec, "to_spec": self.to_spec,
                "schema": self.schema.to_json(),
                "splits": {k: s.to_json() for k, s in self.splits.items()},
                "splits_added": self.splits_added, "splits_removed": self.splits_removed, "keys": list(self.keys),
                "rows": [r.to_json() for r in self.rows], "rows_truncated": self.rows_truncated}


# -- the verb -----------------------------------------------------------------
@dataclass
class _Side:
    spec: str | None
    commit_id: str | None
    splits: dict[str, Any]                  # split -> snapshot object id, or a built Snapshot
    keys: tuple[str, ...] = ()


def diff(reg: Registry, a: str, b: str | None = None, *, paths: dict[str, list[str]] | None = None,
         keys: tuple[str, ...] | list[str] = (), rows: bool = False, limit: int | None = None,
         default_keys: bool = True, progress: Progress = NO_PROGRESS) -> DiffResult:
    """Changes from `a` to `b` (as `git diff A B`); with `a` alone, from its first parent to
    it (as `git show`); with `paths` ({split: [path, ...]}), from `a` to those files, the
    splits not named keeping `a`'s content. `b` may be `@REV` for another revision of `a`'s
    dataset. Rows are listed with `rows=True` or a `limit`.

    Rows are paired as modified by `keys`; without them, by the keys the newer version
    (else the older) was committed with, unless `default_keys=False`: then, without
    `keys`, an edited row counts as one removed and one added."""
    keys = tuple(keys)
    if len(set(keys)) != len(keys):
        raise DuplicateKeyColumn(next(k for k in keys if keys.count(k) > 1))
    if limit is not None and limit < 0:
        raise UsageError("limit must be 0 or more")
    if b is not None and paths:
        raise UsageError("give either a second revision or paths to compare with, not both")
    want = limit if limit is not None else (None if rows else 0)   # rows to list; None: all
    rev_a = resolve(reg, a)
    commit_a = get_commit(reg, rev_a.commit_id)
    side_a = _Side(a, rev_a.commit_id, dict(commit_a.splits), tuple(commit_a.metadata.get("keys") or ()))
    tmp = None
    store: ObjectSource
    try:
        if paths:
            # (the files' rows are cut into shards somewhere; a read-only registry: elsewhere)
            tmp = tempfile.mkdtemp(prefix="diff-", dir=None if reg.read_only else reg.tmp_dir)
            store = _Stores(LocalStore(tmp), reg.store)
            built = _build_from_paths(reg, store, side_a, paths, progress)
            old, new = side_a, _Side(_describe_paths(paths), None, {**side_a.splits, **built}, side_a.keys)
        elif b is None:
            new = side_a
            parent = commit_a.parents[0] if commit_a.parents else None
            old = _Side(None, None, {}) if parent is None else \
                _Side(f"{rev_a.dataset}@{parent[:12]}", parent, dict(get_commit(reg, parent).splits))
            store = reg.store
        else:
            b = rev_a.dataset + b if b.startswith("@") else b
            rev_b = resolve(reg, b)
            commit_b = get_commit(reg, rev_b.commit_id)
            old, new = side_a, _Side(b, rev_b.commit_id, dict(commit_b.splits),
                                     tuple(commit_b.metadata.get("keys") or ()))
            store = reg.store
        result = _diff_sides(reg, store, old, new, keys, default_keys, want, progress)
        # rows not asked for are not "truncated" (a limit of 0 asks for them, and lists none)
        return result if rows or limit is not None else dataclasses.replace(result, rows_truncated=False)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def _describe_paths(paths: dict[str, list[str]]) -> str:
    return " ".join(f"{s}={p}" for s, ps in paths.items() for p in ps)


class _Stores:
    """Reads from the first store that has the object; writes to the first (a scratch store)."""

    def __init__(self, scratch: LocalStore, base):
        self.scratch, self.base = scratch, base

    def get(self, oid: ObjectId) -> bytes:
        return self.scratch.get(oid) if self.scratch.has(oid) else self.base.get(oid)


def _build_from_paths(reg: Registry, store: _Stores, side_a: _Side, paths, progress: Progress) -> dict[str, Snapshot]:
    """Snapshots of uncommitted files, new shards in the scratch store; the registry is not touched."""
    out = {}
    reader = ShardReader(store, cache_size=3)
    for split, files in paths.items():
        check_split_name(split)
        src = open_source(list(files) if isinstance(files, (list, tuple)) else files)
        check_schema(src.schema, f"split {split}")
        base = None
        if split in side_a.splits:
            snap = get_snapshot(reg, side_a.splits[split])
            if schemas_compatible(snap.schema, src.schema):
                base = BaseIndex(reader, [snap])
        builder = SnapshotBuilder(store.scratch, src.schema, base=base, progress=progress.advance)
        progress.start(f"read {split}", None)
        for batch in src.batches():
            builder.add(batch)
        progress.finish()
        out[split] = builder.finish().snapshot
    return out


def _diff_sides(reg: Registry, store: ObjectSource, old: _Side, new: _Side, keys, default_keys, want, progress) -> DiffResult:
    names = sorted(set(old.splits) | set(new.splits))
    snaps = {}
    for s in names:
        snaps[s] = tuple(None if side.splits.get(s) is None else
                         side.splits[s] if isinstance(side.splits[s], Snapshot) else
                         get_snapshot(reg, side.splits[s]) for side in (old, new))
    split_keys = _split_keys(snaps, keys, (new.keys or old.keys) if default_keys else (), old, new)
    in_effect = keys or tuple(dict.fromkeys(k for ks in split_keys.values() for k in ks))
    results: dict[str, SplitDiff] = {}
    listed: list[RowChange] = []
    truncated = False
    for s in names:
        a, b = snaps[s]
        room = None if want is None else max(want - len(listed), 0)
        if a is None or b is None:
            results[s], rows, more = _whole_split(store, s, a, b, room)
        elif old.splits[s] == new.splits[s] and not isinstance(old.splits[s], Snapshot):
            results[s], rows, more = SplitDiff("unchanged", 0, 0, 0, a.rows, SchemaDiff(), split_keys[s]), [], False
        else:
            results[s], rows, more = _SplitComparison(store, s, a, b, split_keys[s], progress).run(room)
        listed.extend(rows)
        truncated = truncated or more
    return DiffResult(old.commit_id, new.commit_id, old.spec, new.spec or "", results, tuple(listed), truncated,
                      in_effect)


def _split_keys(snaps, keys, defaults, old: _Side, new: _Side) -> dict[str, tuple[str, ...]]:
    """Keys per split: explicit keys must exist on both sides, comparable across a type
    change; recorded ones apply where they are."""
    both = {s: (a, b) for s, (a, b) in snaps.items() if a is not None and b is not None}
    out: dict[str, tuple[str, ...]] = {s: () for s in snaps}
    if keys:
        for s, ab in (both or snaps).items():
            for snap, side in zip(ab, (old, new)):
                missing = [k for k in keys if snap is not None and k not in snap.schema.names]
                if missing:
                    raise UnknownKeyColumn(missing[0], s, snap.schema.names, where=side.spec)
            if s in both:
                bad = _incomparable_keys(*both[s], keys)
                if bad:
                    raise KeyColumnTypeChanged(bad[0], s)
        return {s: (keys if s in both else ()) for s in snaps}
    for s, (a, b) in both.items():
        if defaults and all(k in a.schema.names and k in b.schema.names for k in defaults) and \
                not _incomparable_keys(a, b, defaults):
            out[s] = tuple(defaults)
    return out


def _incomparable_keys(a: Snapshot, b: Snapshot, keys) -> list[str]:
    sa, sb = a.schema, b.schema
    return [k for k in keys if not _comparable(sa.field(k).type, sb.field(k).type)]


def _comparable(old: pa.DataType, new: pa.DataType) -> bool:
    """Whether values of a column retyped from `old` to `new` can be compared (as the
    old values cast to the new type)."""
    return _decoded(old).equals(_decoded(new)) or castable(storage_type(old), storage_type(new))


def _compare_as(old: pa.DataType, new: pa.DataType) -> tuple[int, pa.DataType]:
    """How values of a column retyped from `old` to `new` compare: (side to cast, to which
    type). Old values as the new type, unless the old type is the more general of text
    and bytes: then new values as the old type, since casting to text cannot fail, while
    finding which text does not parse takes a cast per value. Either way an old and a new
    value are equal when one casts exactly to the other, which exactness makes symmetric."""
    def rank(t: pa.DataType) -> int:
        return 2 if pa.types.is_binary(t) or pa.types.is_large_binary(t) else \
            1 if pa.types.is_string(t) or pa.types.is_large_string(t) else 0
    if rank(_decoded(old)) > rank(_decoded(new)) and castable(new, old):
        return 1, old
    return 0, new


def _whole_split(store, split, a: Snapshot | None, b: Snapshot | None, room):
    """A split on one side only: all its rows added or removed."""
    snap, op = (b, "added") if a is None else (a, "removed")
    assert snap is not None         # a split is on one side at least
    schema = SchemaDiff.between(a.schema if a else None, b.schema if b else None)
    result = SplitDiff(op, snap.rows if op == "added" else 0, snap.rows if op == "removed" else 0, 0, 0, schema)
    listed: list[RowChange] = []
    if room is None or room > 0:
        for t in iter_snapshot(store, snap, max_rows=1 << 14):
            for row in t.to_pylist():
                if room is not None and len(listed) >= room:
                    break
                listed.append(RowChange(split, op, len(listed), row=_jsonable_row(row)))
            if room is not None and len(listed) >= room:
                break
    return result, listed, room is not None and snap.rows > room


def _jsonable_row(row: dict) -> dict:
    return {k: to_jsonable(v) for k, v in row.items()}


# -- comparing one split ----------------------------------------------------------
def _pair(fa: np.ndarray, fb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pair equal values of two arrays as multisets, k-th copy with k-th copy in order:
    returns index arrays (ia, ib) of the pairs."""
    oa = stable_argsort(fa)
    ob = stable_argsort(fb)
    sa, sb = fa[oa], fb[ob]
    rank = np.arange(len(sa)) - np.searchsorted(sa, sa, "left")
    left = np.searchsorted(sb, sa, "left")
    hit = rank < np.searchsorted(sb, sa, "right") - left
    return oa[hit], ob[left[hit] + rank[hit]]


def _decoded(t: pa.DataType) -> pa.DataType:
    # the top level only, not arrowtypes.decoded_type: a list of dictionary-encoded numbers
    # hashes otherwise than a list of numbers, so it must go through a cast to be compared
    return t.value_type if pa.types.is_dictionary(t) else t


@dataclass
class _Rows:
    """Rows of one side, each as (global shard index, row in shard, row number in the version)."""
    g: np.ndarray
    row: np.ndarray
    pos: np.ndarray

    def take(self, idx) -> _Rows:
        return _Rows(self.g[idx], self.row[idx], self.pos[idx])

    def __len__(self) -> int:
        return len(self.pos)


def _expand(g, start, count, pos) -> _Rows:
    n = int(count.sum())
    off = np.arange(n, dtype=np.int64) - np.repeat(np.cumsum(count) - count, count)
    rows = _Rows(np.repeat(g, count), np.repeat(start, count) + off, np.repeat(pos, count) + off)
    return rows.take(np.argsort(rows.pos, kind="stable"))


class _SplitComparison:
    def __init__(self, store, split: str, a: Snapshot, b: Snapshot, keys: tuple[str, ...], progress: Progress):
        self.store, self.split, self.a, self.b, self.keys = store, split, a, b, keys
        self.progress = progress
        self.schema_a, self.schema_b = a.schema, b.schema
        self.schema_diff = SchemaDiff.between(self.schema_a, self.schema_b)
        fb = {f.name: f for f in self.schema_b}
        # columns whose values compare: in both, in the old order, unless the old type
        # cannot be cast to the new one (dictionary encoding aside, which fingerprints ignore)
        self.common = [f.name for f in self.schema_a
                       if f.name in fb and f.name not in self.schema_diff.not_compared]
        # a retyped column: side -> the type (in storage form) its values are hashed as
        self.cast: dict[str, tuple[int, pa.DataType]] = {}
        for f in self.schema_a:
            if f.name in self.common and not _decoded(f.type).equals(_decoded(fb[f.name].type)):
                self.cast[f.name] = _compare_as(storage_type(f.type), storage_type(fb[f.name].type))
        self.fast = schemas_compatible(self.schema_a, self.schema_b)
        self.shards: list[ShardRef] = []
        index: dict[str, int] = {}
        self.runs = []
        for snap in (a, b):
            gmap = np.array([index.setdefault(r.id, len(index)) for r in snap.shards] or [0], dtype=np.int64)
            for r in snap.shards:
                if index[r.id] == len(self.shards):
                    self.shards.append(r)
            keep = snap.run_count > 0
            pos = np.cumsum(snap.run_count) - snap.run_count
            self.runs.append((gmap[snap.run_shard[keep]], snap.run_start[keep], snap.run_count[keep], pos[keep]))
        self.reader = ShardReader(store, cache_size=2)
        self.loader = _RowLoader(store, self.shards)

    # rows both sides read from the same place -------------------------------
    def shared_and_rest(self) -> tuple[int, _Rows, _Rows]:
        """Sweep the runs of both sides over each shard's rows: a stretch one side reads k
        times and the other m times has min(k, m) copies in common. Returns their number
        and the rest of each side, row by row (earliest copies count as the common ones)."""
        ends = []
        for g, s, c, _ in self.runs:
            ends += [(g << 32) | s, (g << 32) | (s + c)]
        bp = np.unique(np.concatenate(ends))
        pieces = []
        for g, s, c, p in self.runs:
            lo = np.searchsorted(bp, (g << 32) | s)
            n = np.searchsorted(bp, (g << 32) | (s + c)) - lo
            run = np.repeat(np.arange(len(g)), n)
            seg = lo[run] + np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n)
            start = bp[seg] - (g[run] << 32)
            pieces.append((seg, g[run], start, bp[seg + 1] - bp[seg], p[run] + start - s[run]))
        counts = [np.bincount(pc[0], minlength=len(bp)) for pc in pieces]
        rest, shared = [], []
        for (seg, g, start, length, pos), other in zip(pieces, counts[::-1]):
            order = np.argsort(seg, kind="stable")      # pieces come in row order already
            sseg = seg[order]
            extra = np.empty(len(seg), dtype=bool)
            extra[order] = np.arange(len(sseg)) - np.searchsorted(sseg, sseg, "left") >= other[sseg]
            shared.append(int(length[~extra].sum()))
            rest.append(_expand(g[extra], start[extra], length[extra], pos[extra]))
        assert shared[0] == shared[1]
        return shared[0], rest[0], rest[1]

    def fingerprints(self, side: int, rows: _Rows) -> np.ndarray:
        """Comparable fingerprints of these rows: the stored ones when they cover exactly the
        compared columns, uncast, else computed again over them for the whole split, streaming."""
        schema = (self.schema_a, self.schema_b)[side]
        if self.fast or (schema.names == self.common and all(s != side for s, _ in self.cast.values())):
            out = np.empty(len(rows), dtype=np.uint64)
            order = np.argsort(rows.g, kind="stable")
            gs = rows.g[order]
            for lo, hi in _groups(gs):
                fps = self.reader.fingerprints(self.shards[int(gs[lo])], schema)
                out[order[lo:hi]] = fps[rows.row[order[lo:hi]]]
            return out
        snap = (self.a, self.b)[side]
        every = np.empty(snap.rows, dtype=np.uint64)
        at = 0
        self.progress.start(f"fingerprint {self.split} ({'old' if side == 0 else 'new'})", snap.rows)
        reader = ShardReader(self.store, columns=self.common, cache_size=2)
        for t in iter_snapshot(self.store, snap, columns=self.common, reader=reader):
            every[at:at + t.num_rows] = self._row_fingerprints(side, t, self.common)
            at += t.num_rows
            self.progress.advance(t.num_rows)
        self.progress.finish()
        return every[rows.pos]

    def run(self, room: int | None):
        a, b = self.a, self.b
        if not self.common:          # nothing to compare rows on
            shared = 0
            removed = _expand(*self.runs[0])
            added = _expand(*self.runs[1])
        else:
            shared, removed, added = self.shared_and_rest()
            ia, ib = _pair(self.fingerprints(0, removed), self.fingerprints(1, added))
            shared += len(ia)
            removed = removed.take(np.setdiff1d(np.arange(len(removed)), ia, assume_unique=True))
            added = added.take(np.setdiff1d(np.arange(len(added)), ib, assume_unique=True))
        pairs = (np.zeros(0, np.int64), np.zeros(0, np.int64))
        key_tables = None
        if self.keys and len(removed) and len(added):
            key_tables = (self.loader.take(removed, self._fields(0, self.keys)),
                          self.loader.take(added, self._fields(1, self.keys)))
            pairs = _pair(*(self._row_fingerprints(side, t, self.keys) for side, t in enumerate(key_tables)))
        modified = len(pairs[0])
        status = "changed" if self.schema_diff or len(removed) or len(added) else "unchanged"
        result = SplitDiff(status, len(added) - modified, len(removed) - modified, modified, shared,
                           self.schema_diff, self.keys)
        assert result.unchanged + result.removed + modified == a.rows
        assert result.unchanged + result.added + modified == b.rows
        total = len(removed) + len(added) - modified
        if room == 0 or total == 0:
            return result, [], room is not None and total > room
        return result, self._list(removed, added, pairs, key_tables, room), room is not None and total > room

    # listing rows -----------------------------------------------------------
    def _fields(self, side: int, names) -> pa.Schema:
        schema = (self.schema_a, self.schema_b)[side]
        return pa.schema([schema.field(n) for n in names])

    def _hashes(self, side: int, name: str, column) -> np.ndarray:
        """Hashes of a column's values; a retyped column's as values of the other side's type."""
        cast = self.cast.get(name)
        return hash_as(column, cast[1]) if cast is not None and cast[0] == side else hash_array(column)

    def _row_fingerprints(self, side: int, t: pa.Table, names) -> np.ndarray:
        """Fingerprints of rows over these columns, comparable between the two sides."""
        return combine_columns((self._hashes(side, c, t[c]) for c in names), t.num_rows)

    def _list(self, removed: _Rows, added: _Rows, pairs, key_tables, room):
        ir, ia = pairs
        only_r = np.setdiff1d(np.arange(len(removed)), ir, assume_unique=True)
        only_a = np.setdiff1d(np.arange(len(added)), ia, assume_unique=True)
        # entries: (op, index into removed/added or into pairs)
        ops = np.concatenate([np.zeros(len(only_r), np.int8), np.ones(len(only_a), np.int8),
                              np.full(len(ir), 2, np.int8)])
        idx = np.concatenate([only_r, only_a, np.arange(len(ir))]).astype(np.int64)
        order = None
        if key_tables is not None:      # by key, like Dolt
            try:
                old_keys = key_tables[0].take(only_r).cast(key_tables[1].schema, safe=False)
                keys_all = pa.concat_tables([old_keys, key_tables[1].take(only_a), key_tables[1].take(ia)])
                order = pc.sort_indices(keys_all, sort_keys=[(k, "ascending") for k in self.keys]) \
                    .to_numpy()
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
                order = None
        if order is None:               # in row order, each removed row before the added at its place
            pos = np.concatenate([removed.pos[only_r], added.pos[only_a], added.pos[ia]])
            order = np.lexsort((ops, pos))
        if room is not None:
            order = order[:room]
        ops, idx = ops[order], idx[order]
        rem_rows = self._rows(0, removed.take(idx[ops == 0]))
        add_rows = self._rows(1, added.take(idx[ops == 1]))
        changes = self._changes(removed.take(ir[idx[ops == 2]]), added.take(ia[idx[ops == 2]]))
        it: dict[int, Iterator[Any]] = {0: iter(rem_rows), 1: iter(add_rows), 2: iter(changes)}
        out = []
        for op, i in zip(ops.tolist(), idx.tolist()):
            row = next(it[op])
            if op == 2:
                key, ch = row
                out.append(RowChange(self.split, "modified", int(added.pos[ia[i]]), key=key, changes=ch))
            else:
                index = int((removed if op == 0 else added).pos[i])
                key = {k: row[k] for k in self.keys} if self.keys else None
                out.append(RowChange(self.split, OPS[op], index, row=row, key=key))
        return out

    def _rows(self, side: int, rows: _Rows) -> list[dict]:
        schema = (self.schema_a, self.schema_b)[side]
        return [_jsonable_row(r) for r in self.loader.take(rows, schema).to_pylist()]

    def _changes(self, old: _Rows, new: _Rows) -> list[tuple[dict, dict]]:
        if not len(old):
            return []
        cols = list(dict.fromkeys([*self.keys, *self.common]))
        t_old = self.loader.take(old, self._fields(0, cols))
        t_new = self.loader.take(new, self._fields(1, cols))
        differ = {c: self._hashes(0, c, t_old[c]) != self._hashes(1, c, t_new[c]) for c in self.common}
        old_py, new_py = t_old.to_pylist(), t_new.to_pylist()
        out = []
        for i, (ro, rn) in enumerate(zip(old_py, new_py)):
            key = {k: to_jsonable(rn[k]) for k in self.keys}
            out.append((key, {c: (to_jsonable(ro[c]), to_jsonable(rn[c])) for c in self.common if differ[c][i]}))
        return out


def _groups(sorted_values: np.ndarray):
    """(start, end) of each run of equal values in a sorted array."""
    if not len(sorted_values):
        return []
    cuts = np.flatnonzero(sorted_values[1:] != sorted_values[:-1]) + 1
    return zip([0, *cuts.tolist()], [*cuts.tolist(), len(sorted_values)])


class _RowLoader:
    """Reads chosen rows of shards, decoding only the row groups that hold them."""

    def __init__(self, store, shards: list[ShardRef], cache_size: int = 2):
        self.store, self.shards, self.cache_size = store, shards, cache_size
        self._files: dict[int, tuple[Any, np.ndarray]] = {}

    def _file(self, g: int):
        import pyarrow.parquet as pq
        got = self._files.pop(g, None)
        if got is None:
            pf = pq.ParquetFile(pa.BufferReader(self.store.get(self.shards[g].id)))
            sizes = [pf.metadata.row_group(i).num_rows for i in range(pf.metadata.num_row_groups)]
            got = (pf, np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64))
            while len(self._files) >= self.cache_size:
                self._files.pop(next(iter(self._files)))
        self._files[g] = got
        return got

    def take(self, rows: _Rows, schema: pa.Schema) -> pa.Table:
        """These rows, in this order, with these columns, in their storage types (which
        `take` has kernels for; they hold the same values)."""
        schema = storage_schema(schema)
        if not len(rows):
            return schema.empty_table()
        order = np.lexsort((rows.row, rows.g))
        gs, rs = rows.g[order], rows.row[order]
        pieces = []
        for lo, hi in _groups(gs):
            pf, starts = self._file(int(gs[lo]))
            r = rs[lo:hi]
            grp = np.searchsorted(starts, r, side="right") - 1
            groups = np.unique(grp)
            sizes = starts[groups + 1] - starts[groups]
            first = np.cumsum(sizes) - sizes
            local = r - starts[grp] + first[np.searchsorted(groups, grp)]
            t = pf.read_row_groups(groups.tolist(), columns=schema.names).select(schema.names)
            pieces.append(conform(t.take(local), schema))
        table = pa.concat_tables(pieces)
        inverse = np.empty(len(order), dtype=np.int64)
        inverse[order] = np.arange(len(order))
        return table.take(inverse)



# -- for the three-way merge (versions/merge.py) ----------------------------------
def changed_positions(store, a: Snapshot, b: Snapshot) -> tuple[np.ndarray, np.ndarray]:
    """Row numbers of `a`'s rows that `b` lacks and of `b`'s rows that `a` lacks, as
    multisets of rows of compatible schemas: shared runs are skipped from the runs alone,
    the rest paired by stored fingerprints, so the cost follows the rows that differ."""
    cmp = _SplitComparison(store, "", a, b, (), NO_PROGRESS)
    _, removed, added = cmp.shared_and_rest()
    ia, ib = _pair(cmp.fingerprints(0, removed), cmp.fingerprints(1, added))
    keep_r = np.setdiff1d(np.arange(len(removed)), ia, assume_unique=True)
    keep_a = np.setdiff1d(np.arange(len(added)), ib, assume_unique=True)
    return np.sort(removed.pos[keep_r]), np.sort(added.pos[keep_a])


def row_locations(snap: Snapshot, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(index into `snap.shards`, row in that shard) of each row number."""
    positions = np.asarray(positions, dtype=np.int64)
    ends = np.cumsum(snap.run_count)
    run = np.searchsorted(ends, positions, side="right")
    return snap.run_shard[run], snap.run_start[run] + positions - (ends[run] - snap.run_count[run])


def take_rows(store, snap: Snapshot, positions: np.ndarray, columns: list[str] | None = None) -> pa.Table:
    """These rows of the split, in this order, in storage types, reading only their row
    groups, and of those only `columns` (default: all)."""
    positions = np.asarray(positions, dtype=np.int64)
    g, row = row_locations(snap, positions)
    schema = snap.schema if columns is None else pa.schema([snap.schema.field(c) for c in columns])
    return _RowLoader(store, list(snap.shards)).take(_Rows(g, row, positions), schema)


def stored_fingerprints(store, snap: Snapshot, positions: np.ndarray) -> np.ndarray:
    """The row fingerprints of these rows of the split, from the shards' stored ones (no
    row is read; comparable between snapshots of compatible schemas)."""
    positions = np.asarray(positions, dtype=np.int64)
    out = np.empty(len(positions), dtype=np.uint64)
    if not len(positions):
        return out
    g, row = row_locations(snap, positions)
    reader = ShardReader(store, cache_size=1)
    order = np.argsort(g, kind="stable")
    gs = g[order]
    for lo, hi in _groups(gs):
        fps = reader.fingerprints(snap.shards[int(gs[lo])], snap.schema)
        out[order[lo:hi]] = fps[row[order[lo:hi]]]
    return out


# -- text output -------------------------------------------------------------------
def _value(v: Any) -> str:
    return json.dumps(v, ensure_ascii=False)


def render(result: DiffResult, stat: bool = False, schema_only: bool = False) -> str:
    """Git-like text: a header, per split "+added -removed ~modified =unchanged" with its
    column changes, then the listed rows."""
    frm = f"{result.from_spec} ({result.from_id[:12]})" if result.from_id else "(nothing)"
    to = f"{result.to_spec} ({result.to_id[:12]})" if result.to_id else f"{result.to_spec} (uncommitted)"
    lines = [f"--- {frm}", f"+++ {to}"]
    if not result:
        lines.append("no changes")
        return "\n".join(lines) + "\n"
    for name, s in result.splits.items():
        if schema_only and not s.schema:
            continue
        tag = {"added": " (new split)", "removed": " (dropped split)"}.get(s.status, "")
        head = f"{name}{tag}"
        if not schema_only:
            head += f": +{s.added} -{s.removed} ~{s.modified} ={s.unchanged}"
        lines.append(head)
        if stat or s.status in ("added", "removed"):
            continue
        lines += [f"  + column {k}: {t}" for k, t in s.schema.added]
        lines += [f"  - column {k}" for k, _ in s.schema.removed]
        lines += [f"  ~ column {k}: {a} -> {b}" + (" (values not compared)" if k in s.schema.not_compared else "")
                  for k, a, b in s.schema.changed]
        if s.schema.reordered:
            lines.append("  ~ column order changed")
    if stat or schema_only or not result.rows:
        return "\n".join(lines) + "\n"
    split = None
    for r in result.rows:
        if r.split != split:
            split = r.split
            lines.append(f"rows of {split}:")
        if r.op == "modified":
            key = ", ".join(f"{k}={_value(v)}" for k, v in (r.key or {}).items())
            cells = ", ".join(f"{c} {_value(o)} -> {_value(n)}" for c, (o, n) in (r.changes or {}).items())
            lines.append(f"  ~ {key}: {cells}")
        else:
            lines.append(f"  {'+' if r.op == 'added' else '-'} {_value(r.row)}")
    if result.rows_truncated:
        lines.append(f"  ... more rows changed (listed {len(result.rows)})")
    return "\n".join(lines) + "\n"


__all__ = ["diff", "render", "changed_positions", "row_locations", "take_rows", "DiffResult", "SplitDiff", "SchemaDiff", "RowChange"]
