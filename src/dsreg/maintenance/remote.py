"""`fsck --remote` and `gc --remote`: checking and collecting a remote, from a registry.

fsck reads every object the remote's refs reach, from the remote, verifying each against
its id, and names the versions a damaged or missing object affects (`ds@main~2 on
origin`). With repair, a damaged or missing remote object is replaced by the verified
local copy, where the registry has one.

gc deletes remote objects that no remote ref reaches and that are older than a grace
period (default 7 days), under the marker that keeps pushes out of its way (see
remote/gcmarker.py).
"""
from __future__ import annotations

import secrets
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dsreg.errors import ChecksumMismatch, CorruptObject, GcRefused, ObjectMissing
from dsreg.ids import CommitId, ObjectId
from dsreg.jsonvalues import JsonFields
from dsreg.maintenance.reach import Names, Root, affects
from dsreg.model.history import ancestors
from dsreg.model.serialize import Commit, decode_commit, decode_snapshot
from dsreg.progress import NO_PROGRESS, Progress
from dsreg.remote.gcmarker import settle_seconds
from dsreg.remote.transfer import get_remote

if TYPE_CHECKING:
    from dsreg.registry import Registry

DEFAULT_REMOTE_GRACE_SECONDS = 7 * 24 * 3600
PARALLEL = 8


# -- walking a remote ---------------------------------------------------------
@dataclass
class _Walk:
    roots: list[Root]
    status: dict[ObjectId, str | None] = field(default_factory=dict)   # None: verified
    first_parent: dict[CommitId, CommitId] = field(default_factory=dict)
    snapshot_users: dict[ObjectId, set[CommitId]] = field(default_factory=lambda: defaultdict(set))
    part_of: dict[ObjectId, set[ObjectId]] = field(default_factory=lambda: defaultdict(set))
    problems: list[tuple[str, ObjectId]] = field(default_factory=list)
    checked_bytes: int = 0

    @property
    def reachable(self) -> set[ObjectId]:
        return set(self.status)


def _read(remote, walk: _Walk, oid: ObjectId, full: bool = True) -> bytes | None:
    try:
        data = remote.objects.get(oid)
    except ObjectMissing:
        walk.status[oid] = "is missing"
        return None
    except ChecksumMismatch as e:
        walk.status[oid] = f"is corrupt (its bytes hash to {e.got})"
        return None
    walk.status[oid] = None
    return data


def walk_remote(remote_name: str, remote, verify_data: bool = True, progress: Progress = NO_PROGRESS) -> _Walk:
    """Read (verified) everything the remote's refs reach. With `verify_data`, the shards,
    fingerprints and chunk indexes are downloaded and verified too; without, only
    commits and snapshots are read (enough to know what is reachable)."""
    refs = remote.refs()
    walk = _Walk([Root(r.commit, "remote", r.dataset, f"{r.dataset}@{r.name}", remote_name) for r in refs])
    snapshots: dict[ObjectId, None] = {}
    read: dict[CommitId, Commit] = {}       # the walk asks for parents after the body below
    for cid in ancestors(lambda c: read.pop(c).parents if c in read else (), [r.commit for r in walk.roots]):
        c = _decoded(remote, walk, cid, "commit", decode_commit)
        if c is None:
            continue
        read[cid] = c
        if c.parents:
            walk.first_parent[cid] = c.parents[0]
        for sid in c.splits.values():
            walk.snapshot_users[sid].add(cid)
            snapshots[sid] = None
    shard_objects: dict[ObjectId, None] = {}
    for sid in snapshots:
        snap = _decoded(remote, walk, sid, "snapshot", decode_snapshot)
        if snap is None:
            continue
        for ref in snap.shards:
            for oid in ref.objects():
                walk.part_of[oid].add(sid)
                shard_objects[oid] = None
    todo = [o for o in shard_objects if o not in walk.status]
    if verify_data:
        progress.start("fsck", len(todo), unit="objects")

        def check(oid) -> int:
            data = _read(remote, walk, oid)
            progress.advance(1)
            return len(data) if data is not None else 0
        with ThreadPoolExecutor(PARALLEL) as pool:
            walk.checked_bytes += sum(pool.map(check, todo))
        progress.finish()
        for oid in todo:
            if walk.status[oid] is not None:
                walk.problems.append((f"object {oid} {walk.status[oid]}", oid))
    else:
        for oid in todo:
            walk.status[oid] = None
    return walk


def _decoded(remote, walk: _Walk, oid: ObjectId, kind: str, decode):
    """The decoded object, or None with the problem (missing, damaged, malformed) noted."""
    data = _read(remote, walk, oid)
    if data is None:
        walk.problems.append((f"{kind} {oid} {walk.status[oid]}", oid))
        return None
    walk.checked_bytes += len(data)
    try:
        return decode(data)
    except CorruptObject as e:
        walk.problems.append((f"{kind} {oid} is malformed ({e.message})", oid))
        return None


