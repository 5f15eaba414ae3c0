"""push, fetch and pull (clone: clone.py): move what the other side lacks, then move refs by CAS.

Push decides what to upload from what the manifest already knows the remote holds, asks
the remote only about the rest (in parallel HEADs, never a listing), uploads objects in
parallel, and only then moves refs, each with a compare-and-swap on the value it saw.
Everything downloaded is verified against its id before it is written locally.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dsreg.errors import (
    AccessDenied,
    AmbiguousRevision,
    ConditionalWritesUnsupported,
    DivergedBranches,
    DsregError,
    NonFastForward,
    ObjectMissing,
    RefMoved,
    RemoteUnreachable,
    UnknownDataset,
    UsageError,
)
from dsreg.faults import crashpoint
from dsreg.ids import CommitId, ObjectId
from dsreg.jsonvalues import JsonFields
from dsreg.manifest.rows import RefKind
from dsreg.model.history import ancestors
from dsreg.model.history import is_ancestor as reaches
from dsreg.model.objects import commit_parents, get_commit, get_snapshot
from dsreg.model.revisions import first_parents, is_commit_prefix, split_spec
from dsreg.model.serialize import decode_commit, decode_snapshot, fingerprints_size
from dsreg.names import check_ref_name
from dsreg.progress import NO_PROGRESS, Progress
from dsreg.remote.backends import Remote, open_remote
from dsreg.remote.gcmarker import check_gc_marker, check_no_gc_running
from dsreg.remote.refcheck import check_fetched_names, check_remote_refs, refuse_other_kind

if TYPE_CHECKING:
    from dsreg.manifest.database import Manifest
    from dsreg.registry import Registry

PARALLEL = 8


# -- remotes ------------------------------------------------------------------
def get_remote(reg: Registry, name: str | None) -> tuple[str, Remote]:
    remotes = reg.manifest.remotes()
    if name is None:
        if not remotes:
            raise UsageError("no remote configured", "run 'dsreg remote add NAME URL'")
        chosen = next((r for r in remotes if r.name == "origin"), remotes[0] if len(remotes) == 1 else None)
        if chosen is None:
            raise UsageError("several remotes and none is 'origin'; name one")
    else:
        chosen = reg.manifest.remote(name)
        if chosen is None:
            raise UsageError(f"unknown remote {name!r}", "run 'dsreg remote list'")
    return chosen.name, open_remote(chosen.url, chosen.endpoint_url)


def add_remote(reg: Registry, name: str, url: str, endpoint_url: str | None = None,
               probe: bool | None = None) -> dict:
    """Record a remote, probing its conditional writes. `probe=None` (the default) adds it
    even when it cannot be reached (no credentials, no network: `not_probed` says why), to be
    probed at its first push, but not when it answers that it is wrong (no such bucket or
    folder); `probe=True` requires reaching it; `probe=False` skips the probe."""
    check_ref_name(name, "remote", allow_slash=False)
    reg.require_writable()              # (before the probe writes to the remote)
    if reg.manifest.remote(name) is not None:
        raise UsageError(f"remote {name!r} already exists", "remove it first with 'dsreg remote remove'")
    remote = open_remote(url, endpoint_url)
    cas_ok, not_probed = None, None
    if probe is not False:
        try:
            cas_ok = remote.probe()
        except AccessDenied:
            # read-only credentials: fine for reading; probed again before a push
            try:
                remote.refs()
            except AccessDenied:
                if probe:
                    raise
                not_probed = "no access with these credentials"
            else:
                not_probed = "no write access"
        except RemoteUnreachable as e:      # no answer; an answer that something is wrong stops here
            if probe:
                raise
            not_probed = e.message

    with reg.manifest.transaction():
        reg.manifest.add_remote(name, url, endpoint_url, cas_ok)
    reg.forget_remotes()
    info = {"name": name, "url": url, "endpoint_url": endpoint_url, "conditional_writes": cas_ok}
    return info if not_probed is None else {**info, "not_probed": not_probed}


def remove_remote(reg: Registry, name: str) -> None:
    if reg.manifest.remote(name) is None:
        raise UsageError(f"unknown remote {name!r}", "run 'dsreg remote list'")
    with reg.manifest.transaction():
        reg.manifest.remove_remote(name)
    reg.forget_remotes()


def _ensure_cas(reg: Registry, name: str, remote: Remote) -> None:
    info = reg.manifest.remote(name)
    ok = info.cas_ok if info else None
    if ok is None:
        ok = remote.probe()
        with reg.manifest.transaction():
            reg.manifest.set_remote_cas(name, ok)
    if not ok:
        raise ConditionalWritesUnsupported(name, remote.url)


# -- what a commit needs --------------------------------------------------------
def _commit_objects(reg: Registry, commit_id: str) -> tuple[list[ObjectId], list[tuple[ObjectId, int | None]]]:
    """(metadata objects: the commit and its snapshots, data objects with sizes)."""
    c = get_commit(reg, commit_id)
    meta, data = [ObjectId(commit_id)], []
    for sid in c.splits.values():
        meta.append(sid)
        for ref in get_snapshot(reg, sid).shards:
            data.extend(_shard_objects(ref))
    return meta, data


def _shard_objects(ref) -> list[tuple[ObjectId, int | None]]:
    """A shard's objects with their sizes where the snapshot tells them (None: the chunk
    index, whose size only its bytes tell), for transfer planning and progress."""
    sizes = {ref.id: ref.bytes, ref.fingerprints: fingerprints_size(ref.rows)}
    return [(oid, sizes.get(oid)) for oid in ref.objects()]


def _in_parallel(groups: list[list[ObjectId]], move: Callable[[ObjectId], int], progress: Progress,
                 label: str, unit: str = "objects", sizes: dict[ObjectId, int] | None = None) -> list[int]:
    """move(oid) -> bytes moved, for every object, in parallel, one group after the other,
    under one bar counting objects (in `unit`) and bytes, the bytes against a total when
    `sizes` (exact) are given. The bar ends exactly at its totals; nothing is drawn when
    there is nothing to move."""
    todo = [oid for group in groups for oid in group]
    if not todo:
        return []
    progress.start_transfer(label, len(todo), sum(sizes[o] for o in todo) if sizes is not None else None, unit)
    lock = threading.Lock()

    def one(oid: ObjectId) -> int:
        n = move(oid)
        with lock:
            progress.advance_transfer(1, n)
        return n
    moved: list[int] = []
    try:
        for group in groups:
            with ThreadPoolExecutor(PARALLEL) as pool:
                moved.extend(pool.map(one, group))
    finally:
        progress.finish()
    return moved


class _LazyBar:
    """A transfer bar with no totals, started by the first thing that moves, so that a
    transfer that finds nothing to do draws nothing."""

    def __init__(self, progress: Progress, label: str, unit: str):
        self.progress, self.label, self.unit, self.started = progress, label, unit, False

    def advance(self, n: int, nbytes: int) -> None:
        if not self.started:
            self.progress.start_transfer(self.label, None, None, self.unit)
            self.started = True
        self.progress.advance_transfer(n, nbytes)

    def finish(self) -> None:
        if self.started:
            self.progress.finish()


def is_ancestor(reg: Registry, ancestor: CommitId, descendant: CommitId) -> bool:
    """Whether `descendant` reaches `ancestor` through the commits known here (a commit
    unreadable here ends its line of history)."""
    if reg.manifest.commit(ancestor) is None:
        return False
    return reaches(commit_parents(reg, missing_ok=True), ancestor, descendant)


# -- push -----------------------------------------------------------------------
@dataclass
class PushResult(JsonFields):
    remote: str
    uploaded_objects: int = 0
    uploaded_bytes: int = 0
    skipped_objects: int = 0
    refs: list[dict] = field(default_factory=list)


def _local_refs(reg: Registry, spec: str | None):
    m = reg.manifest
    if spec is None:
        return m.refs()
    name, rev, _ = split_spec(spec)
    if not m.has_dataset(name):
        raise UnknownDataset(name)
    if "@" not in spec:
        return m.refs(name)
    refs = [r for r in m.refs(name) if r.name == rev]
    if not refs:
        raise UsageError(f"{spec}: no branch or tag {rev!r} to push")
    return refs


# refuses a ref move by raising: (dataset, kind, name, new commit, the remote's commit or None)
PushVerify = Callable[[str, str, str, CommitId, "CommitId | None"], None]


def push(reg: Registry, remote_name: str | None = None, spec: str | None = None, *, force: bool = False,
         progress: Progress = NO_PROGRESS, verify: PushVerify | None = None,
         marker_seen: dict | None | bool = False) -> PushResult:
    """Upload what the remote lacks, then move its refs, then send each pushed branch's
    checks. `verify` may refuse a ref's new commit (before anything is uploaded).
    `marker_seen`: the remote's gc marker as read before objects the push relies on were
    written there (a commit straight to the remote: remote/direct.py); default: read now."""
    reg.require_writable()      # a push records what the remote holds: refused before it moves anything there
    name, remote = get_remote(reg, remote_name)
    refs = _local_refs(reg, spec)
    _ensure_cas(reg, name, remote)
    if marker_seen is False:
        marker = remote.gc_marker()
    else:
        marker = marker_seen if isinstance(marker_seen, dict) else None
        check_gc_marker(name, remote, marker)
    check_no_gc_running(name, marker)
    marker_id = marker["id"] if marker else None
    if marker_id != reg.manifest.gc_seen(name):
        # a gc ran there since we last looked: what we believe it holds may be gone
        with reg.manifest.transaction():
            reg.manifest.forget_remote_objects(name, marker_id)
    result = PushResult(name)
    plans = []
    for ref in refs:
        current = remote.ref(ref.dataset, ref.kind, ref.name)
        if current is not None and current.commit == ref.commit:
            continue
        if current is None:
            refuse_other_kind(name, remote, ref)
        if current is not None and not force:
            if ref.kind == "tag" or not is_ancestor(reg, current.commit, ref.commit):
                raise NonFastForward(name, ref.dataset, ref.name, ref.kind)
        plans.append((ref, current))
    if verify is not None:
        for ref, current in plans:
            verify(ref.dataset, ref.kind, ref.name, ref.commit, current.commit if current else None)
    # objects first: everything the new commits reach that the remote may lack
    held = _held_tips(reg, name, remote, {ref.dataset for ref, _ in plans})
    wanted: dict[ObjectId, int | None] = {}
    for ref, current in plans:
        stop = set(held)
        if current is not None:
            stop.add(current.commit)
        for c in ancestors(commit_parents(reg, missing_ok=True), [ref.commit], stop):
            meta, data = _commit_objects(reg, c)
            for oid, size in data:
                wanted[oid] = size
            for oid in meta:
                wanted.setdefault(oid, None)
    _upload(reg, name, remote, wanted, result, progress)
    for ref, current in plans:
        check_gc_marker(name, remote, marker)       # right before the update: see gcmarker.py
        crashpoint("remote.ref.before")
        try:
            remote.set_ref(ref.dataset, ref.kind, ref.name, ref.commit, current)
        except RefMoved:
            raise NonFastForward(name, ref.dataset, ref.name, ref.kind) from None
        crashpoint("remote.ref")
        with reg.manifest.transaction():
            reg.manifest.set_remote_ref(name, ref.dataset, ref.kind, ref.name, ref.commit)
        result.refs.append({"dataset": ref.dataset, "kind": ref.kind, "name": ref.name, "commit": ref.commit,
                            "was": current.commit if current else None})
    _push_checks(reg, remote, refs)
    return result


def _push_checks(reg, remote: Remote, refs) -> None:
    """The remote's checks of each branch pushed become the local ones (as its ref does)."""
    for ref in refs:
        if ref.kind != "branch":
            continue
        mine = [text for _, text in reg.manifest.checks(ref.dataset, ref.name)]
        if (remote.checks(ref.dataset, ref.name) or []) != mine:
            remote.set_checks(ref.dataset, ref.name, mine)


