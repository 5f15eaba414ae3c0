"""Sorted row hashes per snapshot, so set rules pay for the change rather than the table.

For a split, `SortedHashes` holds the hash of every row (its stored fingerprint, or a hash
of its key columns) sorted, with each one's row index. It is a derived cache, kept in a
local folder of the registry: safe to lose (computed again from the rows when missing),
checked against the snapshot it names, its row count and the fingerprint scheme (a file
of another scheme, another snapshot or another column list is ignored), written whole or
not at all.

A new version's hashes come from its parent's: the parent's rows the new version no longer
reads are taken out by their positions, the rows it reads from elsewhere are hashed and
merged in. Only exact bookkeeping is done: where a shard row is read more than once, the
caller computes the hashes from the rows instead.
"""
from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dsreg.model.serialize import Snapshot
from dsreg.rows.fingerprint import SCHEME

KEEP = 24       # files kept in the folder, newest first: 16 bytes a row each, and only heads are read
FINGERPRINTS = ("fingerprints",)    # `what` for the stored row fingerprints; ("columns", *names) for key hashes


@dataclass(frozen=True)
class SortedHashes:
    values: np.ndarray      # uint64, sorted
    order: np.ndarray       # int64: the row of the split each value is the hash of

    @property
    def has_repeats(self) -> bool:
        return bool(len(self.values) > 1 and (self.values[1:] == self.values[:-1]).any())


def of_hashes(hashes: np.ndarray) -> SortedHashes:
    order = np.argsort(hashes)
    return SortedHashes(hashes[order], order.astype(np.int64, copy=False))


def _header(snapshot_id: str, what: tuple[str, ...], rows: int) -> str:
    return json.dumps({"scheme": SCHEME, "snapshot": snapshot_id, "what": list(what), "rows": rows})


def _path(folder: Path, snapshot_id: str, what: tuple[str, ...]) -> Path:
    import hashlib
    tag = hashlib.sha256(json.dumps([SCHEME, list(what)]).encode()).hexdigest()[:16]
    return folder / f"{snapshot_id}.{tag}.hashes"


def load(folder: Path | None, snapshot_id: str | None, what: tuple[str, ...], snap: Snapshot) -> SortedHashes | None:
    """The cached hashes of this snapshot, or None (no cache, or one that is unreadable or
    made for another snapshot, scheme, column list or row count)."""
    if folder is None or snapshot_id is None:
        return None
    expected = _header(snapshot_id, what, snap.rows).encode() + b"\n"
    try:
        with open(_path(folder, snapshot_id, what), "rb") as f:
            if f.read(len(expected)) != expected:
                return None
            values = np.fromfile(f, np.dtype("<u8"), snap.rows)
            order = np.fromfile(f, np.dtype("<i8"), snap.rows)
            if f.read(1):
                return None
    except (OSError, ValueError):
        return None
    if len(values) != snap.rows or len(order) != snap.rows:
        return None
    return SortedHashes(values.astype(np.uint64, copy=False), order.astype(np.int64, copy=False))


def save(folder: Path | None, snapshot_id: str | None, what: tuple[str, ...], got: SortedHashes) -> None:
    """Best effort: a cache that cannot be written is computed again next time. One line of
    JSON naming what it is for, then the values and the rows, raw little-endian."""
    if folder is None or snapshot_id is None:
        return
    path = _path(folder, snapshot_id, what)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as f:
            f.write(_header(snapshot_id, what, len(got.values)).encode() + b"\n")
            f.write(got.values.astype("<u8", copy=False).tobytes())
            f.write(got.order.astype("<i8", copy=False).tobytes())
        os.replace(tmp, path)
        _prune(folder)
    except OSError:
        tmp.unlink(missing_ok=True)


def _prune(folder: Path) -> None:
    """Drop all but the KEEP newest files: an old version's hashes are computed again if needed."""
    files = sorted(folder.glob("*.hashes"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in files[KEEP:]:
        old.unlink(missing_ok=True)


def _same_schema(a: Snapshot, b: Snapshot) -> bool:
    return a.schema.remove_metadata().equals(b.schema.remove_metadata())


def row_positions(snap: Snapshot, base: dict[str, int]) -> np.ndarray:
    """Each row of the split as one number: its shard's offset in `base` plus its row there."""
    if not snap.num_runs:
        return np.zeros(0, np.int64)
    offsets = np.array([base[ref.id] for ref in snap.shards], np.int64)
    starts = offsets[snap.run_shard] + snap.run_start
    first = np.concatenate([[0], np.cumsum(snap.run_count)[:-1]])
    return np.repeat(starts - first, snap.run_count) + np.arange(int(snap.run_count.sum()), dtype=np.int64)


def derive(parent: Snapshot, parent_hashes: SortedHashes, new: Snapshot,
           hash_rows: Callable[[np.ndarray], np.ndarray]) -> SortedHashes | None:
    """The new version's sorted hashes from its parent's: `hash_rows(rows)` hashes the given
    rows of `new` (those on no parent row). None when a snapshot reads a shard row twice or
    the schema changed."""
    if not _same_schema(parent, new):
        return None             # the same shard rows read as other types may hash differently
    base: dict[str, int] = {}
    size = 0
    for ref in (*parent.shards, *new.shards):
        if ref.id not in base:
            base[ref.id] = size
            size += ref.rows
    g_old, g_new = row_positions(parent, base), row_positions(new, base)
    if len(g_old) != len(parent_hashes.values):
        return None
    for g in (g_old, g_new):
        if len(g) and np.bincount(g, minlength=size).max() > 1:
            return None
    where_new = np.full(size, -1, np.int64)
    where_new[g_new] = np.arange(len(g_new), dtype=np.int64)
    moved = where_new[g_old][parent_hashes.order]         # each sorted parent value's row in `new`, or -1
    kept = moved >= 0
    values, order = parent_hashes.values[kept], moved[kept]
    in_old = np.zeros(size, bool)
    in_old[g_old] = True
    added = np.flatnonzero(~in_old[g_new])
    if len(added):
        extra = np.asarray(hash_rows(added), np.uint64)
        by = np.argsort(extra)
        at = np.searchsorted(values, extra[by])
        values, order = np.insert(values, at, extra[by]), np.insert(order, at, added[by])
    return SortedHashes(values, order)


__all__ = ["SortedHashes", "FINGERPRINTS", "of_hashes", "load", "save", "derive", "row_positions"]