# -- fsck --remote ------------------------------------------------------------
@dataclass(frozen=True)
class RemoteFsckResult(JsonFields):
    _json_optional = ("repaired",)

    remote: str
    problems: list[str]
    checked_objects: int
    checked_bytes: int
    repaired: list[str] | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict:
        return {"ok": self.ok, **super().to_json()}


def fsck_remote(reg: Registry, remote_name: str | None, repair: bool = False,
                progress: Progress = NO_PROGRESS) -> RemoteFsckResult:
    """Verify every object the remote's refs reach; with `repair`, put verified local
    copies in place of damaged or missing ones, then check again."""
    name, remote = get_remote(reg, remote_name)
    walk = walk_remote(name, remote, progress=progress)
    repaired = None
    if repair:
        from dsreg.maintenance.repair import restore_to_remote
        repaired = []
        tried: set[ObjectId] = set()
        while True:     # a restored snapshot names objects not checked before
            bad = [oid for oid, s in walk.status.items() if s is not None and oid not in tried]
            if not bad:
                break
            tried.update(bad)
            done, _ = restore_to_remote(reg, remote, bad)
            repaired += done
            if not done:
                break
            walk = walk_remote(name, remote)
    names = Names(walk.roots, walk.first_parent)
    problems = [f"{text} on {name}; {affects(about, walk.snapshot_users, walk.part_of, names)}" for text, about in walk.problems]
    checked = sum(1 for s in walk.status.values() if s is None or s.startswith("is corrupt"))
    return RemoteFsckResult(name, problems, checked, walk.checked_bytes, repaired)


# -- gc --remote --------------------------------------------------------------
@dataclass(frozen=True)
class RemoteGcResult(JsonFields):
    _json_skip = ("deleted",)

    remote: str
    deleted_objects: int
    kept_objects: int
    skipped_recent: int
    dry_run: bool
    deleted: tuple[ObjectId, ...] = field(default=(), repr=False)


def gc_remote(reg: Registry, remote_name: str | None, dry_run: bool = False,
              grace_seconds: float = DEFAULT_REMOTE_GRACE_SECONDS, progress: Progress = NO_PROGRESS) -> RemoteGcResult:
    """Delete remote objects no remote ref reaches and older than `grace_seconds`.

    Refuses (deleting nothing) if any commit or snapshot a ref reaches cannot be read:
    then it cannot know everything that is reachable."""
    name, remote = get_remote(reg, remote_name)
    marker = {"id": secrets.token_hex(8), "started": time.time()}
    if dry_run:
        return _collect(reg, name, remote, marker, True, grace_seconds, progress)
    remote.set_gc_marker({**marker, "running": True})
    try:
        time.sleep(settle_seconds())        # pushes that checked the marker before it changed land now
        return _collect(reg, name, remote, marker, False, grace_seconds, progress)
    finally:
        # however it ended, no more deletes come from this gc: pushes may go on, unless
        # another gc has started since (its marker is not ours to finish)
        now = remote.gc_marker()
        if now is not None and now["id"] == marker["id"]:
            remote.set_gc_marker({**marker, "finished": time.time()})


def _collect(reg: Registry, name: str, remote, marker: dict, dry_run: bool, grace_seconds: float,
             progress: Progress) -> RemoteGcResult:
    from dsreg.faults import crashpoint
    started = time.time()
    walk = walk_remote(name, remote, verify_data=False)
    if walk.problems:
        text, _ = walk.problems[0]
        raise GcRefused(f"cannot gc {name}: {text} on {name}, so what is reachable is unknown",
                        f"run 'dsreg fsck --remote {name} --repair'")
    live = walk.reachable
    cutoff = started - grace_seconds
    present = list(remote.object_times())
    garbage = [(oid, t) for oid, t in present if oid not in live]
    doomed = [oid for oid, t in garbage if t <= cutoff]
    progress.start("gc", len(doomed), unit="objects")
    if not dry_run:
        for oid in doomed:
            remote.objects.delete(ObjectId(oid))
            crashpoint("gc.delete")
            progress.advance(1)
    progress.finish()
    if not dry_run and doomed:
        with reg.manifest.transaction():
            reg.manifest.forget_remote_objects(name, marker["id"])
    return RemoteGcResult(name, len(doomed), len(present) - len(doomed), len(garbage) - len(doomed), dry_run,
                          tuple(ObjectId(o) for o in doomed))


def parse_duration(text: str) -> float:
    """'7d', '36h', '90m', '3600s' or '3600' as seconds."""
    from dsreg.errors import UsageError
    units = {"d": 86400, "h": 3600, "m": 60, "s": 1}
    t = text.strip().lower()
    scale = units.get(t[-1:], None)
    number = t[:-1] if scale else t
    try:
        value = float(number) * (scale or 1)
    except ValueError:
        value = -1
    if not (value >= 0) or value == float("inf"):
        raise UsageError(f"invalid duration {text!r}", "use a number with d, h, m or s, e.g. 7d or 36h")
    return value


__all__ = ["fsck_remote", "gc_remote", "walk_remote", "RemoteFsckResult", "RemoteGcResult",
           "DEFAULT_REMOTE_GRACE_SECONDS", "parse_duration"]
