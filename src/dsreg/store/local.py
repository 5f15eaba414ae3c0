"""Objects as files under fan-out folders: `ab/cdef...`, written temp-then-rename."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Iterator

from dsreg.faults import crashpoint
from dsreg.ids import ObjectId, hash_bytes, is_object_id
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

    def _read(self, oid: ObjectId) -> bytes:
        try:
            return self.path(oid).read_bytes()
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

    def restore(self, oid: ObjectId, data: bytes) -> None:
        """Replace a damaged (or missing) object with verified good bytes, atomically."""
        got = hash_bytes(data)
        if got != oid:
            from dsreg.errors import ChecksumMismatch
            raise ChecksumMismatch(oid, got)
        self._write(oid, data)

    def _write(self, oid: ObjectId, data: bytes) -> None:
        final = self.path(oid)
        made = not final.parent.is_dir()
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=final.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            crashpoint("object.write.temp")
            os.replace(tmp, final)
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise
        # the rename is durable only once the folder holding it is (and a new fan-out
        # folder only once its parent is): without this a power cut can lose the object
        # after the manifest, committed later, already names it
        _fsync_dir(final.parent)
        if made:
            _fsync_dir(final.parent.parent)
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


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass            # some filesystems refuse fsync on a folder; nothing more to do there
    finally:
        os.close(fd)
