"""The store contract: every backend passes the same tests.

A backend joins by adding a `Backend` to BACKENDS: how to make an empty store, how to
damage an object behind the store's back, where its in-progress writes would show, and
(for a store that keeps files here) how to leave a write killed halfway.
"""
from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest

from dsreg.errors import ChecksumMismatch, ObjectMissing, RemoteError, TransferInterrupted, UsageError
from dsreg.ids import ObjectId, hash_bytes
from dsreg.store import LocalStore, MemoryStore, ObjectStore, OverlayStore, open_store


@dataclass
class Backend:
    name: str
    make: Callable[[object, object], ObjectStore]            # (tmp_path, pytest request) -> empty store
    corrupt: Callable[[ObjectStore, ObjectId], None]         # flip one bit of a stored object
    leftovers: Callable[[ObjectStore], list[str]]            # traces of unfinished writes
    kill_a_write: Callable[[ObjectStore], None] | None = None   # a write SIGKILLed before its rename


def _flip_file_bit(store: LocalStore, oid: ObjectId) -> None:
    p = store.path(oid)
    data = bytearray(p.read_bytes())
    data[len(data) // 2] ^= 0x10
    p.write_bytes(bytes(data))


def _local_leftovers(store: LocalStore) -> list[str]:
    if not store.root.exists():
        return []
    return [str(p) for p in store.root.rglob("*") if p.is_file() and not _is_object_file(store, p)]


def _is_object_file(store: LocalStore, p) -> bool:
    rel = p.relative_to(store.root).parts
    return len(rel) == 2 and len(rel[0]) == 2 and rel[0] + rel[1] in {*store.iter()}


def _flip_memory_bit(store: MemoryStore, oid: ObjectId) -> None:
    data = bytearray(store.objects[oid])
    data[len(data) // 2] ^= 0x10
    store.objects[oid] = bytes(data)


def _make_s3(tmp, request):
    from dsreg.store.s3 import S3Store
    from helpers.s3 import new_bucket
    endpoint = request.getfixturevalue("s3_endpoint")
    return S3Store(f"s3://{new_bucket(endpoint)}/some/prefix", endpoint)


def _flip_s3_bit(store, oid: ObjectId) -> None:
    key = store.object_key(oid)
    data = bytearray(store.client.get_object(Bucket=store.bucket, Key=key)["Body"].read())
    data[len(data) // 2] ^= 0x10
    store.client.put_object(Bucket=store.bucket, Key=key, Body=bytes(data))


def _make_overlay(tmp, request):
    # a registry's store: here, one source that holds nothing (the overlay's own tests
    # below give it sources that do)
    return OverlayStore(tmp / "objects", lambda: [MemoryStore()])


def _kill_a_file_write(store: LocalStore) -> None:
    """Another process writes an object into the same folder and is SIGKILLed between its
    fsynced temp file and the rename, as tests/test_crash.py does."""
    code = f"from dsreg.store import LocalStore; LocalStore({str(store.root)!r}).put(b'killed halfway')"
    env = {**os.environ, "DSREG_CRASH_AT": "object.write.temp:1", "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True)
    assert done.returncode == -9, done.stderr


BACKENDS = [
    Backend("local", lambda tmp, request: LocalStore(tmp / "objects"), _flip_file_bit, _local_leftovers,
            _kill_a_file_write),
    Backend("overlay", _make_overlay, _flip_file_bit, _local_leftovers, _kill_a_file_write),
    Backend("memory", lambda tmp, request: MemoryStore(), _flip_memory_bit, lambda store: []),
    Backend("s3", _make_s3, _flip_s3_bit, lambda store: []),     # moto's server, over HTTP
]


@pytest.fixture(params=BACKENDS, ids=[b.name for b in BACKENDS])
def backend(request) -> Backend:
    return request.param


@pytest.fixture
def store(backend, tmp_path, request) -> ObjectStore:
    return backend.make(tmp_path, request)


PAYLOADS = [b"", b"x", b"hello world\n", bytes(range(256)) * 1000, os.urandom(3 << 20)]


@pytest.mark.parametrize("data", PAYLOADS, ids=["empty", "1B", "text", "256KB", "3MB"])
def test_put_get_round_trip(store, data):
    oid, new = store.put(data)
    assert new is True
    assert oid == hash_bytes(data)
    assert store.get(oid) == data
    assert store.has(oid)
    assert store.size(oid) == len(data)


def test_put_is_idempotent_and_never_rewrites(store):
    writes = []
    real_write = store.write_raw

    def spy(oid, data):
        writes.append(oid)
        real_write(oid, data)

    store.write_raw = spy
    oid1, new1 = store.put(b"same bytes")
    oid2, new2 = store.put(b"same bytes")
    oid3, new3 = store.put(bytearray(b"same bytes"))
    assert new1 is True and new2 is False and new3 is False
    assert oid1 == oid2 == oid3
    assert writes == [oid1]
    assert list(store.iter()) == [oid1]


def test_has_and_has_many(store):
    a, _ = store.put(b"a")
    b, _ = store.put(b"b")
    absent = hash_bytes(b"never stored")
    assert store.has(a) and store.has(b) and not store.has(absent)
    assert store.has_many([a, b, absent]) == {a, b}
    assert store.has_many([]) == set()
    assert store.has_many(iter([absent])) == set()


def test_iter_lists_every_object_once(store):
    assert list(store.iter()) == []
    ids = {store.put(f"object {i}".encode())[0] for i in range(30)}
    store.put(b"object 7")                      # again: still listed once
    listed = list(store.iter())
    assert len(listed) == len(set(listed)) == 30
    assert set(listed) == ids


def test_delete(store):
    a, _ = store.put(b"a")
    b, _ = store.put(b"b")
    store.delete(a)
    assert not store.has(a) and store.has(b)
    assert list(store.iter()) == [b]
    with pytest.raises(ObjectMissing):
        store.get(a)
    store.delete(a)                             # deleting what is gone is not an error
    assert store.put(b"a") == (a, True)         # and it can be stored again
    assert store.get(a) == b"a"


def test_missing_object(store):
    absent = hash_bytes(b"never stored")
    with pytest.raises(ObjectMissing) as e:
        store.get(absent)
    assert e.value.object_id == absent
    assert e.value.message == f"object {absent} is missing from {store.where or 'the local store'}"
    with pytest.raises(ObjectMissing):
        store.size(absent)


def test_an_object_missing_from_a_folder_remote_names_the_remote(tmp_path):
    from dsreg.remote.backends import open_remote
    (tmp_path / "remote").mkdir()
    remote = open_remote(f"file://{tmp_path / 'remote'}")
    absent = hash_bytes(b"never stored")
    for read in (remote.objects.get, remote.objects.size):
        with pytest.raises(ObjectMissing) as e:
            read(absent)
        assert e.value.message == f"object {absent} is missing from file://{tmp_path / 'remote'}"
        assert "fsck --remote" in e.value.hint


def test_put_missing_stores_without_asking_and_never_damages_a_copy(store, backend):
    """What push uses for objects has_many just reported absent: no existence check first."""
    asked = []
    real_has = store.has
    store.has = lambda oid: asked.append(oid) or real_has(oid)
    data = os.urandom(5000)
    oid = store.put_missing(data)
    assert oid == hash_bytes(data) and asked == []
    assert store.get(oid) == data
    assert store.put_missing(data) == oid           # there already (a racing pusher): still good
    assert store.get(oid) == data and list(store.iter()) == [oid]
    assert backend.leftovers(store) == []


def test_s3_multipart_upload_round_trips_and_never_overwrites(tmp_path, request, monkeypatch):
    """Objects over DSREG_S3_MULTIPART_THRESHOLD go up in parts, completed with
    If-None-Match: * so that an object already there is never replaced."""
    import time
    monkeypatch.setenv("DSREG_S3_MULTIPART_THRESHOLD", str(1 << 20))
    monkeypatch.setenv("DSREG_S3_PART_SIZE", str(5 << 20))
    store = _make_s3(tmp_path, request)
    data = os.urandom((11 << 20) + 123)
    oid, new = store.put(data)
    assert new and oid == hash_bytes(data)
    head = store.client.head_object(Bucket=store.bucket, Key=store.object_key(oid))
    assert head["ETag"].strip('"').endswith("-3") and head["ContentLength"] == len(data)     # three parts
    checked = store.client.head_object(Bucket=store.bucket, Key=store.object_key(oid), ChecksumMode="ENABLED")
    assert checked.get("ChecksumCRC32"), checked     # sent per part and named at completion, as AWS wants
    assert store.get(oid) == data                                                           # verified
    time.sleep(1.1)                         # LastModified has whole seconds
    assert store.put_missing(data) == oid   # asks nothing first; the conditional completion refuses
    again = store.client.head_object(Bucket=store.bucket, Key=store.object_key(oid))
    assert again["LastModified"] == head["LastModified"]
    assert store.client.list_multipart_uploads(Bucket=store.bucket).get("Uploads", []) == []  # none left open
    _flip_s3_bit(store, oid)
    with pytest.raises(ChecksumMismatch):
        store.get(oid)


def test_corrupt_bytes_raise_and_are_never_returned(store, backend):
    data = os.urandom(10_000)
    oid, _ = store.put(data)
    backend.corrupt(store, oid)
    for _ in range(2):                          # a failed read leaves nothing cached
        with pytest.raises(ChecksumMismatch) as e:
            store.get(oid)
        assert e.value.expected == oid
        assert e.value.got != oid
    assert store.has(oid)                       # still there: for fsck to find


MALFORMED = [
    "../x", "ab/../../etc", "ab/../../etc/passwd", "/etc/passwd", "..", "",
    "A" * 32, "0123456789ABCDEF0123456789abcdef", "0" * 31, "0" * 33, "0" * 64,
    "g" * 32, "0" * 30 + "/x", "0" * 31 + "\n", "0" * 31 + "\x00", " " + "0" * 31,
]


@pytest.mark.parametrize("bad", MALFORMED)
def test_malformed_ids_are_refused(store, bad):
    for call in (store.has, store.get, store.delete, store.size, lambda o: store.has_many([o])):
        with pytest.raises(UsageError, match="malformed object id"):
            call(bad)


def test_malformed_ids_never_touch_a_path(tmp_path, monkeypatch):
    """Refused before any filesystem call, so nothing outside the store is read or removed."""
    store = LocalStore(tmp_path / "objects")
    canary = tmp_path / "canary"
    canary.write_text("keep me")
    touched = []

    def trap(name, real):
        def wrapper(*a, **kw):
            touched.append((name, a))
            return real(*a, **kw)
        return wrapper

    for name in ("stat", "lstat", "unlink", "open", "utime"):
        monkeypatch.setattr(os, name, trap(name, getattr(os, name)))
    monkeypatch.setattr(io, "open", trap("io.open", io.open))
    for bad in ["../canary", "ab/../../canary", str(canary), "..canary" + "0" * 24]:
        for call in (store.has, store.get, store.delete, store.size):
            with pytest.raises(UsageError):
                call(bad)
    monkeypatch.undo()
    assert touched == []
    assert canary.read_text() == "keep me"


def test_writes_leave_no_temp_files(store, backend):
    for i in range(20):
        store.put(os.urandom(1000 + i))
    assert backend.leftovers(store) == []


def test_failed_write_leaves_nothing(tmp_path, monkeypatch):
    store = LocalStore(tmp_path / "objects")

    def boom(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        store.put(b"doomed")
    monkeypatch.undo()
    assert not store.has(hash_bytes(b"doomed"))
    assert list(store.iter()) == []
    assert _local_leftovers(store) == []


def test_concurrent_puts_of_the_same_object(store, backend):
    data = os.urandom(2 << 20)
    oid = hash_bytes(data)
    barrier = threading.Barrier(16)

    def put(_):
        barrier.wait()
        return store.put(data)

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(put, range(16)))
    assert {r[0] for r in results} == {oid}
    assert any(new for _, new in results)
    assert store.get(oid) == data
    assert list(store.iter()) == [oid]
    assert backend.leftovers(store) == []


def test_readers_never_see_a_partial_object(store):
    data = os.urandom(4 << 20)
    oid = hash_bytes(data)
    stop = threading.Event()
    seen, errors = [], []

    def read():
        while not stop.is_set():
            try:
                seen.append(store.get(oid) == data)
            except ObjectMissing:
                pass
            except Exception as e:  # noqa: BLE001 - reported below, not lost in the thread
                errors.append(e)

    readers = [threading.Thread(target=read) for _ in range(4)]
    for t in readers:
        t.start()
    try:
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda _: store.put(data), range(8)))
        for _ in range(5):
            store.get(oid)
    finally:
        stop.set()
        for t in readers:
            t.join()
    assert errors == []
    assert all(seen)


def test_concurrent_puts_of_different_objects(store, backend):
    blobs = [os.urandom(5000) for _ in range(64)]
    with ThreadPoolExecutor(16) as pool:
        ids = list(pool.map(lambda b: store.put(b)[0], blobs))
    assert set(store.iter()) == set(ids)
    for oid, blob in zip(ids, blobs):
        assert store.get(oid) == blob
    assert backend.leftovers(store) == []


def test_open_store_by_url(tmp_path):
    assert isinstance(open_store("memory://"), MemoryStore)
    local = open_store(f"file://{tmp_path}/objs")
    assert isinstance(local, LocalStore) and local.root == tmp_path / "objs"
    assert isinstance(open_store(str(tmp_path)), LocalStore)
    with pytest.raises(UsageError):
        open_store("ftp://example.com/x")


def test_s3_writes_and_reads_are_tried_again_when_botocore_gives_up(tmp_path, request, monkeypatch):
    """botocore stops retrying once its retry quota, shared by every thread, runs dry on a
    bad link; an object write or read (idempotent) is then tried again by the store."""
    from dsreg.store import s3
    store = _make_s3(tmp_path, request)
    monkeypatch.setattr(s3.time, "sleep", lambda _: None)
    calls = {"put": 0, "get": 0}

    def flaky(name, original):
        def call(*a, **kw):
            calls[name] += 1
            if calls[name] <= s3.TRANSFER_ATTEMPTS - 2:
                raise TransferInterrupted(f"{name} broke off", "check your network")
            return original(*a, **kw)
        return call
    monkeypatch.setattr(store, "_write_once", flaky("put", store._write_once))
    oid, _ = store.put(b"some bytes")
    assert calls["put"] == s3.TRANSFER_ATTEMPTS - 1
    monkeypatch.setattr(store, "read_raw", flaky("get", store.read_raw))
    assert store.get(oid) == b"some bytes" and calls["get"] == s3.TRANSFER_ATTEMPTS - 1
    calls["put"] = -10                                   # more failures than attempts: the error stands
    with pytest.raises(TransferInterrupted):
        store.put(b"other bytes")
    assert calls["put"] == -10 + s3.TRANSFER_ATTEMPTS


def test_s3_object_write_that_meets_a_conflicting_write_is_tried_again(tmp_path, request):
    """409 ConditionalRequestConflict on an object PUT says another write of the key was in
    progress, not that the object exists: the store writes it again rather than assume so."""
    from dsreg.store.s3 import S3Store
    from helpers.faultproxy import FaultProxy
    from helpers.s3 import new_bucket
    endpoint = request.getfixturevalue("s3_endpoint")
    bucket = new_bucket(endpoint)
    with FaultProxy(endpoint) as proxy:
        conflicts = []

        def once(method, path):
            if method == "PUT" and "/objects/" in path and not conflicts:
                conflicts.append(path)
                return "409"
            return None
        proxy.rule = once
        oid, _ = S3Store(f"s3://{bucket}/p", proxy.url).put(b"written despite the conflict")
    assert conflicts
    assert S3Store(f"s3://{bucket}/p", endpoint).get(oid) == b"written despite the conflict"


# -- restore, prefetch, ranges and the local view: every backend ------------------------
def test_read_raw_returns_what_is_stored_unverified_and_fetches_nothing(store, backend):
    data = os.urandom(10_000)
    oid, _ = store.put(data)
    assert store.read_raw(oid) == data
    backend.corrupt(store, oid)
    damaged = store.read_raw(oid)               # what fsck needs to say "its bytes hash to ..."
    assert damaged != data and len(damaged) == len(data) and hash_bytes(damaged) != oid
    absent = hash_bytes(b"never stored")
    with pytest.raises(ObjectMissing):
        store.read_raw(absent)
    with pytest.raises(UsageError, match="malformed object id"):
        store.read_raw("../x")


def test_restore_replaces_a_damaged_copy_with_verified_bytes_only(store, backend):
    data = os.urandom(10_000)
    oid, _ = store.put(data)
    backend.corrupt(store, oid)
    damaged = store.read_raw(oid)
    with pytest.raises(ChecksumMismatch):
        store.restore(oid, data[:-1])           # bytes that are not the object: refused
    assert store.read_raw(oid) == damaged       # and nothing changed
    store.restore(oid, data)
    assert store.get(oid) == data and list(store.iter()) == [oid]
    store.delete(oid)
    store.restore(oid, bytearray(data))         # a missing copy is restored too
    assert store.get(oid) == data
    with pytest.raises(UsageError, match="malformed object id"):
        store.restore("../x", data)
    assert backend.leftovers(store) == []


def test_prefetch_is_a_hint_that_changes_no_result(store):
    data = os.urandom(5000)
    oid, _ = store.put(data)
    absent = hash_bytes(b"never stored")
    store.prefetch([])
    store.prefetch([oid, absent, oid])
    assert store.get(oid) == data
    with pytest.raises(ObjectMissing):
        store.get(absent)
    assert not store.has(absent) and list(store.iter()) == [oid]


@pytest.mark.parametrize("start,length", [(0, 1), (0, 10_000), (1234, 100), (9_990, 10), (5000, 0)])
def test_read_range(store, start, length):
    data = os.urandom(10_000)
    oid, _ = store.put(data)
    assert store.read_range(oid, start, length) == data[start:start + length]
    with pytest.raises(ObjectMissing):
        store.read_range(hash_bytes(b"never stored"), 0, 1)


def test_the_local_view(store, backend):
    """A store that keeps files here names each object's file (gc's grace period reads its
    time, which `put` of an existing object refreshes); one that keeps none names none."""
    data = os.urandom(5000)
    oid, _ = store.put(data)
    path = store.local_path(oid)
    with pytest.raises(UsageError, match="malformed object id"):
        store.local_path("../x")
    if backend.kill_a_write is None:
        assert path is None
        return
    assert path.read_bytes() == data
    old = time.time() - 7200
    os.utime(path, (old, old))
    assert store.put(data) == (oid, False)
    assert path.stat().st_mtime > time.time() - 60          # young again: gc spares it
    assert store.local_path(hash_bytes(b"never stored")) is not None     # where it would be


def test_leftovers_are_the_traces_of_killed_writes(store, backend):
    oid, _ = store.put(b"kept")
    assert store.leftovers() == []
    if backend.kill_a_write is None:
        return                                  # nothing of this store is on local disk
    backend.kill_a_write(store)
    left = store.leftovers()
    assert len(left) == 1 and left[0].is_file() and left[0].read_bytes() == b"killed halfway"
    assert list(store.iter()) == [oid]          # never an object
    assert not store.has(hash_bytes(b"killed halfway"))
    left[0].unlink()                            # what gc does once it is old
    assert store.leftovers() == [] and store.get(oid) == b"kept"


# -- the overlay: a local store that reads through to other stores ----------------------
class _Counting(MemoryStore):
    def __init__(self, *blobs: bytes):
        super().__init__()
        self.gets: list[ObjectId] = []
        for b in blobs:
            self.put(b)

    def get(self, oid):
        self.gets.append(oid)
        return super().get(oid)


class _Unreachable(MemoryStore):
    where = "s3://unreachable"

    def get(self, oid):
        raise RemoteError("cannot reach s3://unreachable")


def test_overlay_fetches_a_missing_object_from_the_first_source_that_has_it(tmp_path):
    data = os.urandom(5000)
    oid = hash_bytes(data)
    first, second = _Counting(), _Counting(data)
    asked = []
    store = OverlayStore(tmp_path / "objects", lambda: asked.append(1) or [first, second])
    assert asked == []                          # opening it reaches no source
    assert store.get(oid) == data
    assert first.gets == [oid] and second.gets == [oid]
    assert store.has(oid) and store.read_raw(oid) == data     # kept, verified
    assert store.get(oid) == data and second.gets == [oid]    # and read here from now on
    with pytest.raises(ObjectMissing) as e:
        store.get(hash_bytes(b"nowhere"))
    assert e.value.message.endswith("missing from the local store")


def test_overlay_repairs_a_damaged_copy_from_a_source(tmp_path):
    data = os.urandom(5000)
    source = _Counting(data)
    store = OverlayStore(tmp_path / "objects", lambda: [source])
    oid, _ = store.put(data)
    _flip_file_bit(store, oid)
    assert store.get(oid) == data
    assert hash_bytes(store.path(oid).read_bytes()) == oid
    assert _local_leftovers(store) == []


def test_overlay_never_returns_bad_bytes(tmp_path):
    data = os.urandom(5000)
    oid = hash_bytes(data)
    damaged = MemoryStore()
    damaged.objects[oid] = data[:-1]            # the only copy out there is bad
    store = OverlayStore(tmp_path / "objects", lambda: [_Counting(), damaged])
    with pytest.raises(ChecksumMismatch):
        store.get(oid)
    assert not store.has(oid)                   # and it was not kept
    good = OverlayStore(tmp_path / "objects", lambda: [damaged, _Counting(data)])
    assert good.get(oid) == data                # a later source's good copy wins


def test_overlay_source_errors(tmp_path):
    """An unreachable source fails a read that needs it; a repair tries the next one."""
    data = os.urandom(5000)
    oid = hash_bytes(data)
    store = OverlayStore(tmp_path / "objects", lambda: [_Unreachable(), _Counting(data)])
    with pytest.raises(RemoteError):
        store.get(oid)
    store.restore(oid, data)
    _flip_file_bit(store, oid)
    assert store.get(oid) == data


def test_overlay_prefetch_downloads_in_the_background_once(tmp_path):
    blobs = [os.urandom(3000 + i) for i in range(20)]
    source = _Counting(*blobs)
    store = OverlayStore(tmp_path / "objects", lambda: [source])
    here, _ = store.put(b"already here")
    ids = [hash_bytes(b) for b in blobs]
    store.prefetch(ids + [here, hash_bytes(b"nowhere")])
    for oid, blob in zip(ids, blobs):
        assert store.get(oid) == blob           # waits for its download, if still running
    assert sorted(source.gets) == sorted(ids + [hash_bytes(b"nowhere")])   # each fetched once
    assert set(store.iter()) == {*ids, here}
    assert _local_leftovers(store) == []


# -- atomic writes: the one way any file is replaced -----------------------------------
def test_write_atomic_replaces_whole_files(tmp_path):
    from dsreg.store.atomic import copy_atomic, write_atomic
    target = tmp_path / "a" / "b" / "config.json"
    write_atomic(target, b"first")                  # folders made on the way
    assert target.read_bytes() == b"first" and target.stat().st_mode & 0o777 == 0o600
    old_umask = os.umask(0o022)
    try:
        write_atomic(target, lambda f: f.write(b"second"), mode=0o666)
    finally:
        os.umask(old_umask)
    assert target.read_bytes() == b"second" and target.stat().st_mode & 0o777 == 0o644
    big = tmp_path / "big"
    big.write_bytes(os.urandom(3 << 20))
    copy_atomic(big, tmp_path / "a" / "copy")
    assert (tmp_path / "a" / "copy").read_bytes() == big.read_bytes()
    assert sorted(p.name for p in target.parent.iterdir()) == ["config.json"]


def test_a_failed_atomic_write_leaves_the_old_file_and_no_temp(tmp_path, monkeypatch):
    from dsreg.store.atomic import write_atomic
    target = tmp_path / "ref"
    target.write_bytes(b"old")

    def full_disk(f):
        f.write(b"half")
        raise OSError(28, "No space left on device")
    with pytest.raises(OSError):
        write_atomic(target, full_disk)
    monkeypatch.setattr(os, "replace", lambda src, dst: full_disk(io.BytesIO()))
    with pytest.raises(OSError):
        write_atomic(target, b"new")
    monkeypatch.undo()
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["ref"]


def test_a_write_killed_before_its_rename_leaves_the_old_file_whole(tmp_path):
    target = tmp_path / "ref"
    target.write_bytes(b"old")
    code = ("from dsreg.store.atomic import write_atomic; "
            f"write_atomic({str(target)!r}, b'new', before_rename='test.rename')")
    env = {**os.environ, "DSREG_CRASH_AT": "test.rename:1", "PYTHONPATH": os.pathsep.join(sys.path)}
    assert subprocess.run([sys.executable, "-c", code], env=env).returncode == -9
    left = sorted(p.name for p in tmp_path.iterdir())
    assert target.read_bytes() == b"old" and len(left) == 2 and left[0].startswith(".tmp-")
    assert (tmp_path / left[0]).read_bytes() == b"new"     # complete, for nobody: gc removes it
