"""Rows <-> shards: fixed Parquet writer settings, content-defined cut points, shard reads.

A shard is an immutable Parquet file named by the hash of its bytes. Its row fingerprints
live in an object of their own beside it. Writer settings are constants of the format so
that equal rows give equal bytes, and cut points depend only on the rows themselves
(their fingerprints and sizes), so the same rows give the same shards whatever files or
batches they arrived in.
"""
from __future__ import annotations

import io
import os
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from dsreg.errors import BadInput, UnsupportedType
from dsreg.rows.fingerprint import SCHEME, mix, row_fingerprints
from dsreg.ids import ObjectId, ShardId
from dsreg.model import checked
from dsreg.model.serialize import CorruptObject, ShardRef, data_id, decode_fingerprint_object, encode_fingerprints
from dsreg.stats import shard_stats
from dsreg.store import ObjectStore

# Part of the format: changing any of these changes the bytes (and so ids) of new shards.
SHARD_TARGET_BYTES = 32 << 20
SHARD_MIN_BYTES = 4 << 20
SHARD_MAX_BYTES = 128 << 20
ROW_GROUP_TARGET_BYTES = 2 << 20
ROW_GROUP_MIN_ROWS, ROW_GROUP_MAX_ROWS = 1024, 1 << 20
_CUT_SALT = np.uint64(0x5851F42D4C957F2D)
DICTIONARY_SAMPLE_ROWS, DICTIONARY_MAX_DISTINCT = 4096, 0.25     # see dictionary_columns


def strip_metadata(schema: pa.Schema) -> pa.Schema:
    """The schema without schema- or field-level metadata (shards never carry it)."""
    return pa.schema([pa.field(f.name, f.type, f.nullable) for f in schema])


def storage_type(t: pa.DataType) -> pa.DataType:
    """The type rows of type `t` are matched and stored as, so that equal rows make equal
    shard bytes whatever their source called things: nested fields get canonical names
    (`item`, `key`, `value`; pyarrow's Parquet reader says `element`) and no metadata, and
    string and binary views become their large offset forms (Arrow's `take` has no kernels
    for views). The snapshot keeps the committed type; reading casts back to it."""
    def child(f: pa.Field, name: str) -> pa.Field:
        return pa.field(name, storage_type(f.type), f.nullable)
    if pa.types.is_string_view(t):
        return pa.large_string()
    if pa.types.is_binary_view(t):
        return pa.large_binary()
    if pa.types.is_struct(t):
        return pa.struct([child(f, f.name) for f in t])
    if pa.types.is_map(t):
        return pa.map_(child(t.key_field, "key"), child(t.item_field, "value"), t.keys_sorted)
    if pa.types.is_fixed_size_list(t):
        return pa.list_(child(t.value_field, "item"), t.list_size)
    if pa.types.is_large_list(t):
        return pa.large_list(child(t.value_field, "item"))
    if pa.types.is_list(t):
        return pa.list_(child(t.value_field, "item"))
    if pa.types.is_large_list_view(t):
        return pa.large_list_view(child(t.value_field, "item"))
    if pa.types.is_list_view(t):
        return pa.list_view(child(t.value_field, "item"))
    if pa.types.is_dictionary(t):
        return pa.dictionary(t.index_type, storage_type(t.value_type), t.ordered)
    return t


def storage_schema(schema: pa.Schema) -> pa.Schema:
    return pa.schema([pa.field(f.name, storage_type(f.type), f.nullable) for f in schema])


def same_type(a: pa.DataType, b: pa.DataType) -> bool:
    """Equal including nested field names and metadata (Arrow's `==` ignores list and map
    field names)."""
    return a.equals(b, check_metadata=True) and str(a) == str(b)


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


def cut_candidates(fps: np.ndarray, nbytes: np.ndarray) -> np.ndarray:
    """Rows after which a shard may end: each row is a candidate with probability
    nbytes/target, decided by its fingerprint, so shards average the target size."""
    threshold = np.minimum(nbytes.astype(np.float64) / SHARD_TARGET_BYTES, 1.0) * 2.0**64
    return mix(fps ^ _CUT_SALT).astype(np.float64) < threshold


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


