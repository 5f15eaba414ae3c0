"""The shard writer and its settings: sizes are values passed down from the commit, and
column statistics come from a function the layer above hands in."""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from dsreg.rows.fingerprint import row_fingerprints
from dsreg.rows.settings import CompactionSettings, RowSettings, ShardSettings
from dsreg.rows.shards import write_shard
from dsreg.stats import shard_stats
from dsreg.stats.split import shard_stats_from_data
from dsreg.store import MemoryStore


def test_default_settings_are_the_formats():
    """Part of the format: other sizes give other shard bytes, and so other ids."""
    assert RowSettings().shards == ShardSettings(target_bytes=32 << 20, min_bytes=4 << 20, max_bytes=128 << 20,
                                                 row_group_target_bytes=2 << 20)
    assert RowSettings().compaction == CompactionSettings(min_runs=4096, min_mean_run_rows=16,
                                                          max_dead_fraction=0.75, min_dead_rows=1 << 20)


def table(n: int) -> pa.Table:
    rng = np.random.default_rng(0)
    return pa.table({"id": np.arange(n), "x": rng.standard_normal(n), "s": [f"w{i % 7}" for i in range(n)]})


def test_the_writer_computes_statistics_only_with_the_function_it_is_given():
    t = table(20_000)
    fps = row_fingerprints(t)
    small = ShardSettings(row_group_target_bytes=16 << 10)
    calls = []

    def stats(rows: pa.Table, block_rows: int) -> dict:
        calls.append(block_rows)
        return shard_stats(rows, block_rows)
    plain, _, _ = write_shard(MemoryStore(), t, fps, small)
    store = MemoryStore()
    ref, _, _ = write_shard(store, t, fps, small, stats)
    assert plain.stats is None and ref.id == plain.id          # the same bytes either way
    assert len(calls) == 1 and len(ref.stats["blocks"]) > 1     # per row group, of the settings' size
    assert ref.stats == shard_stats_from_data(store.get(ref.id), t.schema)
    default, _, _ = write_shard(MemoryStore(), t, fps)
    assert default.id != ref.id                                 # the row-group size is in the bytes