def adopt_checks(reg, remote: Remote, dataset: str, branch: str) -> None:
    """Take the remote branch's checks: the local branch gets every rule it lacks (a local
    rule not pushed yet is kept)."""
    rules = remote.checks(dataset, branch) or []
    if rules:
        with reg.manifest.transaction():
            for text in rules:
                reg.manifest.add_check(dataset, branch, text)


def _held_tips(reg: Registry, name: str, remote: Remote, datasets: set[str]) -> set[CommitId]:
    """Commits whose whole history the remote surely holds, where push's walk of what to
    upload may stop. A remote-tracking ref says where a ref was when we last looked, but a
    `gc --remote` since then may have collected it (a force-push left it unreachable), so
    a tip counts only while the manifest still knows the remote holds it: every gc makes
    it forget all it knew. Where a tip was forgotten, the remote's live refs of those
    datasets stand in (gc keeps all that a live ref reaches), read once, in one listing."""
    tips = {r.commit for d in datasets for r in reg.manifest.remote_refs(name, d)}
    held = reg.manifest.remote_has(name, sorted(tips))
    if held != tips:
        live = {r.commit for d in datasets for r in remote.refs(d)}
        with reg.manifest.transaction():     # so the next push trusts these without listing
            reg.manifest.mark_remote_has(name, [c for c in live if reg.manifest.commit(c) is not None])
        held |= live
    return held