def write_shard(store: ObjectStore, table: pa.Table, fps: np.ndarray) -> tuple[ShardRef, int, bool]:
    """Write rows as one shard plus its fingerprints; return (ref, bytes written, new?)."""
    table = table.replace_schema_metadata(None)
    check_storable(table)
    table = table.cast(strip_metadata(table.schema)) if any(f.metadata for f in table.schema) else table
    avg = max(table.nbytes // max(table.num_rows, 1), 1)
    rg_rows = int(min(max(ROW_GROUP_TARGET_BYTES // avg, ROW_GROUP_MIN_ROWS), ROW_GROUP_MAX_ROWS))
    buf = io.BytesIO()
    try:
        pq.write_table(
            table, buf, row_group_size=rg_rows, compression="zstd", compression_level=3,
            version="2.6", use_dictionary=dictionary_columns(table), write_statistics=True, store_schema=True,
        )
    except pa.ArrowException as e:   # ArrowInvalid, ArrowNotImplementedError, ArrowIOError, ...
        raise UnsupportedType(f"cannot store this table as Parquet: {e}") from None
    data = buf.getvalue()
    stats = shard_stats(table, rg_rows)    # column statistics, once, per row group
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
    chunks = []
    for rg in range(md.num_row_groups):
        group = md.row_group(rg)
        for c in range(group.num_columns):
            col = group.column(c)
            start = col.dictionary_page_offset if col.has_dictionary_page and col.dictionary_page_offset else \
                col.data_page_offset
            length = col.total_compressed_size
            chunks.append([start, length, hash_bytes(data[start:start + length])])
    doc = {"format": INDEX_FORMAT, "size": len(data),
           "footer": [footer_start, len(data) - footer_start, hash_bytes(data[footer_start:])], "chunks": chunks}
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


class ShardCutter:
    """Accumulates new rows and emits shards at content-defined cut points.

    Shards are encoded and stored by background threads, so that writing them overlaps
    reading and fingerprinting the next rows (Parquet encoding, hashing and file I/O
    release the GIL); at most `MAX_PENDING` shards wait, which bounds memory. They are
    collected in emission order, so the result does not depend on the threads."""

    WRITERS = min(2, os.cpu_count() or 1)
    MAX_PENDING = 3

    def __init__(self, store: ObjectStore, on_shard=None):
        self.store = store
        self.on_shard = on_shard
        self._writer: ThreadPoolExecutor | None = None
        self._writing: deque[Future] = deque()
        self._batches: list[pa.RecordBatch | pa.Table] = []
        self._fps: list[np.ndarray] = []
        self._sizes: list[np.ndarray] = []
        self._pending_bytes = 0
        self.shards: list[ShardRef] = []        # in emission order
        self.bounds: list[int] = [0]            # new-row index where each shard starts
        self.new_bytes = 0
        self.rows = 0

    def add(self, rows: pa.Table, fps: np.ndarray, sizes: np.ndarray) -> None:
        if rows.num_rows == 0:
            return
        self._batches.append(rows)
        self._fps.append(fps)
        self._sizes.append(sizes)
        self._pending_bytes += int(sizes.sum())
        self.rows += rows.num_rows
        if self._pending_bytes >= SHARD_MIN_BYTES:
            self._cut(final=False)

    def finish(self) -> None:
        self._cut(final=True)
        while self._writing:
            self._collect()
        if self._writer is not None:
            self._writer.shutdown()
            self._writer = None

    def _emit(self, table: pa.Table, fps: np.ndarray) -> None:
        if self._writer is None:
            self._writer = ThreadPoolExecutor(self.WRITERS, thread_name_prefix="dsreg-shard-writer")
        self._writing.append(self._writer.submit(write_shard, self.store, table, fps))
        self.bounds.append(self.bounds[-1] + table.num_rows)
        while len(self._writing) > self.MAX_PENDING:
            self._collect()

    def _collect(self) -> None:
        """The oldest shard being written, once it is (shards stay in emission order)."""
        ref, written, _ = self._writing.popleft().result()
        self.shards.append(ref)
        self.new_bytes += written
        if self.on_shard:
            self.on_shard(ref, written)

    def _cut(self, final: bool) -> None:
        if not self._batches:
            return
        fps = np.concatenate(self._fps)
        sizes = np.concatenate(self._sizes)
        cum = np.cumsum(sizes)
        cand = np.flatnonzero(cut_candidates(fps, sizes))
        start, start_bytes, cuts = 0, 0, []
        n = len(fps)
        while start < n:
            # first candidate whose shard would reach the minimum size, else the maximum
            lo = int(np.searchsorted(cum, start_bytes + SHARD_MIN_BYTES, side="left"))
            hi = int(np.searchsorted(cum, start_bytes + SHARD_MAX_BYTES, side="left"))
            k = int(np.searchsorted(cand, max(lo, start), side="left"))
            end = int(cand[k]) + 1 if k < len(cand) and cand[k] <= hi else hi + 1
            if end > n:
                if not final:
                    break
                end = n
            cuts.append(end)
            start, start_bytes = end, int(cum[end - 1])
        if not cuts:
            return
        # contiguous, whatever batches the rows came in: Parquet's page boundaries follow the
        # input's chunks, and equal rows must give equal bytes
        table = pa.concat_tables([pa.Table.from_batches([b]) if isinstance(b, pa.RecordBatch) else b
                                  for b in self._batches]).combine_chunks()
        prev = 0
        for end in cuts:
            self._emit(table.slice(prev, end - prev), fps[prev:end])
            prev = end
        rest = table.slice(prev)
        self._batches = [rest] if rest.num_rows else []
        self._fps = [fps[prev:]] if rest.num_rows else []
        self._sizes = [sizes[prev:]] if rest.num_rows else []
        self._pending_bytes = int(sizes[prev:].sum())


@dataclass
class ShardReader:
    """Reads rows of shards, verified, keeping a few decoded shards at hand."""
    store: ObjectStore
    columns: list[str] | None = None
    cache_size: int = 4

    def __post_init__(self):
        self._cache: dict[ShardId, pa.Table] = {}
        self._fp_cache: dict[ObjectId, np.ndarray] = {}

    def table(self, shard: ShardId) -> pa.Table:
        got = self._cache.pop(shard, None)
        if got is None:
            data = self.store.get(shard)
            # ParquetFile, not read_table: the latter imports pandas (0.5 s) on its first call
            got = pq.ParquetFile(pa.BufferReader(data)).read(columns=self.columns)
            while len(self._cache) >= self.cache_size:
                self._cache.pop(next(iter(self._cache)))
        self._cache[shard] = got
        return got

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
                from dsreg.rows.snapshots import conform
                table = pq.ParquetFile(pa.BufferReader(self.store.get(ref.id))).read()
                got = row_fingerprints(conform(table.select(schema.names), storage_schema(schema)))
            self._fp_cache[ref.fingerprints] = got
        if len(got) != ref.rows:        # (a forged snapshot: runs would index past them)
            raise CorruptObject(f"fingerprint object {ref.fingerprints} holds {len(got)} fingerprints for the "
                                f"{ref.rows} rows of shard {ref.id}", "run 'dsreg fsck'")
        return got
