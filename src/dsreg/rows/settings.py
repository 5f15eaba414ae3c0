"""The tunables of writing rows, in one value a commit passes down: how sources are read
in batches, where shards are cut, when a snapshot is compacted.

The defaults are dsreg's (the shard sizes are part of the format: equal rows give equal
shards only under equal settings); tests pass small ones to exercise many shards, batches
and compactions with small tables.
"""
from __future__ import annotations

from dataclasses import dataclass

from dsreg.rows.compaction import DEFAULT_COMPACTION_SETTINGS, CompactionSettings
from dsreg.rows.ingest import BATCH_ROWS, CSV_BLOCK_BYTES
from dsreg.rows.shards import DEFAULT_SHARD_SETTINGS, ShardSettings


@dataclass(frozen=True)
class RowSettings:
    shards: ShardSettings = DEFAULT_SHARD_SETTINGS
    compaction: CompactionSettings = DEFAULT_COMPACTION_SETTINGS
    batch_rows: int = BATCH_ROWS                # rows per batch read from a source
    text_block_bytes: int = CSV_BLOCK_BYTES     # CSV and JSON parsed (types inferred) in blocks this big


DEFAULT_ROW_SETTINGS = RowSettings()

__all__ = ["RowSettings", "ShardSettings", "CompactionSettings", "DEFAULT_ROW_SETTINGS"]