def _upload(reg: Registry, name: str, remote: Remote, wanted: dict[ObjectId, int | None], result: PushResult,
            progress: Progress) -> None:
    ids = sorted(wanted)
    known = reg.manifest.remote_has(name, ids)
    unknown = [o for o in ids if o not in known]
    present = remote.objects.has_many(unknown) if unknown else set()
    if present:
        with reg.manifest.transaction():
            reg.manifest.mark_remote_has(name, present)
    missing = [o for o in unknown if o not in present]
    result.skipped_objects = len(ids) - len(missing)
    # commits last, so a remote never holds a commit whose data it lacks
    data_first = [o for o in missing if reg.manifest.commit(o) is None]
    commits = [o for o in missing if reg.manifest.commit(o) is not None]
    # exact sizes, so the bar ends at its total: shards and fingerprints as the snapshots
    # record them, commits, snapshots and chunk indexes from the local store. A clone may
    # lack a chunk index (data arrives on demand): then only the objects have a total.
    known_sizes: dict[ObjectId, int] = {}
    sizes: dict[ObjectId, int] | None = known_sizes
    for oid in missing:
        size = wanted[oid]
        try:
            known_sizes[oid] = size if size is not None else reg.store.size(oid)
        except ObjectMissing:
            sizes = None
            break

    # a clone gets data on demand: start fetching what is not here yet (this also opens
    # the remotes in this thread, since the workers below cannot read the manifest)
    reg.store.prefetch([oid for oid in missing if not reg.store.has(oid)])

    landed: list[ObjectId] = []

    def send(oid: ObjectId) -> int:
        data = reg.store.get(oid)       # verified before it leaves
        remote.objects.put_missing(data)    # has_many just said so: no second HEAD
        landed.append(oid)
        return len(data)

    try:
        moved = _in_parallel([data_first, commits], send, progress, "push", "objects", sizes)
        result.uploaded_objects = len(moved)
        result.uploaded_bytes = sum(moved)
    finally:
        # what landed is recorded even when the push stops halfway, so running it again
        # sends only the rest (without asking the remote about these)
        if landed:
            with reg.manifest.transaction():
                reg.manifest.mark_remote_has(name, landed)


