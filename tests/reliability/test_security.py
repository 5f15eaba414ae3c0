"""Security: no secret in any output or file; no name, id or remote content can make dsreg
read or write outside the registry or the remote's prefix; nothing from a remote is used
unverified."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import boto3
import pytest
from click.testing import CliRunner

import dsreg
from dsreg.cli import cli
from dsreg.errors import ChecksumMismatch, DsregError
from dsreg.ids import hash_bytes
from dsreg.model.serialize import canonical_json
from dsreg.remote import transfer
from helpers.reliability import record, tree_hash
from helpers.s3 import new_bucket
from helpers.tables import make_table

FAKE_ID = "AKIADSREGFAKEKEY7777"
FAKE_SECRET = "dsreg/FAKE+secret/never-print-me/0123456789abcd"


def _all_bytes(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())


def _invoke(args, env=None):
    r = CliRunner().invoke(cli, args, env=env)
    return r.exit_code, r.stdout + r.stderr


# -- credentials ---------------------------------------------------------------------
def test_no_credential_reaches_output_debug_output_or_the_registry(registry, tmp_path, s3_endpoint, s3_auth,
                                                                   monkeypatch):
    """Distinctive fake keys (which moto's plain server accepts, so whole pushes and clones
    run with them), keys moto's checking server refuses, and read-only keys: every
    command's output, with and without --debug, and every file under .dsreg is searched."""
    from helpers.faultproxy import FaultProxy
    monkeypatch.setenv("DSREG_S3_MAX_ATTEMPTS", "1")
    rw = s3_auth["rw"]
    secrets = [FAKE_ID, FAKE_SECRET, *rw.values()]
    fake = {"AWS_ACCESS_KEY_ID": FAKE_ID, "AWS_SECRET_ACCESS_KEY": FAKE_SECRET}
    auth, root = s3_auth["endpoint"], str(registry.root)
    bucket = new_bucket(s3_endpoint)
    registry.commit("ds", make_table(300), message="v1")
    registry.close()
    proxy = FaultProxy(s3_endpoint).__enter__()
    proxy.deny_writes = True
    output = []
    setup = [(["remote", "add", "origin", f"s3://{bucket}/sec", "--endpoint-url", s3_endpoint], fake, 0),
             (["push", "origin"], fake, 0),
             (["clone", f"s3://{bucket}/sec", str(tmp_path / "clone"), "--endpoint-url", s3_endpoint], fake, 0),
             (["remote", "add", "auth", f"s3://{bucket}/sec", "--endpoint-url", auth, "--check"], fake, 1),
             (["remote", "add", "readonly", f"s3://{bucket}/sec", "--endpoint-url", proxy.url], fake, 0)]
    failing = [
        (["commit", "ds", "nothing.parquet"], fake, 1),
        (["push", "readonly"], fake, 1),
        (["fetch", "origin"], {**fake, "AWS_ACCESS_KEY_ID": ""}, 1),
        (["remote", "add", "x", "s3://authbucket/sec", "--endpoint-url", auth, "--check"], fake, 1),
        (["remote", "add", "x", "s3://authbucket/sec", "--endpoint-url", auth, "--check"],
         {**rw, "AWS_SECRET_ACCESS_KEY": FAKE_SECRET}, 1),
        (["remote", "add", "y", "s3://no-such-bucket/x", "--endpoint-url", s3_endpoint], fake, 1),
        (["remote", "add", "z", "s3://b/x", "--endpoint-url", "http://127.0.0.1:9", "--check"], fake, 1),
        (["remote", "add", "w", f"s3://{FAKE_ID}:{FAKE_SECRET}@bucket/x"], fake, 2),
        (["remote", "add", "v", "s3://b/x", "--endpoint-url", f"http://{FAKE_ID}:{FAKE_SECRET}@127.0.0.1:9"],
         fake, 2),
        (["clone", "s3://authbucket/sec", str(tmp_path / "clone2"), "--endpoint-url", auth], fake, 1),
        (["clone", f"s3://{FAKE_ID}:{FAKE_SECRET}@authbucket/sec", str(tmp_path / "clone3")], fake, 2),
    ]
    for args, env, code in setup:
        got, out = _invoke(["--registry", root, "--debug", *args], env)
        assert got == code, (args, out)
        output.append(out)
    for args, env, code in failing:
        for debug in ([], ["--debug"]):
            got, out = _invoke(["--registry", root, *debug, *args], env)
            assert got == code, (args, out)
            output.append(out)
    # real processes too, with --debug: nothing from botocore's logging either
    env = dict(os.environ, **fake, DSREG_S3_MAX_ATTEMPTS="1")
    for args, code in ((["fetch", "origin"], 0), (["push", "readonly"], 1)):
        p = subprocess.run([sys.executable, "-m", "dsreg.cli", "--registry", root, "--debug", *args],
                           capture_output=True, text=True, env=env, timeout=120)
        assert p.returncode == code, p.stderr
        output.append(p.stdout + p.stderr)
    proxy.__exit__(None, None, None)
    text = "\n".join(output)
    assert "Traceback" in text                          # --debug did show tracebacks
    files = _all_bytes(registry.root / ".dsreg") + b"".join(
        _all_bytes(tmp_path / d / ".dsreg") for d in ("clone", "clone-debug") if (tmp_path / d).exists())
    for secret in secrets:
        assert secret not in text, secret
        assert secret.encode() not in files, secret
    record("security", scenario="credentials", commands=len(output), secrets_checked=len(secrets), leaked=0)


