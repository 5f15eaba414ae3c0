"""The one place that turns commits and snapshots into bytes and back.

Both are canonical JSON (sorted keys, no whitespace, UTF-8), so equal content gives equal
bytes and so equal ids. Snapshots are zlib-compressed: a version made by scattered edits
has tens of thousands of runs.
"""
from __future__ import annotations

import base64
import json
import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import DsregError
from .ids import CommitId, ObjectId, ShardId

COMMIT_FORMAT = "dsreg-commit-1"
SNAPSHOT_FORMAT = "dsreg-snapshot-1"
_SNAPSHOT_MAGIC = b"DSRGSNP1"


class CorruptObject(DsregError):
    pass


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


@dataclass(frozen=True)
class ShardRef:
    """A shard as a snapshot names it: its id, its fingerprint object, rows and bytes."""
    id: ShardId
    fingerprints: ObjectId
    rows: int
    bytes: int = 0                    # size of the Parquet object
    index: ObjectId | None = None     # byte ranges and hashes of its footer and column chunks

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


def encode_snapshot(snap: Snapshot) -> bytes:
    doc = {
        "format": SNAPSHOT_FORMAT,
        "schema": base64.b64encode(snap.schema_ipc).decode("ascii"),
        "shards": [[s.id, s.fingerprints, s.rows, s.bytes, s.index] for s in snap.shards],
        "runs": np.stack([snap.run_shard, snap.run_start, snap.run_count], axis=1).astype(np.int64).tolist()
        if snap.num_runs else [],
    }
    return _SNAPSHOT_MAGIC + zlib.compress(canonical_json(doc), 6)


def decode_snapshot(data: bytes) -> Snapshot:
    try:
        if not data.startswith(_SNAPSHOT_MAGIC):
            raise ValueError("bad magic")
        doc = json.loads(zlib.decompress(data[len(_SNAPSHOT_MAGIC):]))
        if doc.get("format") != SNAPSHOT_FORMAT:
            raise ValueError(f"unknown format {doc.get('format')!r}")
        runs = np.asarray(doc["runs"], dtype=np.int64).reshape(-1, 3)
        return Snapshot(
            schema_ipc=base64.b64decode(doc["schema"]),
            shards=tuple(ShardRef(ShardId(i), ObjectId(f), int(r), int(b), ObjectId(x) if x else None)
                         for i, f, r, b, x in doc["shards"]),
            run_shard=runs[:, 0].copy(), run_start=runs[:, 1].copy(), run_count=runs[:, 2].copy(),
        )
    except (ValueError, KeyError, TypeError, zlib.error) as e:
        raise CorruptObject(f"snapshot object is malformed: {e}") from None


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


def encode_commit(commit: Commit) -> bytes:
    return canonical_json(commit.to_doc())


def decode_commit(data: bytes) -> Commit:
    try:
        doc = json.loads(data)
        if doc.get("format") != COMMIT_FORMAT:
            raise ValueError(f"unknown format {doc.get('format')!r}")
        return Commit(
            dataset=doc["dataset"], parents=tuple(CommitId(p) for p in doc["parents"]),
            splits={k: ObjectId(v) for k, v in doc["splits"].items()}, message=doc["message"],
            author=doc["author"], timestamp=int(doc["timestamp"]), metadata=doc.get("metadata") or {},
        )
    except (ValueError, KeyError, TypeError) as e:
        raise CorruptObject(f"commit object is malformed: {e}") from None


_FP_MAGIC = b"DSRGFP1\n"


def encode_fingerprints(fps: np.ndarray) -> bytes:
    return _FP_MAGIC + np.ascontiguousarray(fps, dtype="<u8").tobytes()


def fingerprints_size(rows: int) -> int:
    return len(_FP_MAGIC) + 8 * rows


def decode_fingerprints(data: bytes) -> np.ndarray:
    if not data.startswith(_FP_MAGIC) or (len(data) - len(_FP_MAGIC)) % 8:
        raise CorruptObject("fingerprint object is malformed")
    return np.frombuffer(data, dtype="<u8", offset=len(_FP_MAGIC)).astype(np.uint64)
