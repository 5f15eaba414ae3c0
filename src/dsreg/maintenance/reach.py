"""What a local registry keeps: the roots, everything they reach, and names for commits.

The roots are every local ref (branch or tag), every remote-tracking ref (where `fetch`
last saw a remote's refs), and every entry in the reflog of a live ref. As in git,
deleting a ref ends its reflog: entries written before a ref's latest deletion keep
nothing alive, which is what lets gc reclaim a deleted branch. From the roots, commits
reach their parents and snapshots; snapshots reach each shard's objects (the Parquet
file, its fingerprints, its chunk index). Nothing else is reachable.

Reachability reads the local store only: a registry's store would fetch a missing object
from a remote, and neither checking nor collecting should touch the network.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dsreg.errors import ChecksumMismatch, DsregError, GcRefused
from dsreg.ids import CommitId, ObjectId, ShardId, hash_bytes
from dsreg.model.history import ancestors, first_parent_chain
from dsreg.model.serialize import decode_commit, decode_snapshot
from dsreg.store import ObjectStore

if TYPE_CHECKING:
    from dsreg.manifest.database import Manifest
    from dsreg.registry import Registry

_MAX_AFFECTED = 5              # versions named per problem


# -- reading the local store only ---------------------------------------------
def read_local(store: ObjectStore, oid: ObjectId) -> bytes:
    """An object's verified bytes from the local store, never fetched from a remote."""
    data = store.read_raw(oid)      # not the registry store's fetch-on-miss
    got = hash_bytes(data)
    if got != oid:
        raise ChecksumMismatch(oid, got)
    return data


def _try_decode(store: ObjectStore, oid: ObjectId, decode):
    try:
        return decode(read_local(store, oid))
    except (DsregError, OSError):
        return None


# -- roots and reachability ---------------------------------------------------
@dataclass(frozen=True)
class Root:
    commit: CommitId
    kind: str                   # "ref" | "remote" | "reflog"
    dataset: str
    ref: str                    # `ds@main`
    remote: str | None = None

    def name(self, back: int = 0) -> str:
        """`ds@main~2`, `ds@main~2 on origin`, or `the reflog of ds@dev`."""
        if self.kind == "reflog":
            return f"the reflog of {self.ref}"
        name = f"{self.ref}~{back}" if back else self.ref
        return f"{name} on {self.remote}" if self.remote else name


def live_reflog(manifest: Manifest) -> dict[CommitId, list[str]]:
    """Commits named by the reflog of a live ref (entries after its latest deletion),
    each with the refs (`dataset@name`) whose reflog names it."""
    out: dict[CommitId, list[str]] = defaultdict(list)
    for dataset in manifest.datasets():
        ended: set[str] = set()
        for entry in manifest.reflog(dataset):          # newest first
            ref = entry.ref
            if ref in ended:
                continue
            if entry.new is None:                    # a deletion: older entries are dead
                ended.add(ref)
                continue
            label = f"{dataset}@{ref.partition(':')[2] or ref}"
            for cid in (entry.new, entry.old):
                if cid and label not in out[cid]:
                    out[cid].append(label)
    return dict(out)


def roots(manifest: Manifest) -> list[Root]:
    """Where reachability starts: refs, remote-tracking refs, live reflog entries."""
    out = [Root(r.commit, "ref", r.dataset, r.full) for r in manifest.refs()]
    for remote in manifest.remotes():
        out += [Root(r.commit, "remote", r.dataset, r.full, remote.name)
                for r in manifest.remote_refs(remote.name)]
    for cid, labels in sorted(live_reflog(manifest).items()):
        out += [Root(cid, "reflog", label.partition("@")[0], label) for label in labels]
    return out


@dataclass(frozen=True)
class Reachable:
    commits: frozenset[CommitId]
    snapshots: frozenset[ObjectId]
    shard_objects: frozenset[ObjectId]     # shards, their fingerprints and chunk indexes

    @property
    def objects(self) -> frozenset[ObjectId]:
        return self.commits | self.snapshots | self.shard_objects