def test_debug_tracebacks_are_redacted_whatever_raised(registry, monkeypatch):
    """Even an exception that carries a secret in its text (say, from a library) prints
    without it, traceback and all."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", FAKE_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", FAKE_SECRET)
    import dsreg.porcelain as porcelain

    def leaky(*a, **kw):
        raise RuntimeError(f"signing failed for {FAKE_ID} with {FAKE_SECRET} at s3://{FAKE_ID}:{FAKE_SECRET}@b/x")
    monkeypatch.setattr(porcelain, "ls", leaky)
    for debug in ([], ["--debug"]):
        code, out = _invoke([*debug, "ls"])
        assert code == 1 and FAKE_ID not in out and FAKE_SECRET not in out and "***" in out, out
    assert "Traceback" in out


@pytest.mark.parametrize("url,endpoint,says", [
    (f"file://user:pa'{FAKE_SECRET}@/tmp/x", None, "must not hold credentials"),
    (f'file://user:"{FAKE_SECRET}"@/tmp/x', None, "must not hold credentials"),
    (f"file://{FAKE_ID}:{FAKE_SECRET} x@/tmp/x", None, "must not hold credentials"),
    (f"s3://bucket/x?secret={FAKE_SECRET}", None, "query string"),
    (f"s3://bucket/x?X-Amz-Credential={FAKE_ID}", None, "query string"),
    (f"s3://bucket/x#{FAKE_SECRET}", None, "query string"),
    (f"file:///tmp/x?token={FAKE_SECRET}", None, "query string"),
    ("s3://bucket/x", f"http://127.0.0.1:9/?X-Amz-Security-Token={FAKE_SECRET}", "query string"),
])
def test_urls_carrying_secrets_are_refused_without_printing_them(registry, tmp_path, url, endpoint, says):
    """Credentials and query strings in a remote URL or endpoint: refused (exit 2) by
    remote add, clone and load(remote=), before anything could store or print them."""
    registry.close()
    before = tree_hash(registry.dir)
    extra = ["--endpoint-url", endpoint] if endpoint else []
    for args in (["--registry", str(registry.root), "remote", "add", "x", url, *extra],
                 ["clone", url, str(tmp_path / "c"), *extra]):
        for debug in ([], ["--debug"]):
            code, out = _invoke([*debug, *args])
            assert code == 2 and says in out.splitlines()[-1], out
            assert debug or (out.startswith("Error: ") and out.count("\n") == 1), out
            assert FAKE_SECRET not in out and FAKE_ID not in out, out
    assert not (tmp_path / "c").exists()
    assert tree_hash(registry.dir) == before
    with pytest.raises(DsregError, match=says) as e:
        dsreg.load("ds", remote=url, endpoint_url=endpoint)
    assert FAKE_SECRET not in str(e.value)


def test_redaction_covers_passwords_holding_quotes():
    from dsreg.redact import has_userinfo, redact
    for text in (f"file://u:pa'{FAKE_SECRET}@/x", f"see 's3://u:a\"b{FAKE_SECRET}@bucket/x' here"):
        assert FAKE_SECRET not in redact(text), redact(text)
    assert has_userinfo("file://u:pa'ss@/x") and has_userinfo("file://user@/x")
    assert not has_userinfo("file:///tmp/a@b") and not has_userinfo("s3://bucket/team@x")


# -- paths: names, ids and remote contents ------------------------------------------
def _folder_remote(tmp_path):
    folder = tmp_path / "evil"
    (folder / "objects").mkdir(parents=True)
    return folder


def _put(folder: Path, data: bytes) -> str:
    oid = hash_bytes(data)
    p = folder / "objects" / oid[:2] / oid[2:]
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)
    return oid


def _ref(folder: Path, dataset: str, name: str, commit: str, kind: str = "branch") -> None:
    p = folder / "refs" / f"{dataset}@{kind}" / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps({"commit": commit}))


def _commit_doc(**over) -> bytes:
    doc = {"format": "dsreg-commit-1", "dataset": "ds", "parents": [], "splits": {}, "message": "m",
           "author": "a", "timestamp": 0, "metadata": {}}
    doc.update(over)
    return canonical_json(doc)


MALICIOUS = {
    "snapshot id ../": dict(splits={"train": "../../../../../tmp/dsreg-escape"}),
    "snapshot id absolute": dict(splits={"train": "/etc/passwd"}),
    "parent id ../": dict(parents=["../" * 8 + "x"]),
    "split name ../": dict(splits={"../../escape": "0" * 32}),
    "split name absolute": dict(splits={"/tmp/dsreg-escape": "0" * 32}),
    "dataset name ../": dict(dataset="../x"),
    "dataset name with a bidi override": dict(dataset="d\u202es"),
    "dataset name too long": dict(dataset="d" * 201),
    "split name with a zero-width space": dict(splits={"tr\u200bain": "0" * 32}),
}


@pytest.mark.parametrize("what", sorted(MALICIOUS))
def test_a_malicious_commit_on_a_remote_is_refused(registry, tmp_path, what):
    evil = _folder_remote(tmp_path)
    cid = _put(evil, _commit_doc(**MALICIOUS[what]))
    _ref(evil, "ds", "main", cid)
    transfer.add_remote(registry, "evil", f"file://{evil}")
    registry.close()
    before = tree_hash(registry.dir)
    for args in (["fetch", "evil"], ["pull", "evil", "ds"]):
        code, out = _invoke(["--registry", str(registry.root), *args])
        assert code == 1 and out.startswith("Error: ") and out.count("\n") == 1, out
        assert "malformed" in out or "invalid" in out, out
    code, out = _invoke(["clone", f"file://{evil}", str(tmp_path / "c")])
    assert code == 1 and not (tmp_path / "c").exists()
    assert tree_hash(registry.dir) == before
    assert not Path("/tmp/dsreg-escape").exists() and not (tmp_path / "escape").exists()


def test_a_malicious_snapshot_on_a_remote_is_refused(registry, tmp_path):
    import base64
    import zlib

    import pyarrow as pa
    evil = _folder_remote(tmp_path)
    schema = pa.schema([("a", pa.int64())]).serialize().to_pybytes()
    snap = b"DSRGSNP1" + zlib.compress(canonical_json({
        "format": "dsreg-snapshot-1", "schema": base64.b64encode(schema).decode(),
        "shards": [["../../../../tmp/dsreg-escape-shard", "0" * 32, 1, 10, None]], "runs": [[0, 0, 1]]}))
    sid = _put(evil, snap)
    cid = _put(evil, _commit_doc(splits={"train": sid}))
    _ref(evil, "ds", "main", cid)
    transfer.add_remote(registry, "evil", f"file://{evil}")
    with pytest.raises(DsregError, match="malformed object id"):
        transfer.fetch(registry, "evil")
    with pytest.raises(DsregError, match="malformed object id"):
        dsreg.load("ds", remote=f"file://{evil}")
    assert not Path("/tmp/dsreg-escape-shard").exists()


def test_malformed_remote_refs_are_refused_or_ignored(registry, tmp_path, s3_endpoint):
    registry.commit("ds", make_table(100), message="v1")
    bucket = new_bucket(s3_endpoint)
    transfer.add_remote(registry, "origin", f"s3://{bucket}/team", s3_endpoint)
    transfer.push(registry)
    s3 = boto3.client("s3", endpoint_url=s3_endpoint)
    head = registry.resolve("ds")
    # ref keys that would name a file outside, or nothing dsreg could have written: ignored
    for key in ("team/refs/ds@branch/../../../../etc/passwd", "team/refs/../x@branch/main",
                "team/refs/ds@branch/.hidden", "team/refs/ds@weird/main", "team/refs/ds@branch/a\x01b"):
        s3.put_object(Bucket=bucket, Key=key, Body=json.dumps({"commit": head}).encode())
    other, fetched = dsreg.Registry.clone(f"s3://{bucket}/team", tmp_path / "c", s3_endpoint)
    assert [(r["dataset"], r["name"]) for r in fetched.refs] == [("ds", "main")]
    other.close()
    # a ref whose content names something that is not a commit id: a clear error
    for bad in ({"commit": "../../x"}, {"commit": 5}, {}, "not json"):
        s3.put_object(Bucket=bucket, Key="team/refs/ds@branch/dev",
                      Body=(bad if isinstance(bad, str) else json.dumps(bad)).encode())
        with pytest.raises(DsregError, match="malformed"):
            transfer.fetch(registry, "origin")
    assert registry.fsck().ok


def test_ids_and_names_never_become_paths_outside(registry, tmp_path):
    """Every malformed id is refused before it touches the filesystem (see also
    test_store.py); every bad name before it reaches the manifest."""
    from dsreg.errors import UsageError
    canary = tmp_path / "canary"
    canary.write_text("keep")
    for bad in ("../canary", "/" + str(canary), "..", "ab/../../x", "0" * 31 + "/"):
        for call in (registry.store.has, registry.store.get, registry.store.delete):
            with pytest.raises(UsageError):
                call(bad)
    for name in ("../x", "/abs", "a/../b", "-x", "a\nb", "a@{1}", ""):
        with pytest.raises(UsageError):
            registry.commit(name, make_table(5))
    assert canary.read_text() == "keep"
    assert registry.manifest.datasets() == []


# -- verification of everything that comes from a remote -----------------------------
def test_every_read_path_from_a_remote_verifies(registry, tmp_path, s3_endpoint, monkeypatch):
    """Clone (metadata), on-demand reads, pull, registry-less loads of whole splits and of
    single columns (range reads): each refuses bytes that do not match their id."""
    monkeypatch.setenv("DSREG_S3_MAX_ATTEMPTS", "1")
    monkeypatch.setenv("DSREG_CACHE", str(tmp_path / "cache"))
    t = make_table(20_000)
    registry.commit("ds", t, message="v1")
    bucket = new_bucket(s3_endpoint)
    url = f"s3://{bucket}/team"
    transfer.add_remote(registry, "origin", url, s3_endpoint)
    transfer.push(registry)
    from dsreg.model.objects import get_commit, get_snapshot
    shard = get_snapshot(registry, get_commit(registry, registry.resolve("ds")).splits["train"]).shards[0].id
    s3 = boto3.client("s3", endpoint_url=s3_endpoint)
    key = f"team/objects/{shard[:2]}/{shard[2:]}"
    data = bytearray(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    for i in range(100, len(data) - 100, 97):       # damage every column chunk, not the length
        data[i] ^= 0x01
    s3.put_object(Bucket=bucket, Key=key, Body=bytes(data))
    clone, _ = dsreg.Registry.clone(url, tmp_path / "clone", s3_endpoint)
    with pytest.raises(ChecksumMismatch):
        clone.load("ds")
    with pytest.raises(ChecksumMismatch):
        transfer.pull(clone, "origin", "ds@main")
    assert not clone.store.has(shard)
    with pytest.raises(ChecksumMismatch):
        dsreg.load("ds", remote=url, endpoint_url=s3_endpoint)
    with pytest.raises(ChecksumMismatch):
        dsreg.load("ds", remote=url, endpoint_url=s3_endpoint, columns=["label"])
    cache = tmp_path / "cache"
    for p in cache.rglob("*"):
        if p.is_file():
            assert hash_bytes(p.read_bytes()) == p.parent.name + p.name
    assert not (cache / "objects" / shard[:2] / shard[2:]).exists()
    clone.close()


# -- forged objects: checked for shape before anything uses them ---------------------
def _forged_snapshot(header: dict, runs: bytes | None = None, tail: bytes = b"") -> bytes:
    """A version-2 snapshot object with this header and these run bytes (by default the
    header's runs, well encoded), then `tail` inside the zlib stream."""
    import zlib

    from dsreg.model.serialize import _SNAPSHOT_MAGIC
    head = canonical_json(header)
    return _SNAPSHOT_MAGIC + zlib.compress(len(head).to_bytes(4, "little") + head + (runs or b"") + tail, 9)


def _runs_bytes(triples) -> bytes:
    import numpy as np
    runs = np.asarray(triples, dtype="<i8").reshape(-1, 3)
    return np.frombuffer(runs.tobytes(), np.uint8).reshape(-1, 8).T.tobytes()


def _bomb(header: dict, runs: bytes, gib: float = 1.0) -> bytes:
    """A snapshot whose zlib stream goes on with `gib` GiB of zeros after its runs (1 MiB compressed)."""
    import zlib

    from dsreg.model.serialize import _SNAPSHOT_MAGIC
    head = canonical_json(header)
    z = zlib.compressobj(9)
    out = [z.compress(len(head).to_bytes(4, "little") + head + runs)]
    block = bytes(1 << 24)
    for _ in range(int(gib * 64)):
        out.append(z.compress(block))
    out.append(z.flush())
    return _SNAPSHOT_MAGIC + b"".join(out)


@pytest.fixture
def pushed(registry, tmp_path):
    """A registry with ds@main (one split of 50 rows) pushed to a folder remote, whose shard
    forged snapshots can name: (registry, remote folder, the snapshot's header)."""
    import base64

    from dsreg.model.objects import get_commit, get_snapshot
    registry.commit("ds", make_table(50), message="v1")
    folder = tmp_path / "evil"
    folder.mkdir()
    transfer.add_remote(registry, "evil", f"file://{folder}")
    transfer.push(registry, "evil")
    snap = get_snapshot(registry, get_commit(registry, registry.resolve("ds")).splits["train"])
    s = snap.shards[0]
    header = {"format": "dsreg-snapshot-2", "schema": base64.b64encode(snap.schema_ipc).decode(),
              "shards": [[s.id, s.fingerprints, s.rows, s.bytes, s.index]], "runs": 1}
    return registry, folder, header


def _schema_b64(schema) -> str:
    import base64
    return base64.b64encode(schema.serialize().to_pybytes()).decode()


def _forged_snapshots(header: dict) -> dict[str, tuple]:
    """{case: (a function making the snapshot's bytes, what the one error line says)}."""
    import zlib

    import pyarrow as pa
    rows = header["shards"][0][2]

    def runs(*triples, **fields):
        return lambda: _forged_snapshot({**header, "runs": len(triples), **fields}, _runs_bytes(list(triples)))

    def shard(**over):
        s = dict(zip(("id", "fp", "rows", "bytes", "index"), header["shards"][0]), **over)
        return [list(s.values())[:len(s) - over.pop("_drop", 0)]]

    deep = pa.int64()
    for _ in range(120):
        deep = pa.struct([("x", deep)])
    return {
        "shard index past the list": (runs((1, 0, rows)), "outside their shards"),
        "negative shard index": (runs((-1, 0, rows)), "outside their shards"),
        "negative start": (runs((0, -5, 5)), "outside their shards"),
        "negative count": (runs((0, 0, -(1 << 62))), "outside their shards"),
        "huge count": (runs((0, 0, 1 << 62)), "outside their shards"),
        "count overflowing start": (runs((0, (1 << 63) - 10, 20)), "outside their shards"),
        "rows past the shard": (runs((0, rows - 3, 10)), "outside their shards"),
        "empty run": (runs((0, 0, 0)), "outside their shards"),
        "shard rows huge": (runs((0, 0, rows), shards=shard(rows=1 << 62)), "a shard's rows"),
        "shard rows negative": (runs((0, 0, rows), shards=shard(rows=-1)), "a shard's rows"),
        "shard entry short": (runs((0, 0, rows), shards=[header["shards"][0][:3]]), "a shard entry"),
        "runs claim more than inflates": (lambda: _forged_snapshot({**header, "runs": 1 << 40}), "number of runs"),
        "runs fewer than claimed": (lambda: _forged_snapshot({**header, "runs": 3}, _runs_bytes([(0, 0, 1)])),
                                    "truncated"),
        "header length lies": (lambda: b"DSRGSNP2" + zlib.compress((1 << 31).to_bytes(4, "little")),
                               "inflates to more than"),
        "schema not Arrow": (runs((0, 0, rows), schema="AAAA"), "schema cannot be read"),
        "schema not base64": (runs((0, 0, rows), schema="%%%"), "malformed"),
        "schema too deep": (runs((0, 0, rows), schema=_schema_b64(pa.schema([("s", deep)]))), "levels deep"),
        "header nested 100000 deep": (lambda: _forged_raw(b"[" * 100_000), "nests too deeply"),
        "header NaN": (lambda: _forged_raw(canonical_json(header).replace(b'"runs":1', b'"runs":NaN')), "not JSON"),
        "zlib bomb after the runs": (lambda: _bomb(header, _runs_bytes([(0, 0, rows)])), "holds more than it should"),
        "zlib bomb as runs": (lambda: _bomb({**header, "runs": (1 << 30) // 24}, b""), "number of runs"),
        "trailing bytes": (lambda: runs((0, 0, rows))() + b"x", "bytes follow"),
        "version 1 bomb": (lambda: b"DSRGSNP1" + zlib.compress(b" " * (1 << 30), 9), "inflates to more than"),
    }


def _forged_raw(head: bytes) -> bytes:
    import zlib

    from dsreg.model.serialize import _SNAPSHOT_MAGIC
    return _SNAPSHOT_MAGIC + zlib.compress(len(head).to_bytes(4, "little") + head)


def _forged_commits(sid: str) -> dict[str, tuple[bytes, str]]:
    """{case: (commit bytes, what the one error line says)}."""
    deep: list = []
    for _ in range(200):
        deep = [deep]
    return {
        "timestamp 1e20": (_commit_doc(splits={"train": sid}, timestamp=10**20), "timestamp"),
        "timestamp as float": (_commit_doc(splits={"train": sid}, timestamp=1e20), "timestamp"),
        "timestamp a bool": (_commit_doc(splits={"train": sid}, timestamp=True), "timestamp"),
        "message not text": (_commit_doc(splits={"train": sid}, message=["x"]), "'message' is list"),
        "parents not a list": (_commit_doc(splits={"train": sid}, parents="abc"), "'parents' is str"),
        "metadata 200 deep": (_commit_doc(splits={"train": sid}, metadata={"x": deep}), "bounded depth"),
        "nested 100000 deep": (b"[" * 100_000 + b"]" * 100_000, "nests too deeply"),
        "not an object": (b"[1, 2]", "expected a JSON object"),
        "Infinity": (_commit_doc(splits={"train": sid}).replace(b'"timestamp":0', b'"timestamp":Infinity'),
                     "not JSON"),
    }


def _forge(folder: Path, commit: bytes) -> str:
    cid = _put(folder, commit)
    _ref(folder, "ds", "forged", cid)
    return cid


class _Hung(Exception):
    pass


@contextmanager
def _deadline(seconds: int):
    """Fail, rather than hang the suite, when a call does not return in time."""
    def hung(*_):
        raise _Hung(f"still running after {seconds} s")
    old = signal.signal(signal.SIGALRM, hung)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


FORGED_SNAPSHOTS = sorted(_forged_snapshots({"shards": [["", "", 50, 0, None]], "schema": ""}))
FORGED_COMMITS = sorted(_forged_commits("0" * 32))


def _one_error_line(args, says: str) -> None:
    with _deadline(60):
        code, out = _invoke(args)
    assert code == 1 and out.startswith("Error: ") and out.count("\n") == 1, out
    assert says in out, out


@pytest.mark.parametrize("what", FORGED_SNAPSHOTS)
def test_a_forged_snapshot_on_a_remote_is_refused_in_one_line(pushed, tmp_path, what, monkeypatch):
    """Bad shard indexes, runs outside the shard (one used to hang for ever), a schema
    that cannot be read, a zlib bomb (refused long before 1 GiB is inflated): fetch,
    pull, clone and a registry-less load each give one line, and change nothing."""
    import tracemalloc
    registry, folder, header = pushed
    make, says = _forged_snapshots(header)[what]
    _forge(folder, _commit_doc(splits={"train": _put(folder, make())}))
    monkeypatch.setenv("DSREG_CACHE", str(tmp_path / "cache"))
    registry.close()
    before = tree_hash(registry.dir)
    root = str(registry.root)
    tracemalloc.start()
    for args in (["fetch", "evil"], ["pull", "evil", "ds@forged"]):
        _one_error_line(["--registry", root, *args], says)
    _one_error_line(["clone", f"file://{folder}", str(tmp_path / "c")], says)
    with pytest.raises(DsregError, match="malformed"), _deadline(60):
        dsreg.load("ds@forged", remote=f"file://{folder}")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 200 << 20, f"{peak >> 20} MiB allocated"
    assert tree_hash(registry.dir) == before
    assert not (tmp_path / "c").exists()
    record("security", scenario=f"forged snapshot: {what}", refused=1)


@pytest.mark.parametrize("what", FORGED_COMMITS)
def test_a_forged_commit_on_a_remote_is_refused_in_one_line(pushed, tmp_path, what, monkeypatch):
    registry, folder, header = pushed
    sid = _put(folder, _forged_snapshot(header, _runs_bytes([(0, 0, header["shards"][0][2])])))
    data, says = _forged_commits(sid)[what]
    _forge(folder, data)
    monkeypatch.setenv("DSREG_CACHE", str(tmp_path / "cache"))
    registry.close()
    before = tree_hash(registry.dir)
    root = str(registry.root)
    for args in (["fetch", "evil"], ["pull", "evil", "ds@forged"]):
        _one_error_line(["--registry", root, *args], says)
    _one_error_line(["clone", f"file://{folder}", str(tmp_path / "c")], says)
    with pytest.raises(DsregError, match="malformed"):
        dsreg.load("ds@forged", remote=f"file://{folder}")
    assert tree_hash(registry.dir) == before
    record("security", scenario=f"forged commit: {what}", refused=1)


def test_a_ref_nested_deep_is_malformed(pushed):
    registry, folder, _ = pushed
    (folder / "refs" / "ds@branch" / "deep").write_bytes(b"[" * 100_000 + b"]" * 100_000)
    with pytest.raises(DsregError, match="remote branch ds@deep is malformed"):
        transfer.fetch(registry, "evil")


def test_a_snapshot_whose_schema_does_not_fit_its_shard_is_found_and_never_read(pushed, tmp_path, monkeypatch):
    """Well-formed, but naming other columns or other kinds of values than the shard
    holds (a cast from int64 to float64 would succeed): fsck names it, every read refuses."""
    import pyarrow as pa
    registry, folder, header = pushed
    rows = header["shards"][0][2]
    t = make_table(1)
    other_kind = t.schema.set(0, pa.field("id", pa.float64()))
    renamed = t.schema.set(1, pa.field("COUNT", pa.int64()))
    monkeypatch.setenv("DSREG_CACHE", str(tmp_path / "cache"))
    for i, schema in enumerate((other_kind, renamed, pa.schema(list(t.schema)[:3]))):
        data = _forged_snapshot({**header, "schema": _schema_b64(schema)}, _runs_bytes([(0, 0, rows)]))
        _ref(folder, "ds", f"forged{i}", _put(folder, _commit_doc(splits={"train": _put(folder, data)})))
        with pytest.raises(DsregError, match="does not fit its snapshot's schema"):
            dsreg.load(f"ds@forged{i}", remote=f"file://{folder}")
        transfer.pull(registry, "evil", f"ds@forged{i}")
        with pytest.raises(DsregError, match="does not fit its snapshot's schema"):
            registry.load(f"ds@forged{i}")
    problems = [p for p in registry.fsck().problems if "does not fit the schema of snapshot" in p]
    assert len(problems) == 3, registry.fsck().problems
    assert any("its column id is int64, the snapshot's double" in p for p in problems)
    assert all("affects ds@forged" in p for p in problems)


def test_a_snapshot_claiming_more_rows_than_its_shard_holds_never_reads_fewer(pushed, tmp_path, monkeypatch):
    registry, folder, header = pushed
    rows = header["shards"][0][2]
    liar = [[*header["shards"][0][:2], rows + 5, *header["shards"][0][3:]]]
    data = _forged_snapshot({**header, "shards": liar}, _runs_bytes([(0, 0, rows + 5)]))
    _ref(folder, "ds", "liar", _put(folder, _commit_doc(splits={"train": _put(folder, data)})))
    monkeypatch.setenv("DSREG_CACHE", str(tmp_path / "cache"))
    with pytest.raises(DsregError, match=f"holds {rows} rows, but a snapshot says {rows + 5}"):
        dsreg.load("ds@liar", remote=f"file://{folder}")
