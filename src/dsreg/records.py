"""The records a version is made of: a commit, a split's snapshot (runs over shards) and a
shard as a snapshot names it. Frozen values, shared by the manifest (which indexes them) and
the model layer (model/serialize.py turns them into canonical bytes and back)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dsreg.ids import CommitId, ObjectId, ShardId

COMMIT_FORMAT = "dsreg-commit-1"


@dataclass(frozen=True)
class ShardRef:
    """A shard as a snapshot names it: its id, its fingerprint object, rows and bytes."""
    id: ShardId
    fingerprints: ObjectId
    rows: int
    bytes: int = 0                    # size of the Parquet object
    index: ObjectId | None = None     # byte ranges and hashes of its footer and column chunks
    # column statistics computed when the shard was written, for the manifest; not serialized
    stats: dict | None = field(default=None, compare=False, repr=False)

    def objects(self) -> tuple[ObjectId, ...]:
        """Every object this shard consists of: what push, pull and gc must move or keep."""
        return (ObjectId(self.id), self.fingerprints) + ((self.index,) if self.index else ())


@dataclass(frozen=True, eq=False)
class Snapshot:
    """A split's rows: an ordered list of runs over shards, plus the Arrow schema."""
    schema_ipc: bytes                 # Arrow IPC-serialized schema, metadata included
    shards: tuple[ShardRef, ...]
    run_shard: np.ndarray             # int64: index into `shards`
    run_start: np.ndarray             # int64: first row in the shard
    run_count: np.ndarray             # int64: rows in the run

    @property
    def rows(self) -> int:
        return int(self.run_count.sum()) if len(self.run_count) else 0

    @property
    def schema(self):
        import pyarrow as pa
        return pa.ipc.read_schema(pa.py_buffer(self.schema_ipc))

    @property
    def nbytes(self) -> int:
        """Stored bytes of the rows this snapshot reads, pro rata over partly used shards."""
        if not self.num_runs:
            return 0
        per_row = np.array([s.bytes / max(s.rows, 1) for s in self.shards])
        return int((per_row[self.run_shard] * self.run_count).sum())

    @property
    def num_runs(self) -> int:
        return len(self.run_count)

    def runs(self):
        """(ShardRef, start, count) for each run, in order."""
        for s, a, c in zip(self.run_shard.tolist(), self.run_start.tolist(), self.run_count.tolist()):
            yield self.shards[s], a, c


@dataclass(frozen=True)
class Commit:
    dataset: str
    parents: tuple[CommitId, ...]
    splits: dict[str, ObjectId]       # split name -> snapshot object id
    message: str
    author: str
    timestamp: int                    # seconds since the epoch, UTC
    metadata: dict[str, Any] = field(default_factory=dict)   # user fields (card), sources, ...

    def to_doc(self) -> dict:
        return {
            "format": COMMIT_FORMAT, "dataset": self.dataset, "parents": list(self.parents),
            "splits": dict(sorted(self.splits.items())), "message": self.message,
            "author": self.author, "timestamp": self.timestamp, "metadata": self.metadata,
        }


__all__ = ["COMMIT_FORMAT", "Commit", "ShardRef", "Snapshot"]
