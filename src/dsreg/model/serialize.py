"""The one place that turns commits and snapshots into bytes and back.

The records themselves (Commit, Snapshot, ShardRef) are shared vocabulary in dsreg.records,
so the manifest below this layer can hold them too.

Both are canonical JSON (sorted keys, no whitespace, UTF-8), so equal content gives equal
bytes and so equal ids. Snapshots are zlib-compressed: a version made by scattered edits
has tens of thousands of runs.
"""
from __future__ import annotations

import base64
import json
import re
import zlib
from typing import Any

import numpy as np

from dsreg.errors import CorruptObject
from dsreg.ids import CommitId, ObjectId, ShardId, is_object_id
from dsreg.model import checked
from dsreg.records import COMMIT_FORMAT, Commit, ShardRef, Snapshot

SNAPSHOT_FORMAT = "dsreg-snapshot-2"
_SNAPSHOT_MAGIC = b"DSRGSNP2"
_SNAPSHOT_V1 = ("dsreg-snapshot-1", b"DSRGSNP1")     # runs as JSON lists: still read
SNAPSHOT_MAGICS = (_SNAPSHOT_MAGIC, _SNAPSHOT_V1[1])   # how a snapshot object starts (rebuild.py)


def data_id(value: Any, what: str) -> ObjectId:
    """An object id read from stored data, checked before it can become a path or a key."""
    if not isinstance(value, str) or not is_object_id(value):
        raise CorruptObject(f"{what} names a malformed object id {str(value)[:80]!r}")
    return ObjectId(value)


def _data_name(value: Any, check, what: str) -> str:
    """A dataset or split name read from stored data: it becomes folder names on checkout."""
    from dsreg.errors import UsageError
    try:
        return check(value)
    except UsageError as e:
        raise CorruptObject(f"{what}: {e.message}") from None


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def encode_snapshot(snap: Snapshot) -> bytes:
    """Magic, then zlib of: the JSON header's length (4 bytes, little-endian), the canonical
    JSON header, and the runs as little-endian int64 (shard, start, count) triples with
    their bytes shuffled (all first bytes, then all second bytes, ...), which compresses
    better than JSON text and decodes without a Python object per run: a version made by
    scattered edits has hundreds of thousands of runs."""
    doc = {
        "format": SNAPSHOT_FORMAT,
        "schema": base64.b64encode(snap.schema_ipc).decode("ascii"),
        "shards": [[s.id, s.fingerprints, s.rows, s.bytes, s.index] for s in snap.shards],
        "runs": snap.num_runs,
    }
    header = canonical_json(doc)
    runs = np.stack([snap.run_shard, snap.run_start, snap.run_count], axis=1).astype("<i8") \
        if snap.num_runs else np.zeros((0, 3), "<i8")
    shuffled = np.frombuffer(runs.tobytes(), np.uint8).reshape(-1, 8).T.tobytes()
    return _SNAPSHOT_MAGIC + zlib.compress(len(header).to_bytes(4, "little") + header + shuffled, 6)


def _decode_runs(body: bytes, count: int) -> np.ndarray:
    if len(body) != 24 * count:
        raise ValueError(f"{len(body)} bytes of runs for {count} runs")
    return np.ascontiguousarray(np.frombuffer(body, np.uint8).reshape(8, -1).T).view("<i8").reshape(-1, 3) \
        .astype(np.int64, copy=False)


