"""What `dsreg show` tells of one version: its commit, and per split its size and schema."""
from __future__ import annotations

from dsreg.model.revisions import resolve
from dsreg.model.objects import get_commit, get_snapshot


def describe(reg, spec: str) -> dict:
    """{"id", "dataset", "parents", "message", "author", "timestamp", "metadata",
    "splits": {split: {"rows", "bytes", "shards", "runs"}}, "schema": {split: [{"name", "type"}]}}.
    Sizes come from the manifest where it has them, else from the snapshot."""
    rev = resolve(reg, spec)
    c = get_commit(reg, rev.commit_id)
    splits, schema = {}, {}
    for split, sid in sorted(c.splits.items()):
        info = reg.manifest.snapshot_info(sid)
        snap = None
        if info is None:
            snap = get_snapshot(reg, sid)
            info = {"rows": snap.rows, "bytes": snap.nbytes, "shards": len(snap.shards),
                    "runs": snap.num_runs}
        splits[split] = {"rows": info["rows"], "bytes": info["bytes"], "shards": info["shards"], "runs": info["runs"]}
        s = (snap or get_snapshot(reg, sid)).schema
        schema[split] = [{"name": f.name, "type": str(f.type)} for f in s]
    return {"id": rev.commit_id, "dataset": rev.dataset, "parents": list(c.parents), "message": c.message,
            "author": c.author, "timestamp": c.timestamp, "splits": splits, "schema": schema,
            "metadata": {k: v for k, v in c.metadata.items()}}


# porcelain.get_commit / get_snapshot's twins: this layer cannot import porcelain; these
# give way to the model layer's readers once it has them

__all__ = ["describe"]
