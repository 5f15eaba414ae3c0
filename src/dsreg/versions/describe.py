"""What `dsreg show` tells of one version: its commit, and per split its size and schema."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dsreg.ids import CommitId
from dsreg.jsonvalues import JsonFields
from dsreg.manifest.rows import SnapshotInfo
from dsreg.model.objects import get_commit, get_snapshot
from dsreg.model.revisions import resolve

if TYPE_CHECKING:
    from dsreg.registry import Registry


@dataclass(frozen=True)
class ColumnInfo:
    name: str
    type: str           # the Arrow type, as Arrow writes it


@dataclass(frozen=True)
class VersionInfo(JsonFields):
    """One version as `dsreg show` tells it."""

    id: CommitId
    dataset: str
    parents: tuple[CommitId, ...]
    message: str
    author: str
    timestamp: int
    splits: dict[str, SnapshotInfo]
    schema: dict[str, tuple[ColumnInfo, ...]]
    metadata: dict[str, Any]


def describe(reg: Registry, spec: str) -> VersionInfo:
    """The commit `spec` names, with each split's size and schema. Sizes come from the
    manifest where it has them, else from the snapshot."""
    rev = resolve(reg, spec)
    c = get_commit(reg, rev.commit_id)
    splits: dict[str, SnapshotInfo] = {}
    schema: dict[str, tuple[ColumnInfo, ...]] = {}
    for split, sid in sorted(c.splits.items()):
        info = reg.manifest.snapshot_info(sid)
        snap = None
        if info is None:
            snap = get_snapshot(reg, sid)
            info = SnapshotInfo(rows=snap.rows, bytes=snap.nbytes, shards=len(snap.shards), runs=snap.num_runs)
        splits[split] = info
        s = (snap or get_snapshot(reg, sid)).schema
        schema[split] = tuple(ColumnInfo(f.name, str(f.type)) for f in s)
    return VersionInfo(id=rev.commit_id, dataset=rev.dataset, parents=tuple(c.parents), message=c.message,
                       author=c.author, timestamp=c.timestamp, splits=splits, schema=schema,
                       metadata=dict(c.metadata))


# porcelain.get_commit / get_snapshot's twins: this layer cannot import porcelain; these
# give way to the model layer's readers once it has them

__all__ = ["ColumnInfo", "VersionInfo", "describe"]
