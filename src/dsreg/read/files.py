"""Shard files opened for reading by row group, every byte used verified.

A shard with a chunk index (the byte ranges and hashes of its footer and column chunks)
is read by range: only the footer and the column chunks of the row groups and columns
asked for are read, each checked against the index (itself a verified object). A shard
without one is read whole and checked against its id.
"""
from __future__ import annotations

import io
import json

import pyarrow as pa
import pyarrow.parquet as pq

from dsreg.errors import ChecksumMismatch, ObjectMissing
from dsreg.ids import ObjectId, hash_bytes
from dsreg.model.serialize import ShardRef
from dsreg.store import ObjectStore


class Unverifiable(Exception):
    """A read outside the ranges the chunk index covers: fall back to the whole object."""


class VerifiedRanges(io.RawIOBase):
    """A file over an object that serves only byte ranges it has verified."""

    def __init__(self, store: ObjectStore, oid: ObjectId, chunks: list[list], size: int):
        self.store, self.oid, self.size = store, oid, size
        self.chunks = sorted((int(a), int(n), h) for a, n, h in chunks)
        self.got: dict[int, bytes] = {}
        self.pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = 0) -> int:
        self.pos = offset if whence == 0 else self.pos + offset if whence == 1 else self.size + offset
        return self.pos

    KEEP_ALL = False        # keep every verified range, or (column chunks are read once) the footer only

    def fetch(self, start: int, length: int, digest: str) -> bytes:
        """One byte range, verified against its hash."""
        data = self.store.read_range(self.oid, start, length)
        got = hash_bytes(data)
        if got != digest:
            raise ChecksumMismatch(self.oid, f"{got} (byte range at {start})", self.store.where)
        return data

    def chunk(self, start: int, length: int, digest: str) -> bytes:
        data = self.got.get(start)
        if data is None:
            data = self.fetch(start, length, digest)
            if self.KEEP_ALL or len(self.got) == 0:
                self.got[start] = data
        return data

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            n = self.size - self.pos
        out, pos, end = [], self.pos, self.pos + n
        for start, length, digest in self.chunks:
            if start + length <= pos or start >= end:
                continue
            if start > pos:
                raise Unverifiable()
            data = self.chunk(start, length, digest)
            piece = data[pos - start: min(end, start + length) - start]
            out.append(piece)
            pos += len(piece)
            if pos >= end:
                break
        if pos < end:
            raise Unverifiable()
        self.pos = pos
        return b"".join(out)


# Read the object whole instead (its `get` fetches a missing copy from where the store
# fetches from, and repairs or reports a damaged one): ranges outside the index, an object
# not here yet (a clone's data on demand), a damaged range.
_WHOLE = (Unverifiable, ObjectMissing, ChecksumMismatch)


class ShardFile:
    """One shard, opened: its Parquet metadata, and its row groups read on demand."""

    def __init__(self, store: ObjectStore, ref: ShardRef, ranged: bool = True):
        self.store, self.ref = store, ref
        self._ranges: VerifiedRanges | None = None
        self._whole: pq.ParquetFile | None = None
        if ranged and ref.index is not None:
            try:
                index = json.loads(store.get(ref.index))
                footer = index["footer"]
                self._ranges = VerifiedRanges(store, ObjectId(ref.id), index["chunks"] + [footer], index["size"])
                tail = self._ranges.chunk(*footer)
                self.metadata = pq.read_metadata(pa.BufferReader(b"PAR1" + tail))
                self.footer = b"PAR1" + tail
                return
            except _WHOLE:
                pass
        self._open_whole()

    def _open_whole(self) -> None:
        data = self.store.get(ObjectId(self.ref.id))
        self._whole = pq.ParquetFile(pa.BufferReader(data))
        self.metadata = self._whole.metadata
        self.footer = data
        self._ranges = None

    def row_group_starts(self) -> list[int]:
        """The first row of each row group, and the row count last."""
        out, at = [0], 0
        for i in range(self.metadata.num_row_groups):
            at += self.metadata.row_group(i).num_rows
            out.append(at)
        return out

    def read_row_group(self, i: int, columns: list[str] | None) -> pa.Table:
        if self._ranges is not None:
            try:
                pf = pq.ParquetFile(self._ranges, metadata=self.metadata, pre_buffer=False)
                return pf.read_row_group(i, columns=columns)
            except _WHOLE:
                self._open_whole()
        assert self._whole is not None
        return self._whole.read_row_group(i, columns=columns)
