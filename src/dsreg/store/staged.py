"""A commit's new objects, held aside until the commit cannot fail any more.

A commit streams its input: a malformed row deep inside a file is found only after the
shards before it were cut and written. So the objects a commit creates go first to a
private folder under `.dsreg/tmp/`, written and fsynced there; right before the manifest
transaction they are renamed into the store (atomic, on the same filesystem), and
their folders fsynced. A commit that fails (bad input, a lost race, Ctrl-C) removes its
folder and leaves the store exactly as it was; one killed outright leaves only the
folder, which fsck notes and gc removes once it is older than the grace period.
"""
from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from dsreg.errors import DsregError
from dsreg.faults import crashpoint
from dsreg.ids import ObjectId, hash_bytes
from dsreg.store.atomic import fsync_dir, make_dirs, write_temp
from dsreg.store.base import ObjectStore, verified
from dsreg.store.local import LocalStore

if TYPE_CHECKING:
    from dsreg.registry import Registry


LOCK_NAME = ".lock"


class StagedStore(ObjectStore):
    """Reads see the store plus what was staged; writes go to the staging folder."""

    def __init__(self, store: LocalStore, tmp_dir: Path, *, join: Path | None = None):
        # join: write into another StagedStore's folder (a worker of a distributed commit,
        # in another process); its owner holds the lock, adopts the objects and publishes
        self.store = store
        self.where = store.where
        self.folder = join if join is not None else Path(tempfile.mkdtemp(prefix="commit-", dir=tmp_dir))
        self.staged: dict[ObjectId, Path] = {}
        self._lock = threading.Lock()
        self._held = None
        if join is None:
            # held while the commit runs: gc leaves a locked folder alone however old it is
            self._held = open(self.folder / LOCK_NAME, "w")
            fcntl.flock(self._held, fcntl.LOCK_EX)

    def __repr__(self) -> str:
        return f"StagedStore({self.store!r})"

    def has(self, oid: ObjectId) -> bool:
        return oid in self.staged or self.store.has(oid)

    def read_raw(self, oid: ObjectId) -> bytes:
        p = self.staged.get(oid)
        return p.read_bytes() if p is not None else self.store.read_raw(oid)

    def get(self, oid: ObjectId) -> bytes:
        p = self.staged.get(oid)
        if p is None:
            return self.store.get(oid)          # the store's own verification and repair
        return verified(oid, p.read_bytes())

    def restore(self, oid: ObjectId, data: bytes) -> None:
        self.store.restore(oid, data)           # a copy in the store; what is staged is new and good

    def prefetch(self, oids: Iterable[ObjectId]) -> None:
        self.store.prefetch(oids)

    def local_path(self, oid: ObjectId) -> Path | None:
        p = self.staged.get(oid)
        return p if p is not None else self.store.local_path(oid)

    def leftovers(self) -> list[Path]:
        return self.store.leftovers()

    def put(self, data: bytes) -> tuple[ObjectId, bool]:
        oid = hash_bytes(data)
        with self._lock:
            if oid in self.staged:
                return oid, False
        if self.store.has(oid) and self.store._freshen(oid):
            return oid, False
        self.write_raw(oid, data)
        return oid, True

    def write_raw(self, oid: ObjectId, data: bytes) -> None:
        tmp = write_temp(self.folder, data, prefix=oid + "-")
        crashpoint("object.write.temp")
        with self._lock:
            if oid in self.staged:
                os.unlink(tmp)
            else:
                self.staged[oid] = tmp

    def iter(self) -> Iterator[ObjectId]:
        yield from sorted(set(self.staged) | set(self.store.iter()))

    def delete(self, oid: ObjectId) -> None:
        raise DsregError("a commit in progress deletes nothing")

    def size(self, oid: ObjectId) -> int:
        p = self.staged.get(oid)
        if p is not None:
            return p.stat().st_size
        return self.store.size(oid)

    def adopt(self, staged: dict[ObjectId, str]) -> None:
        """Take on objects a joined store (a worker) wrote into this folder."""
        for oid, path in staged.items():
            p = Path(path)
            if p.parent != self.folder:
                raise DsregError(f"a worker staged {oid} outside this commit's folder: {p}")
            with self._lock:
                if oid in self.staged and self.staged[oid] != p:
                    p.unlink(missing_ok=True)       # the same bytes, staged twice
                else:
                    self.staged[oid] = p

    def publish(self) -> None:
        """Move every staged object into the store (each atomically), then drop the folder."""
        folders: set[Path] = set()
        for oid, p in sorted(self.staged.items()):
            final = self.store.path(oid)
            if final.is_file() and self.store._freshen(oid):
                p.unlink()                      # a concurrent commit put the same bytes there
                continue
            folders.update(make_dirs(final.parent))
            os.utime(p)                 # young from now: gc's grace period covers it until the
            os.replace(p, final)        # manifest transaction, however long the commit took
            folders.add(final.parent)
            crashpoint("object.write")
        for folder in sorted(folders, key=lambda f: len(f.parts), reverse=True):
            fsync_dir(folder)                   # the renames are durable before the manifest names them
        self.staged.clear()
        self.discard()

    def discard(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
        if self._held is not None and not self._held.closed:
            self._held.close()          # (releases the lock)


def in_use(folder: Path) -> bool:
    """Is this staging folder held by a commit that is still running?"""
    try:
        with open(folder / LOCK_NAME) as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(f, fcntl.LOCK_UN)
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        pass
    return False


@contextmanager
def staged(reg: Registry) -> Iterator[StagedStore]:
    """Give `reg` a staged store for the duration; whatever was not published is removed."""
    original = reg.store
    if isinstance(original, StagedStore):       # nested: the outer one publishes
        yield original
        return
    store = StagedStore(original, reg.tmp_dir)
    reg.store = store
    try:
        yield store
    finally:
        reg.store = original
        store.discard()


def publish(reg: Registry) -> None:
    """Publish the staged objects of the commit in progress, if it is staged."""
    if isinstance(reg.store, StagedStore):
        reg.store.publish()


__all__ = ["StagedStore", "staged", "publish", "in_use"]
