"""Rows <-> shards: fixed Parquet writer settings, shard reads.

A shard is an immutable Parquet file named by the hash of its bytes. Its row fingerprints
live in an object of their own beside it. Writer settings are part of the format so that
equal rows give equal bytes. Where shards are cut is `cutter.py`'s concern.
"""
from __future__ import annotations

import io
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from dsreg.errors import BadInput, CorruptObject, UnsupportedType
from dsreg.ids import ObjectId, ShardId
from dsreg.model import checked
from dsreg.model.serialize import ShardRef, data_id, decode_fingerprint_object, encode_fingerprints
from dsreg.rows.arrowtypes import conform, storage_schema, strip_metadata
from dsreg.rows.fingerprint import SCHEME, row_fingerprints
from dsreg.store import ObjectStore


@dataclass(frozen=True)
class ShardSettings:
    """Sizes of new shards and of their row groups. The defaults are part of the format:
    other values change the bytes (and so ids) of new shards; tests take small ones."""
    target_bytes: int = 32 << 20
    min_bytes: int = 4 << 20
    max_bytes: int = 128 << 20
    row_group_target_bytes: int = 2 << 20
    row_group_min_rows: int = 1024


DEFAULT_SHARD_SETTINGS = ShardSettings()
# Level 1, not 3: on the bench's data writing takes a fifth less CPU for 3% more bytes, and
# writing new shards is most of an initial commit's work. Part of the format (a dsreg
# release writes equal rows as equal bytes); shards written at another level read the same.
ZSTD_LEVEL = 1
ROW_GROUP_MAX_ROWS = 1 << 20
DICTIONARY_SAMPLE_ROWS, DICTIONARY_MAX_DISTINCT = 4096, 0.25     # see dictionary_columns

# Column statistics of a shard's rows, given their row-group size (`dsreg.stats.shard_stats`):
# the layer above passes it in, so that rows never import statistics.
ShardStats = Callable[[pa.Table, int], dict]


_DAY_MS = 86_400_000


def check_storable(table: pa.Table) -> None:
    """Refuse values Parquet would silently change rather than store them wrong: date64
    values that are not whole days (Parquet keeps dates as days; Arrow's format requires
    date64 values to be whole days anyway)."""
    for name, col in zip(table.column_names, table.columns):
        if "date64" not in str(col.type):
            continue
        for leaf in _date64_leaves(col):
            ms = leaf.view(pa.int64())
            if pc.any(pc.not_equal(pc.multiply(pc.divide(ms, _DAY_MS), _DAY_MS), ms)).as_py():
                raise BadInput(f"column {name}: date64 values must be whole days (multiples of "
                               f"{_DAY_MS} ms); Parquet would truncate them",
                               "cast the column to timestamp[ms] to keep the time of day")


def _date64_leaves(arr):
    if isinstance(arr, pa.ChunkedArray):
        for c in arr.chunks:
            yield from _date64_leaves(c)
        return
    t = arr.type
    # only the values the rows hold: slice-aware, nulls pushed down, dictionaries decoded
    if pa.types.is_date64(t):
        yield arr
    elif pa.types.is_dictionary(t):
        yield from _date64_leaves(arr.cast(t.value_type))
    elif pa.types.is_struct(t):
        for child in arr.flatten():
            yield from _date64_leaves(child)
    elif pa.types.is_map(t):                # its key-item structs, slice-aware
        start, end = arr.offsets[0].as_py(), arr.offsets[-1].as_py()
        yield from _date64_leaves(arr.values.slice(start, end - start))
    elif hasattr(t, "value_type"):          # lists of every kind
        yield from _date64_leaves(arr.flatten())


def dictionary_columns(table: pa.Table) -> list[str]:
    """The columns worth dictionary-encoding: Arrow dictionaries, and strings, binaries and
    integers whose first rows repeat values (at most a quarter distinct). Dictionary pages
    of unique values (ids, free text, floats, embeddings) make shards bigger and writing
    them 2-3x slower. Decided by the rows alone, so equal rows still give equal bytes."""
    out = []
    for name, col in zip(table.column_names, table.columns):
        t = col.type
        if pa.types.is_dictionary(t):
            out.append(name)
        elif pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t) or \
                pa.types.is_large_binary(t) or pa.types.is_integer(t):
            sample = col.slice(0, DICTIONARY_SAMPLE_ROWS)
            if len(sample) and pc.count_distinct(sample, mode="all").as_py() <= DICTIONARY_MAX_DISTINCT * len(sample):
                out.append(name)
    return out


