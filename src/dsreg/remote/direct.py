"""A commit recorded straight on a remote, without the user's registry (a distributed
commit from Ray or Dask workers to `s3://...`).

The driver plans and records the commit in a scratch registry (a temporary folder: a
manifest and an object store, `ScratchRegistry`) that knows only the dataset's history on the remote (commits and snapshots, fetched: no rows);
the base rows and their fingerprints arrive there on demand, verified. Workers write the
new shards and fingerprint objects straight to the remote's content-addressed layout.
The commit then lands on the remote by `push` (the snapshot and commit objects uploaded,
the branch moved by compare-and-swap, the branch's checks enforced), so there is one
ref-update path. The gc marker is read before any worker writes; push checks it is unchanged
at its start and again right before the ref update: objects the workers
found already on the remote (and so did not upload) are covered as a push's are
(gcmarker.py); new ones are young, so the grace period spares them. A failure anywhere
leaves the remote's refs as they were; what the workers wrote is garbage for remote gc.
"""
from __future__ import annotations

import functools
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dsreg.errors import NonFastForward, RefConflict
from dsreg.ids import CommitId, ObjectId
from dsreg.manifest.database import Manifest
from dsreg.remote.backends import open_remote
from dsreg.remote.gcmarker import check_no_gc_running
from dsreg.remote.read import CachedRemoteStore, cache_dir
from dsreg.remote.transfer import PushVerify, add_remote, adopt_checks, fetch, push
from dsreg.store import LocalStore
from dsreg.store.overlay import OverlayStore
from dsreg.store.staged import StagedStore
from dsreg.versions.commit import CommitResult
from dsreg.versions.distributed import Destination

if TYPE_CHECKING:
    from dsreg.registry import Registry

ORIGIN = "origin"


class ScratchRegistry:
    """A temporary registry: just what planning, recording and pushing a commit use (a
    manifest, a store that fetches what it lacks from the remotes, a tmp folder). The
    registry layer's `Registry` sits above this one, hence this small stand-in."""

    read_only = False

    def __init__(self, folder: Path):
        self.root = folder
        self.dir = folder / ".dsreg"
        (self.dir / "objects").mkdir(parents=True)
        self.manifest = Manifest(self.dir / "manifest.sqlite")
        self.store: OverlayStore | StagedStore = OverlayStore(self.dir / "objects", self._remote_stores)
        self._remotes: list | None = None

    @property
    def tmp_dir(self) -> Path:
        p = self.dir / "tmp"
        p.mkdir(exist_ok=True)
        return p

    def require_writable(self) -> None:
        pass

    def _remote_stores(self) -> list:
        if self._remotes is None:
            self._remotes = [open_remote(r.url, r.endpoint_url).objects for r in self.manifest.remotes()]
        return self._remotes

    def forget_remotes(self) -> None:
        self._remotes = None

    def close(self) -> None:
        self.manifest.close()


class RemoteObjects(CachedRemoteStore):
    """A worker's view of the remote: reads through the user cache (verified), writes
    new objects straight to the remote (never overwriting one it holds)."""

    def put(self, data: bytes) -> tuple[ObjectId, bool]:
        return self.remote.objects.put(data)   # the remote's presence, not the cache's, decides

    def write_raw(self, oid: ObjectId, data: bytes) -> None:
        self.remote.objects.write_raw(oid, data)


def open_objects(url: str, endpoint_url: str | None) -> RemoteObjects:
    """On a worker: the remote's objects (module-level, so that engines can pickle it)."""
    return RemoteObjects(open_remote(url, endpoint_url), LocalStore(cache_dir() / "objects"))


@contextmanager
def remote_destination(url: str, endpoint_url: str | None, dataset: str, branch: str,
                       verify: Callable[[Registry], PushVerify] | None = None
                       ) -> Iterator[tuple[ScratchRegistry, Destination]]:
    """A scratch registry holding `dataset`'s history on the remote at `url`, and the
    `Destination` that commits there. The scratch folder is removed however it ends.
    `verify(reg)` gives push's check of a branch's new commit (None: none)."""
    remote = open_remote(url, endpoint_url)
    marker = remote.gc_marker()
    check_no_gc_running(url, marker)        # a gc deciding now may delete what we reuse
    folder = Path(tempfile.mkdtemp(prefix="dsreg-remote-commit-"))
    reg: ScratchRegistry | None = None
    try:
        reg = ScratchRegistry(folder)
        add_remote(reg, ORIGIN, url, endpoint_url)     # type: ignore[arg-type]  # (a stand-in, as above)
        session = _Session(reg, remote, url, dataset, branch, marker,
                           verify(reg) if verify else None)  # type: ignore[arg-type]
        yield reg, Destination(functools.partial(open_objects, url, endpoint_url), session.refresh,
                               session.publish)
    finally:
        if reg is not None:
            reg.close()
        shutil.rmtree(folder, ignore_errors=True)


class _Session:
    def __init__(self, reg: Any, remote: Any, url: str, dataset: str, branch: str, marker: dict | None,
                 verify: PushVerify | None):
        self.reg, self.remote, self.url, self.dataset, self.branch = reg, remote, url, dataset, branch
        self.marker, self.verify = marker, verify
        self.base: CommitId | None = None       # the remote branch's commit the attempt started from

    def refresh(self) -> None:
        """The scratch registry's branch (and main, where a new branch starts) set to the
        remote's, with the remote's history and the branch's checks."""
        reg, m = self.reg, self.reg.manifest
        if not self.remote.refs(self.dataset):
            self.base = None
            return          # a new dataset: its first commit
        fetch(reg, ORIGIN, self.dataset)
        tracking = {(r.kind, r.name): r.commit for r in m.remote_refs(ORIGIN, self.dataset)}
        self.base = tracking.get(("branch", self.branch))
        with m.transaction():
            for (kind, name), commit in tracking.items():
                if name in (self.branch, "main") or kind == "tag":
                    m.set_ref(self.dataset, kind, name, commit, m.ref(self.dataset, kind, name),
                              f"remote commit: from {self.url}")
        adopt_checks(reg, self.remote, self.dataset, self.branch)

    def publish(self, result: CommitResult) -> None:
        """Push the recorded commit: its snapshot and commit objects (the workers' shards are
        there already), then the branch by compare-and-swap."""
        # rules added on the remote meanwhile are kept: push makes the local ones the remote's
        adopt_checks(self.reg, self.remote, self.dataset, self.branch)
        try:
            # the marker read before the workers wrote: a gc started since stops the push
            push(self.reg, ORIGIN, f"{self.dataset}@{self.branch}", verify=self.verify, marker_seen=self.marker)
        except NonFastForward:
            now = self.remote.ref(self.dataset, "branch", self.branch)
            raise RefConflict(f"{self.dataset}@{self.branch} on {self.url}", self.base,
                              now.commit if now is not None else None) from None


__all__ = ["ScratchRegistry", "RemoteObjects", "open_objects", "remote_destination"]
