"""Fuzzing the decoders of what a remote hands us: commits, snapshots, refs, fingerprint
objects and chunk indexes. A remote is not trusted, so whatever the bytes, a decoder
either returns a well-formed value or raises CorruptObject (a DsregError) - never another
exception, never a hang, never a huge allocation.

Inputs are random bytes, and valid objects mutated at three depths: their bytes (flips,
cuts, splices), their inflated content re-compressed (so the mutation reaches the
parser behind zlib), and their JSON fields replaced by arbitrary JSON values. Bounded:
DSREG_TEST_EXAMPLES examples per decoder (default 200), each within a deadline.
"""
from __future__ import annotations

import base64
import io
import json
import os
import tracemalloc
import zlib

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dsreg.errors import DsregError
from dsreg.ids import hash_bytes, is_object_id
from dsreg.model import checked
from dsreg.model.serialize import (
    Commit,
    ShardRef,
    Snapshot,
    canonical_json,
    decode_commit,
    decode_fingerprint_object,
    decode_snapshot,
    encode_commit,
    encode_fingerprints,
    encode_snapshot,
)
from dsreg.names import check_dataset_name, check_split_name
from dsreg.remote.backends import FolderRemote
from dsreg.rows.shards import chunk_index, decode_chunk_index
from helpers.reliability import record

EXAMPLES = int(os.environ.get("DSREG_TEST_EXAMPLES_FUZZ", os.environ.get("DSREG_TEST_EXAMPLES", 200)))
FUZZ = settings(max_examples=EXAMPLES, deadline=5000, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
MAX_ALLOCATION = 64 << 20       # what one decode may allocate at most, whatever the bytes


def _id(n: int) -> str:
    return hash_bytes(str(n).encode())


def _valid_snapshot() -> bytes:
    schema = pa.schema([("a", pa.int64()), ("b", pa.list_(pa.string())), ("c", pa.struct([("x", pa.float32())]))])
    shards = tuple(ShardRef(_id(i), _id(100 + i), 10 + i, 1000 + i, _id(200 + i) if i else None) for i in range(3))
    return encode_snapshot(Snapshot(schema.serialize().to_pybytes(), shards, np.array([0, 2, 1, 0]),
                                    np.array([0, 3, 5, 9]), np.array([9, 4, 6, 1])))


def _valid_snapshot_v1() -> bytes:
    schema = pa.schema([("a", pa.int64())]).serialize().to_pybytes()
    doc = {"format": "dsreg-snapshot-1", "schema": base64.b64encode(schema).decode(),
           "shards": [[_id(1), _id(2), 5, 100, None]], "runs": [[0, 0, 2], [0, 3, 2]]}
    return b"DSRGSNP1" + zlib.compress(canonical_json(doc))


def _valid_commit() -> bytes:
    return encode_commit(Commit("org/ds", (_id(1), _id(2)), {"train": _id(3), "test": _id(4)}, "message é",
                                "A <a@b>", 1_700_000_000, {"keys": ["id"], "card": {"license": "mit"}}))


def _valid_index() -> bytes:
    buf = io.BytesIO()
    pq.write_table(pa.table({"a": list(range(50)), "b": [str(i) for i in range(50)]}), buf)
    return chunk_index(buf.getvalue())


VALID = {
    "snapshot": [_valid_snapshot(), _valid_snapshot_v1()],
    "commit": [_valid_commit()],
    "ref": [json.dumps({"commit": _id(7)}).encode() + b"\n"],
    "fingerprints": [encode_fingerprints(np.arange(9, dtype=np.uint64), "rowfp-2"),
                     encode_fingerprints(np.arange(4, dtype=np.uint64), "rowfp-9")],
    "index": [_valid_index()],
}

# -- mutations ----------------------------------------------------------------------
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(1 << 70), 1 << 70) | st.floats(allow_nan=False)
    | st.text(max_size=40) | st.sampled_from([_id(1), "../x", "", "train", "0" * 32]),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5),
    max_leaves=20)