def write_shard(store: ObjectStore, table: pa.Table, fps: np.ndarray, settings: ShardSettings = DEFAULT_SHARD_SETTINGS,
                shard_stats: ShardStats | None = None) -> tuple[ShardRef, int, bool]:
    """Write rows as one shard plus its fingerprints; return (ref, bytes written, new?).
    With `shard_stats`, the ref carries the shard's column statistics, per row group."""
    table = table.replace_schema_metadata(None)
    check_storable(table)
    table = table.cast(strip_metadata(table.schema)) if any(f.metadata for f in table.schema) else table
    avg = max(table.nbytes // max(table.num_rows, 1), 1)
    rg_rows = int(min(max(settings.row_group_target_bytes // avg, settings.row_group_min_rows), ROW_GROUP_MAX_ROWS))
    buf = io.BytesIO()
    try:
        pq.write_table(
            table, buf, row_group_size=rg_rows, compression="zstd", compression_level=ZSTD_LEVEL,
            version="2.6", use_dictionary=dictionary_columns(table), write_statistics=True, store_schema=True,
        )
    except pa.ArrowException as e:   # ArrowInvalid, ArrowNotImplementedError, ArrowIOError, ...
        raise UnsupportedType(f"cannot store this table as Parquet: {e}") from None
    data = buf.getvalue()
    stats = shard_stats(table, rg_rows) if shard_stats else None    # once, per row group
    sid, new = store.put(data)
    fp_data = encode_fingerprints(fps, SCHEME)
    fid, fp_new = store.put(fp_data)
    index_data = chunk_index(data)
    xid, x_new = store.put(index_data)
    written = (len(data) if new else 0) + (len(fp_data) if fp_new else 0) + (len(index_data) if x_new else 0)
    return ShardRef(ShardId(sid), ObjectId(fid), table.num_rows, len(data), ObjectId(xid), stats), written, new


INDEX_FORMAT = "dsreg-shard-index-1"


def chunk_index(data: bytes) -> bytes:
    """Byte ranges and hashes of a Parquet file's footer and column chunks, so that a
    reader fetching only some columns by range can still verify every byte it uses."""
    import struct

    from dsreg.ids import hash_bytes
    from dsreg.model.serialize import canonical_json
    footer_len = struct.unpack("<I", data[-8:-4])[0]
    footer_start = len(data) - footer_len - 8
    md = pq.read_metadata(pa.BufferReader(data))
    view = memoryview(data)     # hashed in place, not copied chunk by chunk
    chunks = []
    for rg in range(md.num_row_groups):
        group = md.row_group(rg)
        for c in range(group.num_columns):
            col = group.column(c)
            start = col.dictionary_page_offset if col.has_dictionary_page and col.dictionary_page_offset else \
                col.data_page_offset
            length = col.total_compressed_size
            chunks.append([start, length, hash_bytes(view[start:start + length])])
    doc = {"format": INDEX_FORMAT, "size": len(data),
           "footer": [footer_start, len(data) - footer_start, hash_bytes(view[footer_start:])], "chunks": chunks}
    return canonical_json(doc)


def decode_chunk_index(data: bytes) -> tuple[int, list[tuple[int, int, ObjectId]]]:
    """(shard size, [(start, length, hash)] of its footer, then its column chunks), each
    range inside the shard: a chunk index from a remote is checked before a read trusts it."""
    try:
        doc = checked.loads(data)
        if checked.field(doc, "format", str) != INDEX_FORMAT:
            raise ValueError(f"unknown format {doc.get('format')!r}")
        size = checked.count(checked.field(doc, "size", int), "the shard's size")
        ranges = []
        for entry in [checked.field(doc, "footer", list), *checked.field(doc, "chunks", list)]:
            if not isinstance(entry, list) or len(entry) != 3:
                raise ValueError(f"a byte range is {str(entry)[:80]}, expected [start, length, hash]")
            start = checked.count(entry[0], "a range's start", hi=size)
            length = checked.count(entry[1], "a range's length", hi=size - start)
            ranges.append((start, length, data_id(entry[2], "chunk index")))
        return size, ranges
    except (ValueError, KeyError, TypeError) as e:
        raise CorruptObject(f"chunk index is malformed: {e}") from None


class ObjectSource(Protocol):
    """What a ShardReader reads from: a store, or diff's scratch store over the registry's."""

    def get(self, oid: ObjectId) -> bytes: ...


@dataclass
class ShardReader:
    """Reads rows of shards, verified, keeping a few decoded shards at hand.

    `by_row_group`: decode each row group alone, without Arrow's threads, giving a table of
    one chunk per row group rather than one contiguous table, whose buffers grow (and are
    copied) as the decoder goes. Alone, it takes less CPU but more time; in a commit proving
    reuse, whose other threads keep every core busy, it takes the same time and 95 MiB less
    memory at 2M rows (farm-bench, docs/benchmarks.md)."""
    store: ObjectSource
    columns: list[str] | None = None
    cache_size: int = 4
    by_row_group: bool = False

    def __post_init__(self):
        self._cache: dict[ShardId, pa.Table] = {}
        self._fp_cache: dict[ObjectId, np.ndarray] = {}
        self._ahead: tuple[ShardId, Future] | None = None      # one shard being decoded ahead
        self._decoder: ThreadPoolExecutor | None = None

    def table(self, shard: ShardId) -> pa.Table:
        got = self._cache.pop(shard, None)
        if got is None:
            if self._ahead is not None and self._ahead[0] == shard:
                got = self._ahead[1].result()
                self._ahead = None
            else:
                got = self._decode(shard)
            while len(self._cache) >= self.cache_size:
                self._cache.pop(next(iter(self._cache)))
        self._cache[shard] = got
        return got

    def _decode(self, shard: ShardId) -> pa.Table:
        data = self.store.get(shard)
        # ParquetFile, not read_table: the latter imports pandas (0.5 s) on its first call
        pf = pq.ParquetFile(pa.BufferReader(data))
        if self.by_row_group and pf.num_row_groups > 1:
            return pa.concat_tables([pf.read_row_group(i, columns=self.columns, use_threads=False)
                                     for i in range(pf.num_row_groups)])
        return pf.read(columns=self.columns)

    def prefetch(self, shard: ShardId) -> None:
        """Start decoding `shard` in a background thread, so that `table(shard)` later finds it
        ready: a commit verifying reused rows decodes the next base shard while it works on
        this one. One shard at most is decoded ahead (memory: one shard more than the cache);
        a shard asked for while another is still on its way waits for the next call."""
        if shard in self._cache or self._ahead is not None and (self._ahead[0] == shard or not self._ahead[1].done()):
            return
        if self._decoder is None:
            self._decoder = ThreadPoolExecutor(1, thread_name_prefix="dsreg-shard-decoder")
        # a finished shard nobody asked for yet is dropped for the newer one (both are guesses)
        self._ahead = (shard, self._decoder.submit(self._decode, shard))

    def close(self) -> None:
        """Stop decoding ahead and let go of the decoded shards."""
        if self._decoder is not None:
            self._decoder.shutdown(wait=True)
            self._decoder = None
        self._ahead = None
        self._cache.clear()

    def fingerprints(self, ref: ShardRef, schema: pa.Schema) -> np.ndarray:
        """The shard's row fingerprints under the current scheme: the stored ones, or, when
        they were stored under another scheme, computed again from its rows, which are read
        as `schema` (the committed schema of a snapshot that reads the shard) in storage
        form, exactly as they were fingerprinted when written. Fingerprints of two schemes
        are never compared."""
        got = self._fp_cache.get(ref.fingerprints)
        if got is None:
            scheme, got = decode_fingerprint_object(self.store.get(ref.fingerprints))
            if scheme != SCHEME:
                table = pq.ParquetFile(pa.BufferReader(self.store.get(ref.id))).read()
                got = row_fingerprints(conform(table.select(schema.names), storage_schema(schema)))
            self._fp_cache[ref.fingerprints] = got
        if len(got) != ref.rows:        # (a forged snapshot: runs would index past them)
            raise CorruptObject(f"fingerprint object {ref.fingerprints} holds {len(got)} fingerprints for the "
                                f"{ref.rows} rows of shard {ref.id}", "run 'dsreg fsck'")
        return got
