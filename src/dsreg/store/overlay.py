"""A local store that reads through to other stores: how a clone gets its data on demand.

An object missing here is fetched from the first source that has it (the caller orders
them: a registry puts origin first), verified, and kept. A local copy that fails
verification (flipped bits, a truncated file) is treated the same way: a verified copy
from a source replaces the bad file atomically and is returned. Without a good copy
anywhere the read fails with ChecksumMismatch; bad bytes are never returned.

The sources come from a callable, asked when first needed, so that opening a registry
opens no remote; this layer knows them only as object stores.
"""
from __future__ import annotations

import errno
import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

from dsreg.errors import ChecksumMismatch, ObjectMissing, RemoteError
from dsreg.ids import ObjectId, hash_bytes
from dsreg.store.base import ObjectStore
from dsreg.store.local import LocalStore


class OverlayStore(LocalStore):
    PREFETCH_PARALLEL = 8

    def __init__(self, root: str | os.PathLike, sources: Callable[[], Sequence[ObjectStore]]):
        super().__init__(root)
        self.sources = sources
        self._prefetching: dict[ObjectId, Future] = {}

    def __repr__(self) -> str:
        return f"OverlayStore({str(self.root)!r})"

    def prefetch(self, oids: Iterable[ObjectId]) -> None:
        """Start fetching those of `oids` missing here from the sources, several at a time,
        in the background, and return: a read of one of them waits for its download, so
        reading the first overlaps downloading the next (a clone's first load)."""
        missing = [o for o in dict.fromkeys(oids) if o not in self._prefetching and not self.has(o)]
        if not missing or not self.sources():      # (asks for the sources here, in this thread)
            return
        pool = ThreadPoolExecutor(self.PREFETCH_PARALLEL, thread_name_prefix="dsreg-prefetch")
        for oid in missing:
            self._prefetching[oid] = pool.submit(self._download, oid)
        pool.shutdown(wait=False)

    def _download(self, oid: ObjectId) -> None:
        # errors are left for the read that needs the object to meet again, and report
        data = self._from_sources(oid, missing_ok=True)
        if isinstance(data, bytes) and not self.has(oid):
            self._keep(oid, data)

    def _wait_for_prefetch(self, oid: ObjectId) -> None:
        pending = self._prefetching.pop(oid, None) if self._prefetching else None
        if pending is not None:
            pending.exception()                     # wait for it, whatever happened

    def get(self, oid: ObjectId) -> bytes:
        self._wait_for_prefetch(oid)
        try:
            data = self.read_raw(oid)
        except ObjectMissing as missing:
            fetched = self._from_sources(oid, missing_ok=False)
            if isinstance(fetched, ChecksumMismatch):
                raise fetched from None     # only damaged copies out there: say so
            if fetched is None:
                raise missing from None
            if not self.has(oid):
                self._keep(oid, fetched)
            return fetched
        got = hash_bytes(data)
        if got == oid:
            return data
        good = self._from_sources(oid, missing_ok=True)
        if not isinstance(good, bytes):
            raise ChecksumMismatch(oid, got)
        self._keep(oid, good, restore=True)
        return good

    def _keep(self, oid: ObjectId, data: bytes, restore: bool = False) -> None:
        """Keep a verified copy from a source, if this store may be written: a read-only
        registry reads on without keeping it."""
        try:
            if restore:
                self.restore(oid, data)
            else:
                self.write_raw(oid, data)
        except OSError as e:
            if e.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
                raise

    def _from_sources(self, oid: ObjectId, missing_ok: bool) -> bytes | ChecksumMismatch | None:
        """A verified copy from the first source with a good one; else the first source's
        ChecksumMismatch, if one had a damaged copy; else None."""
        damaged = None
        for source in self.sources():
            try:
                return source.get(oid)          # verified against oid
            except ObjectMissing:
                continue
            except ChecksumMismatch as e:
                damaged = damaged or e
            except RemoteError:
                if not missing_ok:
                    raise
                # repairing a damaged local copy: try the next source, else report the damage
        return damaged


__all__ = ["OverlayStore"]