# -- fetch ----------------------------------------------------------------------
@dataclass
class FetchResult(JsonFields):
    remote: str
    commits: int = 0
    downloaded_objects: int = 0
    downloaded_bytes: int = 0
    refs: list[dict] = field(default_factory=list)


def _download(reg: Registry, remote: Remote, oid: ObjectId) -> bytes:
    data = remote.objects.get(oid)      # verified: bad bytes raise and never land
    reg.store.put(data)
    return data


def fetch(reg: Registry, remote_name: str | None = None, dataset: str | None = None, *,
          progress: Progress = NO_PROGRESS, require: str | None = None) -> FetchResult:
    """Download the commits and snapshots the remote's refs reach; record the refs.
    With `require` (a branch or tag name), stop before changing anything if the remote's
    `dataset` has no such ref."""
    reg.require_writable()
    name, remote = get_remote(reg, remote_name)
    refs = remote.refs(dataset)
    check_remote_refs(name, refs)
    if dataset is not None and not refs:
        raise UnknownDataset(dataset) if not reg.manifest.has_dataset(dataset) else \
            UsageError(f"remote {name} has no dataset {dataset!r}")
    if require is not None and not any(r.name == require for r in refs):
        raise UsageError(f"remote {name} has no branch or tag {require!r} in {dataset!r}")
    result = FetchResult(name)
    new: dict[str, object] = {}
    snaps: dict[ObjectId, object] = {}
    from dsreg.store.staged import publish, staged
    with staged(reg):   # what is downloaded enters the store only if all of it is good
        # how many commits there are is known only once the last one arrived: they are
        # counted; the snapshots they name are then a bar of known length
        bar = _LazyBar(progress, "fetch", "commits")
        try:
            for ref in refs:
                _fetch_commits(reg, remote, ref.commit, new, result, bar)
        finally:
            bar.finish()
        _fetch_snapshots(reg, remote, list(new.values()), snaps, result, progress)
        publish(reg)
    # One transaction adds the rows of what was fetched and the remote-tracking refs that
    # reach it: gc (which decides under the same lock) never sees the rows without a root.
    # The objects are already in the store, young enough for gc's grace period to spare.
    with reg.manifest.transaction():
        _add_fetched(reg, name, new, snaps)
        seen = {(r.dataset, r.kind, r.name) for r in refs}
        for old in reg.manifest.remote_refs(name, dataset):
            if (old.dataset, old.kind, old.name) not in seen:
                reg.manifest.set_remote_ref(name, old.dataset, old.kind, old.name, None)
        # a live ref's commit is there, with all it reaches (gc keeps that): push may stop at it
        reg.manifest.mark_remote_has(name, {r.commit for r in refs})
        for ref in refs:
            reg.manifest.set_remote_ref(name, ref.dataset, ref.kind, ref.name, ref.commit)
            result.refs.append({"dataset": ref.dataset, "kind": ref.kind, "name": ref.name, "commit": ref.commit})
    return result