def reachable(reg: Registry) -> Reachable:
    """Everything the roots reach. A commit is read from its object, or from the manifest
    when the object is gone; a snapshot must be readable, since only it names all of a
    shard's objects. Otherwise GcRefused: better no gc than a wrong one."""
    m, store = reg.manifest, reg.store
    snapshots: set[ObjectId] = set()

    def parents(cid: CommitId) -> list[CommitId]:
        # the object and the manifest row each keep alive what they name
        views = [v for v in (_try_decode(store, cid, decode_commit), m.commit(cid)) if v is not None]
        if not views:
            raise GcRefused(f"cannot gc: commit {cid}, which a ref or reflog entry reaches, is missing or "
                            "corrupt and the manifest does not describe it", "run 'dsreg fsck'")
        for c in views:
            snapshots.update(c.splits.values())
        return [p for c in views for p in c.parents]
    commits = set(ancestors(parents, [r.commit for r in roots(m)]))
    shard_objects: set[ObjectId] = set()
    for sid in sorted(snapshots):
        snap = _try_decode(store, sid, decode_snapshot)
        if snap is None:
            raise GcRefused(f"cannot gc: snapshot {sid}, which a ref or reflog entry reaches, is missing or "
                            "corrupt here", "run 'dsreg fsck'; 'dsreg pull' can restore it from a remote")
        for ref in snap.shards:
            shard_objects.update(ref.objects())
        # rows the manifest lists keep their shards too, whatever the object says
        for shard_id in manifest_snapshot_shards(m, sid) or ():
            shard_objects.add(ObjectId(shard_id))
            row = m.shard(shard_id)
            if row is not None and row.fingerprints:
                shard_objects.add(ObjectId(row.fingerprints))
    return Reachable(frozenset(commits), frozenset(snapshots), frozenset(shard_objects))


def unreachable(reg: Registry) -> list[ObjectId]:
    """Objects in the local store that no root reaches (what gc deletes, grace aside)."""
    live = reachable(reg).objects
    return [oid for oid in reg.store.iter() if oid not in live]


def manifest_snapshot_shards(m: Manifest, sid: str) -> list[ShardId] | None:
    """The shards the manifest lists for a snapshot (None: it has no row for it)."""
    if m.snapshot_info(sid) is None:
        return None
    return [r[0] for r in m.conn.execute("SELECT shard_id FROM snapshot_shards WHERE snapshot_id=? "
                                         "ORDER BY shard_id", (sid,))]


class Names:
    """Names commits by the roots that reach them along first parents (`ds@main~2`,
    `ds@v1`), like `git name-rev`: up to three names, nearest first."""

    def __init__(self, roots: list[Root], first_parent: dict[CommitId, CommitId]):
        self.best: dict[CommitId, list[tuple[int, int, str]]] = defaultdict(list)
        rank = {"ref": 0, "remote": 1, "reflog": 2}       # a ref's name first, a reflog's last

        def parents(c: CommitId) -> tuple[CommitId, ...]:
            return (first_parent[c],) if c in first_parent else ()
        for r in sorted(roots, key=lambda r: (rank[r.kind], r.name())):
            for d, c in enumerate(first_parent_chain(parents, r.commit)):
                names = self.best[c]
                # three names at least as good already walk on down this same chain
                if sum(1 for k, n, _ in names if (k, n) <= (rank[r.kind], d)) >= 3:
                    break
                names.append((rank[r.kind], d, r.name(d)))

    def of(self, cid: CommitId) -> tuple[tuple[int, int], list[str]]:
        ranked = sorted(self.best.get(cid, ()))
        if ranked and ranked[0][0] < 2:     # a reflog names a commit only when nothing else does
            ranked = [r for r in ranked if r[0] < 2]
        names = list(dict.fromkeys(name for _, _, name in ranked))[:3]
        return ((ranked[0][0], ranked[0][1]) if ranked else (9, 0)), names


def affects(about: ObjectId, snapshot_users: dict, part_of: dict, names: Names) -> str:
    """'affects NAME@REF (commit ...); ...': the versions a problem with object `about`
    touches, given which commits use each snapshot and which snapshots each object is part of."""
    if about in snapshot_users:
        commits = set(snapshot_users[about])
    elif about in part_of:
        commits = {c for s in part_of[about] for c in snapshot_users.get(s, ())}
    else:
        commits = {CommitId(about)}
    groups = sorted((names.of(c), c) for c in commits)
    shown = [f"{', '.join(n) + ' ' if n else ''}(commit {c[:12]})" for (_, n), c in groups[:_MAX_AFFECTED]]
    more = len(groups) - len(shown)
    return "affects " + "; ".join(shown) + (f"; and {more} more version(s)" if more else "")


__all__ = ["Reachable", "Root", "Names", "affects", "reachable", "unreachable", "roots", "live_reflog",
           "read_local", "manifest_snapshot_shards"]
