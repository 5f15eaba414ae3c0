"""Compaction: rewrite a fragmented snapshot into fresh shards without changing its rows.

Scattered edits leave a version reading many short runs out of shards it mostly does not
use. Past a threshold, reading it costs more than rewriting it; the rewrite goes through
the same content-defined cutter, so stretches identical to earlier shards dedup to them.
"""
from __future__ import annotations

import numpy as np

from dsreg.model.serialize import Snapshot
from dsreg.rows.shards import ShardReader, ShardStats
from dsreg.rows.snapshots import SnapshotBuilder, iter_snapshot
from dsreg.store import ObjectStore

MIN_RUNS = 4096            # below this many runs a snapshot is never fragmented
MIN_MEAN_RUN_ROWS = 16     # compact when runs are shorter than this on average...
MAX_DEAD_FRACTION = 0.75   # ...or when this much of the referenced shards' rows is unused
MIN_DEAD_ROWS = 1 << 20    # ...and that dead weight is at least this many rows


def fragmentation(snap: Snapshot) -> tuple[float, float, int]:
    """(mean run length, fraction of referenced shard rows unused, unused rows)."""
    if snap.num_runs == 0:
        return float("inf"), 0.0, 0
    held = sum(s.rows for s in snap.shards)
    used = min(snap.rows, held)
    dead = held - used
    return snap.rows / snap.num_runs, dead / max(held, 1), dead


def needs_compaction(snap: Snapshot) -> bool:
    mean_run, dead_fraction, dead = fragmentation(snap)
    if snap.num_runs >= MIN_RUNS and mean_run < MIN_MEAN_RUN_ROWS:
        return True
    return dead_fraction > MAX_DEAD_FRACTION and dead >= MIN_DEAD_ROWS


def compact(store: ObjectStore, snap: Snapshot, reader: ShardReader | None = None,
            shard_stats: ShardStats | None = None) -> tuple[Snapshot, int]:
    """The same rows in fresh shards (carrying `shard_stats`' statistics); returns
    (snapshot, new bytes written)."""
    builder = SnapshotBuilder(store, snap.schema, shard_stats=shard_stats)
    for table in iter_snapshot(store, snap, reader=reader):
        builder.add(table)
    built = builder.finish()
    assert built.snapshot.rows == snap.rows
    return built.snapshot, built.new_bytes


def maybe_compact(store: ObjectStore, snap: Snapshot, reader: ShardReader | None = None,
                  shard_stats: ShardStats | None = None):
    return compact(store, snap, reader, shard_stats) if needs_compaction(snap) else None


__all__ = ["needs_compaction", "compact", "maybe_compact", "fragmentation", "np"]
