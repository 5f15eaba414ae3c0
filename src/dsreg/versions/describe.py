"""What `dsreg show` tells of one version: its commit, and per split its size and schema."""
from __future__ import annotations

from dsreg.ids import ObjectId
from dsreg.model.revisions import resolve
from dsreg.model.serialize import Commit, Snapshot, decode_commit, decode_snapshot


def describe(reg, spec: str) -> dict:
    """{"id", "dataset", "parents", "message", "author", "timestamp", "metadata",
    "splits": {split: {"rows", "bytes", "shards", "runs"}}, "schema": {split: [{"name", "type"}]}}.
    Sizes come from the manifest where it has them, else from the snapshot."""
    rev = resolve(reg, spec)
    c = _commit_object(reg, rev.commit_id)
    splits, schema = {}, {}
    for split, sid in sorted(c.splits.items()):
        info = reg.manifest.snapshot_info(sid)
        snap = None
        if info is None:
            snap = _snapshot_object(reg, sid)
            info = {"rows": snap.rows, "bytes": snap.nbytes, "shards": len(snap.shards),
                    "runs": snap.num_runs}
        splits[split] = {"rows": info["rows"], "bytes": info["bytes"], "shards": info["shards"], "runs": info["runs"]}
        s = (snap or _snapshot_object(reg, sid)).schema
        schema[split] = [{"name": f.name, "type": str(f.type)} for f in s]
    return {"id": rev.commit_id, "dataset": rev.dataset, "parents": list(c.parents), "message": c.message,
            "author": c.author, "timestamp": c.timestamp, "splits": splits, "schema": schema,
            "metadata": {k: v for k, v in c.metadata.items()}}


# porcelain.get_commit / get_snapshot's twins: this layer cannot import porcelain; these
# give way to the model layer's readers once it has them
def _commit_object(reg, commit_id: str) -> Commit:
    c = reg.manifest.commit(commit_id)
    return c if c is not None else decode_commit(reg.store.get(ObjectId(commit_id)))


def _snapshot_object(reg, snapshot_id: str) -> Snapshot:
    return decode_snapshot(reg.store.get(ObjectId(snapshot_id)))


__all__ = ["describe"]
