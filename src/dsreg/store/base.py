"""The store interface that every backend implements and the contract tests exercise."""
from __future__ import annotations

import abc
from typing import Iterable, Iterator

from dsreg.errors import ChecksumMismatch, ObjectMissing, UsageError
from dsreg.ids import ObjectId, hash_bytes, is_object_id


def check_object_id(oid: str) -> ObjectId:
    """Refuse a malformed id before any backend turns it into a path or a key."""
    if not isinstance(oid, str) or not is_object_id(oid):
        raise UsageError(f"malformed object id {oid!r}")
    return ObjectId(oid)


class ObjectStore(abc.ABC):
    """Immutable, content-addressed objects."""

    where: str | None = None        # named in errors: a remote's URL (None: the local store)

    @abc.abstractmethod
    def has(self, oid: ObjectId) -> bool: ...

    def has_many(self, oids: Iterable[ObjectId]) -> set[ObjectId]:
        """The subset of `oids` present in the store."""
        return {o for o in oids if self.has(o)}

    @abc.abstractmethod
    def _read(self, oid: ObjectId) -> bytes:
        """Raw bytes, unverified; raise ObjectMissing if absent."""

    @abc.abstractmethod
    def _write(self, oid: ObjectId, data: bytes) -> None:
        """Store bytes under oid atomically; never called for an existing object."""

    @abc.abstractmethod
    def iter(self) -> Iterator[ObjectId]: ...

    @abc.abstractmethod
    def delete(self, oid: ObjectId) -> None: ...

    @abc.abstractmethod
    def size(self, oid: ObjectId) -> int: ...

    def get(self, oid: ObjectId) -> bytes:
        """The object's bytes, verified against its id."""
        data = self._read(oid)
        got = hash_bytes(data)
        if got != oid:
            raise ChecksumMismatch(oid, got, self.where)
        return data

    def put(self, data: bytes) -> tuple[ObjectId, bool]:
        """Store bytes; return (id, whether they were new)."""
        oid = hash_bytes(data)
        if self.has(oid) and self._freshen(oid):
            return oid, False
        self._write(oid, data)
        return oid, True

    def put_missing(self, data: bytes) -> ObjectId:
        """Store bytes the caller has just been told the store lacks (a push, after its
        batched `has_many`), without asking again. Still never overwrites where the store
        can refuse (S3: `If-None-Match: *`); a folder writes temp-then-rename, so a racing
        writer of the same object at worst replaces it with the same verified bytes."""
        oid = hash_bytes(data)
        self._write(oid, data)
        return oid

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