def _fetch_commits(reg: Registry, remote: Remote, head: CommitId, new: dict, result: FetchResult, bar: _LazyBar) -> None:
    """Download (verified) the commits `head` reaches that the manifest lacks into `new`
    ({commit id: Commit}, children first)."""
    # the walk asks for a commit's parents only after the loop below has downloaded it
    for cid in ancestors(lambda c: new[c].parents, [head], _Known(reg.manifest, new)):
        data = _download(reg, remote, ObjectId(cid))
        result.downloaded_objects += 1
        result.downloaded_bytes += len(data)
        commit = decode_commit(data)
        check_fetched_names(commit, cid)
        new[cid] = commit
        result.commits += 1
        bar.advance(1, len(data))


class _Known:
    """Commits a fetch need not download: those the manifest has, or already downloaded."""

    def __init__(self, manifest: Manifest, new: dict):
        self.manifest, self.new = manifest, new

    def __contains__(self, cid: object) -> bool:
        return cid in self.new or (isinstance(cid, str) and self.manifest.commit(cid) is not None)


def _fetch_snapshots(reg: Registry, remote: Remote, commits: list, snaps: dict, result: FetchResult,
                     progress: Progress) -> None:
    """The snapshots of `commits` that the manifest lacks, into `snaps`: read from the
    store where an earlier fetch left them, else downloaded (verified) in parallel."""
    m = reg.manifest
    wanted = list(dict.fromkeys(sid for c in commits for sid in c.splits.values()
                                if m.snapshot_info(sid) is None))
    local = {sid for sid in wanted if reg.store.has(sid)}
    got: dict[ObjectId, bytes] = {sid: reg.store.get(sid) for sid in local}

    def get(sid: ObjectId) -> int:
        got[sid] = _download(reg, remote, sid)
        return len(got[sid])
    moved = _in_parallel([[s for s in wanted if s not in local]], get, progress, "fetch", "snapshots")
    result.downloaded_objects += len(moved)
    result.downloaded_bytes += sum(moved)
    for sid in wanted:
        snaps[sid] = decode_snapshot(got[sid])