def decode_snapshot(data: bytes) -> Snapshot:
    """A snapshot object, checked for shape before anything uses it: inflated within
    bounds (see checked.py), its schema readable, every run inside a shard it names."""
    try:
        if data.startswith(_SNAPSHOT_MAGIC):
            stream = checked.Inflater(data[len(_SNAPSHOT_MAGIC):])
            size = int.from_bytes(stream.take(4), "little")
            doc = checked.loads(stream.take(size))
            if checked.field(doc, "format", str) != SNAPSHOT_FORMAT:
                raise ValueError(f"unknown format {doc.get('format')!r}")
            count = checked.count(checked.field(doc, "runs", int), "the number of runs", hi=stream.limit // 24)
            runs = _decode_runs(stream.take(24 * count), count)
            stream.end()
        elif data.startswith(_SNAPSHOT_V1[1]):
            doc = checked.loads(checked.inflate(data[len(_SNAPSHOT_V1[1]):]))
            if checked.field(doc, "format", str) != _SNAPSHOT_V1[0]:
                raise ValueError(f"unknown format {doc.get('format')!r}")
            runs = np.asarray(checked.field(doc, "runs", list), dtype=np.int64).reshape(-1, 3)
        else:
            raise ValueError("bad magic")
        snap = Snapshot(
            schema_ipc=_decode_schema(checked.field(doc, "schema", str)),
            shards=tuple(_decode_shard_ref(s) for s in checked.field(doc, "shards", list)),
            run_shard=runs[:, 0].copy(), run_start=runs[:, 1].copy(), run_count=runs[:, 2].copy(),
        )
        _check_runs(snap)
        return snap
    except (ValueError, KeyError, TypeError, OverflowError, zlib.error) as e:
        raise CorruptObject(f"snapshot object is malformed: {e}") from None


def _decode_schema(text: str) -> bytes:
    import pyarrow as pa
    schema_ipc = base64.b64decode(text, validate=True)
    try:
        schema = pa.ipc.read_schema(pa.py_buffer(schema_ipc))
    except (pa.ArrowException, OSError) as e:
        raise ValueError(f"its schema cannot be read ({e})") from None
    deepest = max((checked.parquet_depth(f.type) for f in schema), default=0)
    if deepest > checked.PARQUET_MAX_DEPTH:
        raise ValueError(f"its schema nests {deepest} levels deep, more than Parquet can read")
    return schema_ipc


def _decode_shard_ref(entry: Any) -> ShardRef:
    if not isinstance(entry, list) or len(entry) != 5:
        raise ValueError(f"a shard entry is {str(entry)[:80]}, expected [id, fingerprints, rows, bytes, index]")
    i, f, rows, nbytes, x = entry
    return ShardRef(ShardId(data_id(i, "snapshot")), data_id(f, "snapshot"), checked.count(rows, "a shard's rows"),
                    checked.count(nbytes, "a shard's bytes"), data_id(x, "snapshot") if x else None)


def _check_runs(snap: Snapshot) -> None:
    """Every run reads at least one row, all of them inside the shard it names: a forged
    run cannot index past the shard list, read rows that are not there, or loop for ever."""
    if not snap.num_runs:
        return
    rows = np.asarray([s.rows for s in snap.shards] + [0], dtype=np.int64)
    inside = (snap.run_shard >= 0) & (snap.run_shard < len(snap.shards))
    idx = np.where(inside, snap.run_shard, len(snap.shards))
    bad = ~inside | (snap.run_start < 0) | (snap.run_count <= 0) | (snap.run_start > rows[idx] - snap.run_count)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{int(bad.sum())} run(s) outside their shards (run {i}: shard #{int(snap.run_shard[i])}, "
                         f"rows {int(snap.run_start[i])}+{int(snap.run_count[i])})")


def encode_commit(commit: Commit) -> bytes:
    return canonical_json(commit.to_doc())


def decode_commit(data: bytes) -> Commit:
    """A commit object, checked for shape: every field of its type, ids and names
    well-formed, a time any calendar can show, metadata of bounded depth."""
    try:
        doc = checked.loads(data)
        if checked.field(doc, "format", str) != COMMIT_FORMAT:
            raise ValueError(f"unknown format {doc.get('format')!r}")
        # syntax only (safe as paths): what older dsregs stored stays readable; fetch
        # refuses the names dsreg no longer accepts
        from dsreg.names import check_dataset_syntax, check_split_syntax
        metadata = doc.get("metadata") or {}
        if not isinstance(metadata, dict) or checked.too_deep(metadata):
            raise ValueError("its metadata is not a JSON object of bounded depth")
        return Commit(
            dataset=_data_name(checked.field(doc, "dataset", str), check_dataset_syntax, "commit object"),
            parents=tuple(CommitId(data_id(p, "commit object")) for p in checked.field(doc, "parents", list)),
            splits={_data_name(k, check_split_syntax, "commit object"): data_id(v, "commit object")
                    for k, v in checked.field(doc, "splits", dict).items()},
            message=checked.field(doc, "message", str), author=checked.field(doc, "author", str),
            timestamp=checked.timestamp(checked.field(doc, "timestamp", int)), metadata=metadata,
        )
    except (ValueError, KeyError, TypeError) as e:
        raise CorruptObject(f"commit object is malformed: {e}") from None


# A fingerprint object: a header naming the fingerprint scheme, then one little-endian
# uint64 per row. Scheme rowfp-2 keeps the 8-byte header `DSRGFP1\n` it has always had,
# so its objects stay byte-identical (same ids, readable by older dsregs); any other
# scheme is named in a 16-byte header `DSRGFP2\n<scheme padded to 7>\n`.
_FP_MAGIC = b"DSRGFP2\n"
_FP_HEADER = re.compile(rb"DSRGFP2\n([A-Za-z0-9._-]{1,7}) *\n")    # the scheme padded to 16 bytes in all
_FP_V1 = (b"DSRGFP1\n", "rowfp-2")
FINGERPRINTS_MAGIC = (_FP_MAGIC, _FP_V1[0])              # how a fingerprint object starts (rebuild.py)


def _fp_header(scheme: str) -> bytes:
    if scheme == _FP_V1[1]:
        return _FP_V1[0]
    header = _FP_MAGIC + scheme.encode("ascii").ljust(7) + b"\n"
    if len(header) != 16 or not _FP_HEADER.fullmatch(header):
        raise ValueError(f"fingerprint scheme name {scheme!r} does not fit the header")
    return header


def encode_fingerprints(fps: np.ndarray, scheme: str) -> bytes:
    return _fp_header(scheme) + np.ascontiguousarray(fps, dtype="<u8").tobytes()


def fingerprints_size(rows: int, scheme: str = _FP_V1[1]) -> int:
    """Bytes of a fingerprint object of `rows` rows (scheme rowfp-2, the current one, by default)."""
    return len(_fp_header(scheme)) + 8 * rows


def decode_fingerprint_object(data: bytes) -> tuple[str, np.ndarray]:
    """(scheme, one uint64 per row)."""
    if data.startswith(_FP_V1[0]):
        scheme, start = _FP_V1[1], len(_FP_V1[0])
    else:
        m = _FP_HEADER.match(data[:16])
        if m is None or m.end() != 16:
            raise CorruptObject("fingerprint object is malformed")
        scheme, start = m.group(1).decode("ascii"), 16
    if (len(data) - start) % 8:
        raise CorruptObject("fingerprint object is malformed")
    return scheme, np.frombuffer(data, dtype="<u8", offset=start).astype(np.uint64)


def decode_fingerprints(data: bytes) -> np.ndarray:
    """The fingerprints, whatever their scheme (what fsck and rebuild need: their number)."""
    return decode_fingerprint_object(data)[1]
