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
from dsreg.records import COMMIT_FORMAT, Commit, ShardRef, Snapshot
from dsreg.ids import CommitId, ObjectId, ShardId, is_object_id

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
        .astype(np.int64)


def decode_snapshot(data: bytes) -> Snapshot:
    try:
        if data.startswith(_SNAPSHOT_MAGIC):
            body = zlib.decompress(data[len(_SNAPSHOT_MAGIC):])
            size = int.from_bytes(body[:4], "little")
            doc = json.loads(body[4:4 + size])
            if doc.get("format") != SNAPSHOT_FORMAT:
                raise ValueError(f"unknown format {doc.get('format')!r}")
            runs = _decode_runs(body[4 + size:], int(doc["runs"]))
        elif data.startswith(_SNAPSHOT_V1[1]):
            doc = json.loads(zlib.decompress(data[len(_SNAPSHOT_V1[1]):]))
            if doc.get("format") != _SNAPSHOT_V1[0]:
                raise ValueError(f"unknown format {doc.get('format')!r}")
            runs = np.asarray(doc["runs"], dtype=np.int64).reshape(-1, 3)
        else:
            raise ValueError("bad magic")
        return Snapshot(
            schema_ipc=base64.b64decode(doc["schema"]),
            shards=tuple(ShardRef(ShardId(data_id(i, "snapshot")), data_id(f, "snapshot"), int(r), int(b),
                                  data_id(x, "snapshot") if x else None)
                         for i, f, r, b, x in doc["shards"]),
            run_shard=runs[:, 0].copy(), run_start=runs[:, 1].copy(), run_count=runs[:, 2].copy(),
        )
    except (ValueError, KeyError, TypeError, zlib.error) as e:
        raise CorruptObject(f"snapshot object is malformed: {e}") from None


def encode_commit(commit: Commit) -> bytes:
    return canonical_json(commit.to_doc())


def decode_commit(data: bytes) -> Commit:
    try:
        doc = json.loads(data)
        if doc.get("format") != COMMIT_FORMAT:
            raise ValueError(f"unknown format {doc.get('format')!r}")
        # syntax only (safe as paths): what older dsregs stored stays readable; fetch
        # refuses the names dsreg no longer accepts
        from dsreg.names import check_dataset_syntax, check_split_syntax
        return Commit(
            dataset=_data_name(doc["dataset"], check_dataset_syntax, "commit object"),
            parents=tuple(CommitId(data_id(p, "commit object")) for p in doc["parents"]),
            splits={_data_name(k, check_split_syntax, "commit object"): data_id(v, "commit object")
                    for k, v in doc["splits"].items()}, message=doc["message"],
            author=doc["author"], timestamp=int(doc["timestamp"]), metadata=doc.get("metadata") or {},
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
