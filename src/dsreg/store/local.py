"""Objects as files under fan-out folders: `ab/cdef...`, written temp-then-rename."""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from dsreg.faults import crashpoint
from dsreg.ids import ObjectId, hash_bytes, is_object_id
from dsreg.store.atomic import TEMP_PREFIX, write_atomic
from dsreg.store.base import ObjectStore, check_object_id


class LocalStore(ObjectStore):
    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"LocalStore({str(self.root)!r})"

    def path(self, oid: ObjectId) -> Path:
        # An id is checked before it becomes a path, so no name can escape the store.
        check_object_id(oid)
        return self.root / oid[:2] / oid[2:]

    def has(self, oid: ObjectId) -> bool:
        return self.path(oid).is_file()

    def read_raw(self, oid: ObjectId) -> bytes:
        try:
            return self.path(oid).read_bytes()
        except FileNotFoundError:
            raise self.missing(oid) from None

    def read_range(self, oid: ObjectId, start: int, length: int) -> bytes:
        try:
            with open(self.path(oid), "rb") as f:
                f.seek(start)
                return f.read(length)
        except FileNotFoundError:
            raise self.missing(oid) from None

    def _freshen(self, oid: ObjectId) -> bool:
        # The caller holds good bytes: if the copy here is damaged (truncated, flipped
        # bits), say so, and `put` replaces it rather than keeping the bad one.
        try:
            if hash_bytes(self.path(oid).read_bytes()) != oid:
                return False
            os.utime(self.path(oid))
        except FileNotFoundError:
            return False
        except PermissionError:
            pass        # a shared, read-only store: nobody gc's it from here either
        return True

    def write_raw(self, oid: ObjectId, data: bytes) -> None:
        # durable once the folder holding the rename is (and a new fan-out folder once its
        # parent is): else a power cut can lose the object after the manifest, committed
        # later, already names it
        write_atomic(self.path(oid), data, before_rename="object.write.temp")
        crashpoint("object.write")

    def iter(self) -> Iterator[ObjectId]:
        if not self.root.is_dir():
            return
        for fan in sorted(self.root.iterdir()):
            if len(fan.name) != 2 or not fan.is_dir():
                continue
            for f in sorted(fan.iterdir()):
                oid = fan.name + f.name
                if is_object_id(oid):
                    yield ObjectId(oid)

    def delete(self, oid: ObjectId) -> None:
        try:
            self.path(oid).unlink()
        except FileNotFoundError:
            pass

    def size(self, oid: ObjectId) -> int:
        try:
            return self.path(oid).stat().st_size
        except FileNotFoundError:
            raise self.missing(oid) from None

    def local_path(self, oid: ObjectId) -> Path | None:
        return self.path(oid)

    def leftovers(self) -> list[Path]:
        out: list[Path] = []
        if self.root.is_dir():
            for fan in sorted(self.root.iterdir()):
                if fan.is_dir() and len(fan.name) == 2:
                    out.extend(sorted(p for p in fan.iterdir() if p.name.startswith(TEMP_PREFIX)))
        return out
