"""Compaction: rewrite a fragmented snapshot into fresh shards without changing its rows.

Scattered edits leave a version reading many short runs out of shards it mostly does not
use. Past a threshold, reading it costs more than rewriting it; the rewrite goes through
the same content-defined cutter, so stretches identical to earlier shards dedup to them.
"""
from __future__ import annotations

from dataclasses import dataclass

from dsreg.model.serialize import Snapshot
from dsreg.rows.shards import DEFAULT_SHARD_SETTINGS, ShardReader, ShardSettings, ShardStats
from dsreg.rows.snapshots import SnapshotBuilder, iter_snapshot
from dsreg.store import ObjectStore


@dataclass(frozen=True)
class CompactionSettings:
    """When a snapshot counts as fragmented (tests take small thresholds)."""
    min_runs: int = 4096              # below this many runs a snapshot is never fragmented
    min_mean_run_rows: int = 16       # compact when runs are shorter than this on average...
    max_dead_fraction: float = 0.75   # ...or when this much of the referenced shards' rows is unused
    min_dead_rows: int = 1 << 20      # ...and that dead weight is at least this many rows


DEFAULT_COMPACTION_SETTINGS = CompactionSettings()


def fragmentation(snap: Snapshot) -> tuple[float, float, int]:
    """(mean run length, fraction of referenced shard rows unused, unused rows)."""
    if snap.num_runs == 0:
        return float("inf"), 0.0, 0
    held = sum(s.rows for s in snap.shards)
    used = min(snap.rows, held)
    dead = held - used
    return snap.rows / snap.num_runs, dead / max(held, 1), dead


def needs_compaction(snap: Snapshot, settings: CompactionSettings = DEFAULT_COMPACTION_SETTINGS) -> bool:
    mean_run, dead_fraction, dead = fragmentation(snap)
    if snap.num_runs >= settings.min_runs and mean_run < settings.min_mean_run_rows:
        return True
    return dead_fraction > settings.max_dead_fraction and dead >= settings.min_dead_rows


def compact(store: ObjectStore, snap: Snapshot, reader: ShardReader | None = None, *,
            shards: ShardSettings = DEFAULT_SHARD_SETTINGS, shard_stats: ShardStats | None = None
            ) -> tuple[Snapshot, int]:
    """The same rows in fresh shards (cut by `shards`, carrying `shard_stats`' statistics);
    returns (snapshot, new bytes written)."""
    builder = SnapshotBuilder(store, snap.schema, settings=shards, shard_stats=shard_stats)
    for table in iter_snapshot(store, snap, reader=reader):
        builder.add(table)
    built = builder.finish()
    assert built.snapshot.rows == snap.rows
    return built.snapshot, built.new_bytes


def maybe_compact(store: ObjectStore, snap: Snapshot, reader: ShardReader | None = None, *,
                  settings: CompactionSettings = DEFAULT_COMPACTION_SETTINGS,
                  shards: ShardSettings = DEFAULT_SHARD_SETTINGS, shard_stats: ShardStats | None = None):
    if not needs_compaction(snap, settings):
        return None
    return compact(store, snap, reader, shards=shards, shard_stats=shard_stats)


__all__ = ["CompactionSettings", "needs_compaction", "compact", "maybe_compact", "fragmentation"]
