"""The store interface that every backend implements and the contract tests exercise.

Callers use only this interface: what differs between backends (files or not, a network
or not) is asked of the store (`local_path`, `leftovers`, `prefers_ranges`), never found
out by testing its class or probing for methods.
"""
from __future__ import annotations

import abc
from collections.abc import Iterable, Iterator
from pathlib import Path

from dsreg.errors import ChecksumMismatch, ObjectMissing, UsageError
from dsreg.ids import ObjectId, hash_bytes, is_object_id


def check_object_id(oid: str) -> ObjectId:
    """Refuse a malformed id before any backend turns it into a path or a key."""
    if not isinstance(oid, str) or not is_object_id(oid):
        raise UsageError(f"malformed object id {oid!r}")
    return ObjectId(oid)


def verified(oid: ObjectId, data: bytes, where: str | None = None) -> bytes:
    """`data`, if it hashes to `oid`; else ChecksumMismatch."""
    got = hash_bytes(data)
    if got != oid:
        raise ChecksumMismatch(oid, got, where)
    return data


class ObjectStore(abc.ABC):
    """Immutable, content-addressed objects."""

    where: str | None = None        # named in errors: a remote's URL (None: the local store)
    # True where reading part of an object moves fewer bytes than fetching it whole (across
    # a network): a read of a few columns then fetches their byte ranges, not the shard
    prefers_ranges: bool = False

    # -- what every backend implements ----------------------------------------------
    @abc.abstractmethod
    def has(self, oid: ObjectId) -> bool: ...

    @abc.abstractmethod
    def read_raw(self, oid: ObjectId) -> bytes:
        """The bytes this store itself holds under oid, as stored: not checked against the
        id (`get` does that) and never fetched from elsewhere. ObjectMissing if absent.
        fsck reads with it to tell a damaged copy here from one it would have to fetch."""

    @abc.abstractmethod
    def write_raw(self, oid: ObjectId, data: bytes) -> None:
        """Store bytes the caller knows hash to oid, atomically, without asking whether the
        store has them. The backend hook behind `put`, `put_missing` and `restore`: call those."""

    @abc.abstractmethod
    def iter(self) -> Iterator[ObjectId]: ...

    @abc.abstractmethod
    def delete(self, oid: ObjectId) -> None: ...

    @abc.abstractmethod
    def size(self, oid: ObjectId) -> int: ...

    # -- built on those ---------------------------------------------------------------
    def has_many(self, oids: Iterable[ObjectId]) -> set[ObjectId]:
        """The subset of `oids` present in the store."""
        return {o for o in oids if self.has(o)}

    def get(self, oid: ObjectId) -> bytes:
        """The object's bytes, verified against its id."""
        return verified(oid, self.read_raw(oid), self.where)

    def put(self, data: bytes) -> tuple[ObjectId, bool]:
        """Store bytes; return (id, whether they were new)."""
        oid = hash_bytes(data)
        if self.has(oid) and self._freshen(oid):
            return oid, False
        self.write_raw(oid, data)
        return oid, True

    def put_missing(self, data: bytes) -> ObjectId:
        """Store bytes the caller has just been told the store lacks (a push, after its
        batched `has_many`), without asking again. Still never overwrites where the store
        can refuse (S3: `If-None-Match: *`); a folder writes temp-then-rename, so a racing
        writer of the same object at worst replaces it with the same verified bytes."""
        oid = hash_bytes(data)
        self.write_raw(oid, data)
        return oid

    def restore(self, oid: ObjectId, data: bytes) -> None:
        """Replace a damaged (or missing) copy of oid with `data`, once verified against
        oid, atomically: a reader sees the old copy or the good one (fsck --repair)."""
        self.write_raw(oid, verified(check_object_id(oid), data))

    def prefetch(self, oids: Iterable[ObjectId]) -> None:  # noqa: B027 - a hint most stores need not act on
        """Start fetching, in the background, those of `oids` this store would have to
        fetch from elsewhere when read; a hint that changes no result. Nothing to do for
        a store that holds all its objects itself."""

    def read_range(self, oid: ObjectId, start: int, length: int) -> bytes:
        """Bytes [start, start+length) of an object; not verifiable on their own (the
        caller checks them against a verified chunk index)."""
        return self.get(oid)[start:start + length]

    # -- the local view: what maintenance needs of a store that keeps files --------------
    def local_path(self, oid: ObjectId) -> Path | None:
        """The file that holds (or would hold) this store's copy of oid on this machine:
        its modification time is when it was last written or `put` again (gc's grace
        period). None for a store that keeps no files here."""
        check_object_id(oid)
        return None

    def leftovers(self) -> list[Path]:
        """Temporary files interrupted writes of this store left on this machine (gc
        removes them once they are old; younger ones may be writes in progress)."""
        return []

    # -- for backends -------------------------------------------------------------------
    def _freshen(self, oid: ObjectId) -> bool:
        """Mark an existing object as just written, so that gc's grace period spares an
        object a concurrent commit is about to make reachable again (git does the same).
        False if the object vanished meanwhile and must be written after all."""
        return True

    def missing(self, oid: ObjectId) -> ObjectMissing:
        if not self.where:
            return ObjectMissing(oid)
        e = ObjectMissing(oid, self.where)
        e.hint = "run 'dsreg fsck --remote NAME' (with --repair to restore it from a registry that has it)"
        return e