def _add_fetched(reg: Registry, name: str, new: dict, snaps: dict) -> None:
    """Manifest rows for fetched commits and snapshots (inside the caller's transaction)."""
    m = reg.manifest
    remote_known = set()
    for sid, snap in snaps.items():
        for ref in snap.shards:
            m.add_shard(ref.id, ref.rows, ref.bytes, ref.fingerprints, fingerprints_size(ref.rows))
            remote_known.update(ref.objects())
        m.add_snapshot(sid, snap, snap.nbytes)
        remote_known.add(sid)
    for cid, commit in reversed(list(new.items())):
        m.add_dataset(commit.dataset)
        m.add_commit(CommitId(cid), commit)
        remote_known.add(cid)
    m.mark_remote_has(name, remote_known)


# -- pull -----------------------------------------------------------------------
@dataclass
class PullResult:
    fetch: FetchResult
    dataset: str
    ref: str | None         # the local branch or tag updated (None: a pinned commit)
    commit: CommitId
    status: str            # "created", "fast-forward", "up-to-date", "ahead", "rebased", "pinned"
    downloaded_objects: int = 0
    downloaded_bytes: int = 0

    def to_json(self) -> dict:
        return {"remote": self.fetch.remote, "dataset": self.dataset, "ref": self.ref, "commit": self.commit,
                "status": self.status, "downloaded_objects": self.downloaded_objects + self.fetch.downloaded_objects,
                "downloaded_bytes": self.downloaded_bytes + self.fetch.downloaded_bytes}


def download_data(reg: Registry, remote: Remote, commit_id: str, progress: Progress = NO_PROGRESS,
                  splits: list[str] | None = None) -> tuple[int, int]:
    """Bring the shards and fingerprints of a commit into the local store."""
    c = get_commit(reg, commit_id)
    wanted: dict[ObjectId, int | None] = {}
    for split, sid in c.splits.items():
        if splits is not None and split not in splits:
            continue
        for ref in get_snapshot(reg, sid).shards:
            wanted.update(_shard_objects(ref))
    missing = [o for o in sorted(wanted) if not reg.store.has(o)]

    def get(oid: ObjectId) -> int:
        return len(_download(reg, remote, oid))
    # chunk indexes (small; their sizes are not recorded anywhere) are counted first, then
    # shards and fingerprints as bytes, so that each bar's total is exact
    unsized = [o for o in missing if wanted[o] is None]
    sized = {o: size for o in missing if (size := wanted[o]) is not None}
    moved = _in_parallel([unsized], get, progress, "pull", "shard indexes")
    moved += _in_parallel([list(sized)], get, progress, "pull", "objects", sized)
    return len(moved), sum(moved)


