"""Corruption: flipped bits and truncated objects, locally and on a remote.

fsck finds each one, naming the object and the versions it affects; a read of a damaged
object fails with a clear error and never returns wrong rows; where a remote holds a good
copy, the read uses it (and replaces the bad file), and `fsck --repair` restores it.
`fsck --remote R` checks a remote the same way, and `--repair` puts good local copies
back there.
"""
from __future__ import annotations

import boto3
import pytest

import dsreg
from dsreg.errors import ChecksumMismatch
from dsreg.ids import hash_bytes
from dsreg.maintenance.remote import fsck_remote
from dsreg.model.objects import get_commit, get_snapshot
from dsreg.remote import transfer
from dsreg.rows.equality import tables_equal
from helpers.cli import fails, run
from helpers.reliability import assert_versions_load, record, versions
from helpers.tables import edit_table, make_table

DAMAGES = ("flip", "truncate")
FOUND: list[str] = []


def fsck_fails(*args: str, says: str) -> str:
    """fsck exits 1 with its report on stdout and one `Error:` line on stderr."""
    result = run("fsck", *args, code=1)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and says in lines[0], result.stderr
    return result.stdout


def damage(path, how: str) -> None:
    data = bytearray(path.read_bytes())
    if how == "flip":
        data[len(data) // 2] ^= 0x04
    else:
        del data[len(data) * 2 // 3:]
    path.write_bytes(bytes(data))


@pytest.fixture
def history(registry):
    t = make_table(2000, seed=1)
    registry.commit("ds", {"train": t, "test": make_table(300, seed=2)}, message="v1")
    registry.tag("ds", "v1")
    registry.commit("ds", {"train": edit_table(t, "edit", 0.05).table}, message="v2")
    return versions(registry)


def objects_of(reg, spec="ds@main", split="train"):
    """(commit, snapshot, first shard, its fingerprints) of a version."""
    cid = reg.resolve(spec)
    sid = get_commit(reg, cid).splits[split]
    shard = get_snapshot(reg, sid).shards[0]
    return {"commit": cid, "snapshot": sid, "shard": shard.id, "fingerprints": shard.fingerprints}


# -- local ----------------------------------------------------------------------
@pytest.mark.parametrize("how", DAMAGES)
@pytest.mark.parametrize("what", ["commit", "snapshot", "shard", "fingerprints"])
def test_local_damage_is_found_and_never_read_as_data(registry, history, what, how):
    oid = objects_of(registry)[what]
    damage(registry.store.path(oid), how)
    result = registry.fsck()
    hits = [p for p in result.problems if oid in p and "is corrupt" in p]
    assert len(hits) == 1 and "affects ds@main" in hits[0], result.problems
    FOUND.append(hits[0])
    out = fsck_fails(says="fsck found")
    assert f"problem: {hits[0]}" in out.splitlines()
    # reading it: a clear error naming the object, never wrong rows
    if what in ("snapshot", "shard"):     # (a commit is read from the manifest's copy of it)
        with pytest.raises(ChecksumMismatch, match=oid):
            registry.load("ds", split="train")
        fails("checkout", "ds", "-o", str(registry.root / "out"), says=f"object {oid} is corrupt")
        assert not (registry.root / "out").exists()
    # the other versions are untouched
    if what in ("shard", "fingerprints"):
        assert tables_equal(registry.load("ds@v1", split="test"), history[("ds", registry.resolve("ds@v1"), "test")])


def test_reads_use_a_good_remote_copy_and_replace_the_bad_file(registry, history, tmp_path):
    (tmp_path / "remote").mkdir()
    transfer.add_remote(registry, "origin", f"file://{tmp_path / 'remote'}")
    transfer.push(registry)
    ids = objects_of(registry)
    for what in ("snapshot", "shard", "fingerprints"):
        damage(registry.store.path(ids[what]), "flip")
    assert_versions_load(registry, history)          # the right rows, from good copies
    for what in ("snapshot", "shard"):
        path = registry.store.path(ids[what])
        assert hash_bytes(path.read_bytes()) == ids[what]           # and the bad files are gone
    assert not list(registry.store.root.rglob(".tmp-*"))


def test_fsck_repair_restores_good_copies_from_a_remote(registry, history, tmp_path):
    (tmp_path / "remote").mkdir()
    transfer.add_remote(registry, "origin", f"file://{tmp_path / 'remote'}")
    transfer.push(registry)
    damaged = []
    for spec, how in (("ds@main", "flip"), ("ds@v1", "truncate")):
        for oid in objects_of(registry, spec).values():
            if oid not in damaged:
                damage(registry.store.path(oid), how)
                damaged.append(oid)
    test_shard = objects_of(registry, "ds@v1", "test")["shard"]
    registry.store.path(test_shard).unlink()   # missing, but known to be on origin: fetched when read
    assert not registry.fsck().ok
    out = run("fsck", "--repair").stdout
    repaired = [line for line in out.splitlines() if line.startswith("repaired: ")]
    assert {line.split()[2] for line in repaired} == set(damaged)
    assert all(line.endswith("from origin") for line in repaired)
    for oid in damaged:
        assert hash_bytes(registry.store.path(oid).read_bytes()) == oid
    assert registry.fsck().ok
    assert_versions_load(registry, history)
    assert registry.store.has(test_shard)
    record("corruption", scenario="local damage repaired from a remote", objects=len(damaged), lost=0)


def test_fsck_repair_without_a_good_copy_reports_what_remains(registry, history, tmp_path):
    (tmp_path / "remote").mkdir()
    transfer.add_remote(registry, "origin", f"file://{tmp_path / 'remote'}")
    transfer.push(registry)
    shard = objects_of(registry)["shard"]
    damage(registry.store.path(shard), "flip")
    damage(tmp_path / "remote" / "objects" / shard[:2] / shard[2:], "truncate")   # bad there too
    out = fsck_fails("--repair", says="fsck found 1 problem")
    assert shard in out and "repaired: " not in out
    with pytest.raises(ChecksumMismatch):
        registry.load("ds")
    assert hash_bytes(registry.store.path(shard).read_bytes()) != shard       # nothing made up


def test_putting_good_bytes_over_a_damaged_object_replaces_it(registry, history):
    """Known gap (b): `put` saw has()==True and kept the bad bytes."""
    v1 = objects_of(registry, "ds@v1")
    for oid in (v1["shard"], v1["fingerprints"]):
        damage(registry.store.path(oid), "flip")
    assert not registry.fsck().ok
    # the same rows, committed afresh (no base to reuse from), make the same objects
    registry.commit("copy", history[("ds", registry.resolve("ds@v1"), "train")], message="same rows")
    assert objects_of(registry, "copy@main")["shard"] == v1["shard"]
    for oid in (v1["shard"], v1["fingerprints"]):
        assert hash_bytes(registry.store.path(oid).read_bytes()) == oid
    assert registry.fsck().ok
    assert_versions_load(registry, history)


# -- on a remote --------------------------------------------------------------------
def _remote_path_writer(kind, spec_url, endpoint, tmp_path):
    if kind == "file":
        def rewrite(oid, how):
            damage(tmp_path / "remote" / "objects" / oid[:2] / oid[2:], how)
        return rewrite
    s3 = boto3.client("s3", endpoint_url=endpoint)
    bucket, prefix = spec_url[len("s3://"):].split("/", 1)

    def rewrite(oid, how):
        key = f"{prefix}/objects/{oid[:2]}/{oid[2:]}"
        data = bytearray(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        if how == "flip":
            data[len(data) // 2] ^= 0x04
        else:
            del data[len(data) * 2 // 3:]
        s3.put_object(Bucket=bucket, Key=key, Body=bytes(data))
    return rewrite


def test_remote_damage_is_found_named_refused_and_repaired(registry, history, tmp_path, remote_spec, monkeypatch):
    monkeypatch.setenv("DSREG_S3_MAX_ATTEMPTS", "2")
    monkeypatch.setenv("DSREG_CACHE", str(tmp_path / "cache"))
    kind, url, endpoint = remote_spec.kind, remote_spec.url, remote_spec.endpoint_url
    transfer.add_remote(registry, "origin", url, endpoint)
    transfer.push(registry)
    rewrite = _remote_path_writer(kind, url, endpoint, tmp_path)
    ids = objects_of(registry)
    v1 = objects_of(registry, "ds@v1", "test")
    rewrite(ids["shard"], "flip")
    rewrite(v1["snapshot"], "truncate")
    # fsck --remote names each damaged object and the versions it affects
    result = fsck_remote(registry, "origin")
    shard_p = [p for p in result.problems if ids["shard"] in p]
    snap_p = [p for p in result.problems if v1["snapshot"] in p]
    assert len(shard_p) == 1 and "is corrupt" in shard_p[0] and "on origin; affects ds@main on origin" in shard_p[0]
    assert len(snap_p) == 1 and "ds@v1 on origin" in snap_p[0], snap_p
    FOUND.extend(shard_p + snap_p)
    out = fsck_fails("--remote", "origin", says="fsck found 2 problems")
    assert all(f"problem: {p}" in out for p in shard_p + snap_p)
    # nothing wrong is read: clear errors, and nothing damaged kept or cached
    with pytest.raises(ChecksumMismatch, match=v1["snapshot"]):
        dsreg.Registry.clone(url, tmp_path / "clone", endpoint)
    assert not (tmp_path / "clone").exists()
    with pytest.raises(ChecksumMismatch, match=ids["shard"]):
        dsreg.load("ds", remote=url, endpoint_url=endpoint)
    cached = tmp_path / "cache" / "objects" / ids["shard"][:2] / ids["shard"][2:]
    assert not cached.exists()
    other = dsreg.Registry.init(tmp_path / "other")
    transfer.add_remote(other, "origin", url, endpoint)
    with pytest.raises(ChecksumMismatch):
        transfer.pull(other, "origin", "ds@main")
    assert not other.store.has(ids["shard"]) and not other.store.has(v1["snapshot"])
    assert other.fsck().ok
    other.close()
    # the registry that pushed still holds good copies: --repair puts them back
    out = run("fsck", "--remote", "origin", "--repair").stdout
    assert out.count("repaired: ") == 2 and "no problems found" in out
    assert fsck_remote(registry, "origin").ok
    clone, _ = dsreg.Registry.clone(url, tmp_path / "clone", endpoint)
    assert_versions_load(clone, history)
    assert clone.fsck().ok
    clone.close()
    record("corruption", scenario=f"damage on a {kind} remote found, refused, repaired", objects=2, lost=0)


def test_corruption_figures():
    if FOUND:
        record("corruption", scenario="problems reported with the versions they affect", found=len(FOUND))