@st.composite
def byte_mutants(draw, valid: list[bytes]) -> bytes:
    data = bytearray(draw(st.sampled_from(valid)))
    for _ in range(draw(st.integers(1, 4))):
        how = draw(st.sampled_from(["flip", "cut", "splice", "set"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if how == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif how == "cut":
            data = data[:at] if draw(st.booleans()) else data[:at] + data[at + draw(st.integers(1, 16)):]
        elif how == "splice":
            data[at:at] = draw(st.binary(max_size=32))
        elif data:
            data[at] = draw(st.integers(0, 255))
    return bytes(data)


def _magic_and_body(data: bytes) -> tuple[bytes, bytes] | None:
    for magic in (b"DSRGSNP2", b"DSRGSNP1"):
        if data.startswith(magic):
            return magic, zlib.decompress(data[len(magic):])
    return None


@st.composite
def inflated_mutants(draw, valid: list[bytes]) -> bytes:
    """A snapshot whose inflated bytes are mutated, then compressed again."""
    magic, body = _magic_and_body(draw(st.sampled_from(valid)))  # type: ignore[misc]
    body = draw(byte_mutants([body]))
    return magic + zlib.compress(body)


@st.composite
def field_mutants(draw, valid: list[bytes]) -> bytes:
    """A JSON object (a commit, a ref, a chunk index, a snapshot's header) with one field
    replaced, dropped or added."""
    data = draw(st.sampled_from(valid))
    framed = _magic_and_body(data)
    if framed and framed[0] == b"DSRGSNP2":
        size = int.from_bytes(framed[1][:4], "little")
        doc, rest = json.loads(framed[1][4:4 + size]), framed[1][4 + size:]
    elif framed:
        doc, rest = json.loads(framed[1]), b""
    else:
        doc, rest = json.loads(data), b""
    key = draw(st.sampled_from(sorted(doc) + ["extra"]))
    if draw(st.booleans()) and key in doc:
        del doc[key]
    else:
        doc[key] = draw(json_values)
    text = json.dumps(doc).encode()
    if not framed:
        return text
    if framed[0] == b"DSRGSNP2":
        return framed[0] + zlib.compress(len(text).to_bytes(4, "little") + text + rest)
    return framed[0] + zlib.compress(text)


def inputs(kind: str, json_fields: bool = True, inflated: bool = False):
    options = [st.binary(max_size=3000), byte_mutants(VALID[kind])]
    if json_fields:
        options.append(field_mutants(VALID[kind]))
    if inflated:
        options.append(inflated_mutants(VALID[kind]))
    return st.one_of(options)


# -- the property -------------------------------------------------------------------
TRIED: dict[str, int] = {}


def decoded_or_refused(kind: str, decode, data: bytes, well_formed) -> None:
    """decode(data) returns a well-formed value or raises a DsregError; allocating little."""
    TRIED[kind] = TRIED.get(kind, 0) + 1
    tracemalloc.start()
    try:
        value = decode(data)
    except DsregError:
        return
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert peak < MAX_ALLOCATION, f"decoding {len(data)} bytes allocated {peak >> 20} MiB"
    well_formed(value)


def _snapshot_ok(snap: Snapshot) -> None:
    n = len(snap.run_count)
    assert len(snap.run_shard) == len(snap.run_start) == n
    snap.schema  # noqa: B018 - readable
    for s in snap.shards:
        assert is_object_id(s.id) and is_object_id(s.fingerprints) and (s.index is None or is_object_id(s.index))
        assert 0 <= s.rows <= checked.MAX_COUNT and 0 <= s.bytes <= checked.MAX_COUNT
    if n:
        assert (snap.run_shard >= 0).all() and (snap.run_shard < len(snap.shards)).all()
        rows = np.array([s.rows for s in snap.shards])[snap.run_shard]
        assert (snap.run_start >= 0).all() and (snap.run_count > 0).all()
        assert (snap.run_start + snap.run_count <= rows).all()
    list(snap.runs())


def _commit_ok(c: Commit) -> None:
    check_dataset_name(c.dataset)
    assert all(is_object_id(p) for p in c.parents)
    assert all(check_split_name(k) and is_object_id(v) for k, v in c.splits.items())
    assert isinstance(c.message, str) and isinstance(c.author, str)
    assert type(c.timestamp) is int and checked.MIN_TIMESTAMP <= c.timestamp <= checked.MAX_TIMESTAMP
    assert isinstance(c.metadata, dict) and not checked.too_deep(c.metadata)
    assert encode_commit(c)


def _fingerprints_ok(got) -> None:
    scheme, fps = got
    assert isinstance(scheme, str) and 1 <= len(scheme) <= 7
    assert fps.dtype == np.uint64 and fps.ndim == 1


def _index_ok(got) -> None:
    size, ranges = got
    assert ranges and 0 <= size <= checked.MAX_COUNT
    assert all(0 <= a and 0 <= n and a + n <= size and is_object_id(h) for a, n, h in ranges)


@pytest.fixture(scope="module")
def remote(tmp_path_factory) -> FolderRemote:
    """A folder remote whose ref ds@main the ref fuzzing overwrites."""
    root = tmp_path_factory.mktemp("fuzz-remote")
    (root / "refs" / "ds@branch").mkdir(parents=True)
    return FolderRemote(f"file://{root}")


def _ref_decoder(remote: FolderRemote):
    def decode(data: bytes):
        (remote.root / "refs" / "ds@branch" / "main").write_bytes(data)
        return remote.ref("ds", "branch", "main")
    return decode


def _ref_ok(ref) -> None:
    assert is_object_id(ref.commit), ref


@FUZZ
@given(data=inputs("snapshot", inflated=True))
def test_fuzz_snapshot_decoder(data):
    decoded_or_refused("snapshot", decode_snapshot, data, _snapshot_ok)


@FUZZ
@given(data=inputs("commit"))
def test_fuzz_commit_decoder(data):
    decoded_or_refused("commit", decode_commit, data, _commit_ok)


@FUZZ
@given(data=inputs("ref"))
def test_fuzz_ref_decoder(remote, data):
    decoded_or_refused("ref", _ref_decoder(remote), data, _ref_ok)


@FUZZ
@given(data=inputs("fingerprints", json_fields=False))
def test_fuzz_fingerprint_decoder(data):
    decoded_or_refused("fingerprints", decode_fingerprint_object, data, _fingerprints_ok)


@FUZZ
@given(data=inputs("index"))
def test_fuzz_chunk_index_decoder(data):
    decoded_or_refused("index", decode_chunk_index, data, _index_ok)


def test_the_valid_objects_decode(remote):
    """The seeds of the mutations are themselves accepted (else the fuzzing proves little)."""
    for data in VALID["snapshot"]:
        _snapshot_ok(decode_snapshot(data))
    _commit_ok(decode_commit(VALID["commit"][0]))
    assert _ref_decoder(remote)(VALID["ref"][0]).commit == _id(7)
    for data in VALID["fingerprints"]:
        _fingerprints_ok(decode_fingerprint_object(data))
    _index_ok(decode_chunk_index(VALID["index"][0]))


def test_decoder_fuzz_figures():
    record("fuzz: remote object decoders", examples_per_decoder=EXAMPLES, tried=sum(TRIED.values()),
           decoders=len(VALID), escaped_exceptions=0)


def test_what_dsreg_writes_is_within_the_bounds():
    """The inflation bound refuses bombs, not snapshots dsreg writes: 2.7 million runs in a
    perfectly regular pattern (two shards interleaved every 16 rows) compress about 470
    times, far beyond any bomb ratio allowed, and still decode (the floor covers them)."""
    n = 2_700_000
    i = np.arange(n)
    shards = tuple(ShardRef(_id(k), _id(10 + k), 1 << 30, 10) for k in range(2))
    schema = pa.schema([("a", pa.int64())]).serialize().to_pybytes()
    data = encode_snapshot(Snapshot(schema, shards, i % 2, 16 * (i // 2), np.full(n, 16)))
    assert 24 * n > checked.INFLATE_RATIO * len(data)
    assert decode_snapshot(data).num_runs == n
