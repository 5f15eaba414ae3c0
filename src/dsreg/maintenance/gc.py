"""Garbage collection (`gc`) of a local registry: delete every object and manifest row
that no root reaches (see reach.py), and stale temporary files."""
from __future__ import annotations

import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dsreg.errors import ObjectMissing
from dsreg.faults import crashpoint
from dsreg.ids import ObjectId
from dsreg.jsonvalues import JsonFields
from dsreg.maintenance.reach import reachable
from dsreg.maintenance.temp import clean_temp
from dsreg.progress import NO_PROGRESS, Progress
from dsreg.store import ObjectStore

if TYPE_CHECKING:
    from dsreg.registry import Registry

DEFAULT_GRACE_SECONDS = 3600   # gc spares unreachable objects younger than this


@dataclass(frozen=True)
class GcResult(JsonFields):
    _json_skip = ("deleted",)

    deleted_objects: int
    deleted_bytes: int          # objects and leftover temp files
    kept_objects: int           # objects still in the store (reachable, or spared as recent)
    dry_run: bool
    skipped_recent: int = 0     # unreachable, but younger than the grace period
    deleted_temp_files: int = 0
    deleted: tuple[ObjectId, ...] = field(default=(), repr=False)


def gc(reg: Registry, dry_run: bool = False, grace_seconds: float = DEFAULT_GRACE_SECONDS,
       progress: Progress = NO_PROGRESS) -> GcResult:
    """Delete every object and manifest row that no root reaches, and stale temp files.

    Objects modified within `grace_seconds` are spared: a commit writes its objects before
    the transaction that makes them reachable, and `put` of an existing object refreshes
    its time, so a young unreachable object may be about to become reachable.
    """
    if not dry_run:
        reg.require_writable()
    m, store = reg.manifest, reg.store
    cutoff = time.time() - grace_seconds
    # Deciding under the manifest's write lock: no ref can move onto an object, and no
    # commit can add rows, between the walk and the deletion of the rows.
    with nullcontext() if dry_run else m.transaction():
        live = reachable(reg)
        present = list(store.iter())
        garbage = [oid for oid in present if oid not in live.objects]
        doomed = [oid for oid in garbage if not _is_recent(store, oid, cutoff)]
        if not dry_run:
            m.delete_objects(
                commits=[c for c in m.all_commit_ids() if c not in live.commits],
                snapshots=[s for s in m.all_snapshot_ids() if s not in live.snapshots],
                shards=[s.id for s in m.all_shards() if s.id not in live.shard_objects])
            # the input cache names only snapshots that stay (including ones the manifest
            # never listed, as in a clone): a commit can never be pointed at a deleted one
            m.forget_input_snapshots(live.snapshots)
    # The rows are gone; now the files. Only unreachable objects are touched, so their
    # order does not matter: a crash midway leaves garbage for the next gc, never a
    # reachable object missing.
    deleted, nbytes = [], 0
    progress.start("gc", len(doomed), unit="objects")
    for oid in doomed:
        if _is_recent(store, oid, cutoff):      # a concurrent put refreshed it just now
            continue
        try:
            size = store.size(oid)
        except ObjectMissing:
            continue
        if not dry_run:
            store.delete(oid)
            crashpoint("gc.delete")
        deleted.append(oid)
        nbytes += size
        progress.advance(1)
    progress.finish()
    temp_files, temp_bytes = clean_temp(reg, cutoff, dry_run)
    return GcResult(deleted_objects=len(deleted), deleted_bytes=nbytes + temp_bytes,
                    kept_objects=len(present) - len(deleted), dry_run=dry_run,
                    skipped_recent=len(garbage) - len(deleted), deleted_temp_files=temp_files,
                    deleted=tuple(deleted))


def _is_recent(store: ObjectStore, oid: ObjectId, cutoff: float) -> bool:
    path = store.local_path(oid)
    if path is None:
        return False            # a backend without file times has no concurrent local writers
    try:
        return path.stat().st_mtime > cutoff
    except FileNotFoundError:
        return False


__all__ = ["gc", "GcResult", "DEFAULT_GRACE_SECONDS"]