def pull(reg: Registry, remote_name: str | None, spec: str, *, rebase: bool = False,
         progress: Progress = NO_PROGRESS) -> PullResult:
    """Fetch, download the data of NAME@REV, and update the local branch or tag of that
    name. REV may also be a commit id (or a unique prefix of one) that the remote's refs
    reach, or REV~N: then the data arrives and no local ref moves (status "pinned")."""
    from dsreg.versions.rebase import rebase_onto
    dataset, rev, back = split_spec(spec)
    reg.require_writable()
    name, remote = get_remote(reg, remote_name)
    # a name that cannot be a commit id must be a branch or tag there: checked before fetching
    fetched = fetch(reg, name, dataset, progress=progress, require=None if is_commit_prefix(rev) else rev)
    remote_refs = {(r.kind, r.name): r.commit for r in reg.manifest.remote_refs(name, dataset)}
    kind: RefKind | None = None if is_commit_prefix(rev) else \
        "branch" if ("branch", rev) in remote_refs else "tag" if ("tag", rev) in remote_refs else None
    if kind is None or back:
        target = _resolve_on_remote(reg, name, dataset, rev, back, remote_refs)
        n, size = download_data(reg, remote, target, progress)
        return PullResult(fetched, dataset, None, target, "pinned", n, size)
    target = remote_refs[(kind, rev)]
    n, size = download_data(reg, remote, target, progress)
    if kind == "branch":
        adopt_checks(reg, remote, dataset, rev)
    m = reg.manifest
    local = m.ref(dataset, kind, rev)
    status, final = "up-to-date", target
    if local is None:
        with m.transaction():
            m.set_ref(dataset, kind, rev, target, None, f"pull: from {name}")
        status = "created"
    elif local != target:
        if kind == "tag":
            raise DsregError(f"tag {dataset}@{rev} differs locally ({local[:12]}) and on {name} ({target[:12]})",
                             "delete the local tag to take the remote's")
        if is_ancestor(reg, local, target):
            with m.transaction():
                m.set_ref(dataset, kind, rev, target, local, f"pull: fast-forward from {name}")
            status = "fast-forward"
        elif is_ancestor(reg, target, local):
            status, final = "ahead", local
        elif rebase:
            final = rebase_onto(reg, dataset, rev, local, target)
            status = "rebased"
        else:
            raise DivergedBranches(dataset, rev, local, target)
    return PullResult(fetched, dataset, rev, CommitId(final), status, n, size)


def _resolve_on_remote(reg: Registry, name: str, dataset: str, rev: str, back: int,
                       remote_refs: dict[tuple[RefKind, str], CommitId]) -> CommitId:
    """REV~N among the commits the remote's refs reach (as just fetched): REV a branch or
    tag of the remote, or a commit id or unique prefix of one."""
    spec = f"{dataset}@{rev}" + (f"~{back}" if back else "")
    # an id or a 6+-hex prefix always means that commit, never a ref of that name
    commit = None if is_commit_prefix(rev) else remote_refs.get(("branch", rev)) or remote_refs.get(("tag", rev))
    if commit is None:
        found = sorted(c for c in _known_history(reg, remote_refs.values()) if c.startswith(rev.lower()))
        if len(found) > 1:
            raise AmbiguousRevision(spec, found)
        if not found:
            raise DsregError(f"remote {name} has no branch, tag or commit {rev!r} in {dataset!r}",
                             f"give a branch, a tag, or a commit id (6+ hex characters) that one of "
                             f"{name}'s branches or tags reaches")
        commit = found[0]
    return first_parents(reg.manifest, commit, back, spec, rev)      # fetched: in the manifest


def _known_history(reg: Registry, tips) -> Iterator[CommitId]:
    """The tips and every commit they reach, as far as the commits are known here."""
    return ancestors(commit_parents(reg, missing_ok=True), tips)
