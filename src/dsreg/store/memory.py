"""Objects in a dict: for tests and for scratch work that must not touch disk."""
from __future__ import annotations

from collections.abc import Iterator

from dsreg.ids import ObjectId
from dsreg.store.base import ObjectStore, check_object_id


class MemoryStore(ObjectStore):
    def __init__(self) -> None:
        self.objects: dict[ObjectId, bytes] = {}

    def has(self, oid: ObjectId) -> bool:
        return check_object_id(oid) in self.objects

    def read_raw(self, oid: ObjectId) -> bytes:
        try:
            return self.objects[check_object_id(oid)]
        except KeyError:
            raise self.missing(oid) from None

    def write_raw(self, oid: ObjectId, data: bytes) -> None:
        self.objects[oid] = bytes(data)

    def iter(self) -> Iterator[ObjectId]:
        return iter(sorted(self.objects))

    def delete(self, oid: ObjectId) -> None:
        self.objects.pop(check_object_id(oid), None)

    def size(self, oid: ObjectId) -> int:
        if check_object_id(oid) not in self.objects:
            raise self.missing(oid)
        return len(self.objects[oid])
