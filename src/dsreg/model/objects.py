"""Reading versions from a registry: commits (from the manifest, else from their objects),
snapshots, the snapshot of one split, and the parents of commits for history walks."""
from __future__ import annotations

from typing import TYPE_CHECKING

from dsreg.errors import DsregError, UnknownSplit
from dsreg.ids import CommitId, ObjectId
from dsreg.model.history import Parents
from dsreg.model.serialize import Commit, Snapshot, decode_commit, decode_snapshot

if TYPE_CHECKING:
    import pyarrow as pa

    from dsreg.registry import Registry


def get_commit(reg: Registry, commit_id: str) -> Commit:
    c = reg.manifest.commit(commit_id)
    return c if c is not None else decode_commit(reg.store.get(ObjectId(commit_id)))


def get_snapshot(reg: Registry, snapshot_id: str) -> Snapshot:
    return decode_snapshot(reg.store.get(ObjectId(snapshot_id)))


def split_snapshot(reg: Registry, commit: Commit, split: str, spec: str) -> Snapshot:
    if split not in commit.splits:
        raise UnknownSplit(f"{spec} has no split {split!r}",
                           f"it has {', '.join(sorted(commit.splits)) or 'no splits'}")
    return get_snapshot(reg, commit.splits[split])


def pin(table: pa.Table, dataset: str, commit_id: str, split: str) -> pa.Table:
    """Record in the schema metadata exactly which version the rows came from."""
    meta = dict(table.schema.metadata or {})
    meta.update({b"dsreg.dataset": dataset.encode(), b"dsreg.commit": commit_id.encode(),
                 b"dsreg.split": split.encode()})
    return table.replace_schema_metadata(meta)


def commit_parents(reg: Registry, missing_ok: bool = False) -> Parents:
    """`parents` for the walks of model/history over the registry's commits. With
    `missing_ok`, a commit that cannot be read counts as having none: the walk goes on
    without the history behind it (push and pull ask only about what is known here)."""
    def parents(cid: CommitId) -> tuple[CommitId, ...]:
        try:
            return get_commit(reg, cid).parents
        except DsregError:
            if not missing_ok:
                raise
            return ()
    return parents


__all__ = ["get_commit", "get_snapshot", "split_snapshot", "pin", "commit_parents"]
