"""fsck finds every kind of damage and names what it affects; gc deletes exactly what no
ref, tag or live reflog entry reaches, and nothing else."""
from __future__ import annotations

import os
import time

import numpy as np
import pytest

from dsreg.errors import ChecksumMismatch, GcRefused
from dsreg.ids import CommitId, ObjectId
from dsreg.maintenance import fsck as maintenance
from dsreg.maintenance import reach
from dsreg.model.objects import get_commit, get_snapshot
from dsreg.model.serialize import Commit, ShardRef, Snapshot, encode_commit, encode_snapshot
from dsreg.rows.equality import tables_equal
from helpers.recorder import Recorder
from helpers.tables import edit_table, make_table

DS = "reviews"


@pytest.fixture
def history(registry):
    """main: c1 (tag v1) -> c2 (tag v2) -> c3; dev: from c2, two commits with a test split.
    Returns {commit id: {split: table}} for every version committed."""
    versions = {}

    def commit(splits, message, branch="main"):
        r = registry.commit(DS, splits, message=message, branch=branch)
        parent = get_commit(registry, r.id).parents
        carried = dict(versions[parent[0]]) if parent else {}
        carried.update(splits if isinstance(splits, dict) else {"train": splits})
        versions[r.id] = carried
        return r.id

    t1 = make_table(300, seed=1)
    commit(t1, "one")
    registry.tag(DS, "v1")
    t2 = edit_table(t1, "append", 0.1).table
    commit(t2, "two")
    registry.tag(DS, "v2")
    commit({"train": edit_table(t2, "edit", 0.05, seed=3).table}, "three")
    commit({"train": edit_table(t2, "insert", 0.1, seed=4).table, "test": make_table(40, seed=9)},
           "dev one", branch="dev")
    commit({"test": make_table(50, seed=10)}, "dev two", branch="dev")
    return versions


def objects(reg) -> set[str]:
    return set(reg.store.iter())


def sizes(reg, ids) -> int:
    return sum(reg.store.size(o) for o in ids)


def assert_versions_load(reg, versions, only=None):
    """Every version (or those in `only`) reads back exactly what was committed."""
    for cid, splits in versions.items():
        if only is not None and cid not in only:
            continue
        for split, table in splits.items():
            got = reg.load(f"{DS}@{cid}", split=split)
            assert got.column_names == table.column_names
            assert tables_equal(got, table), (cid, split)


def shards_of(reg, spec, split="train") -> list[ShardRef]:
    return list(get_snapshot(reg, get_commit(reg, reg.resolve(spec)).splits[split]).shards)


def flip_bit(path, at=None):
    data = bytearray(path.read_bytes())
    data[len(data) // 2 if at is None else at] ^= 0x01
    path.write_bytes(bytes(data))


def age(reg, seconds=7200):
    """Make every file under .dsreg look `seconds` old."""
    past = time.time() - seconds
    for p in reg.dir.rglob("*"):
        os.utime(p, (past, past), follow_symlinks=False)


def only_one(problems, *needles):
    hits = [p for p in problems if all(n in p for n in needles)]
    assert len(hits) == 1, problems
    return hits[0]


# -- fsck: healthy ------------------------------------------------------------
def test_fsck_passes_on_a_healthy_registry(registry, history):
    rec = Recorder()
    result = registry.fsck(progress=rec)
    assert result.ok and result.problems == [] and result.notes == []
    present = objects(registry)
    assert result.checked_objects == len(present)
    assert result.checked_bytes == sizes(registry, present)
    assert result.to_json() == {"ok": True, "problems": [], "checked_objects": len(present),
                                "checked_bytes": result.checked_bytes}
    assert rec.events[0] == ("start", "fsck", len(present), "objects")
    assert rec.advanced == len(present) and rec.events[-1] == ("finish",)


def test_fsck_on_an_empty_registry(registry):
    result = maintenance.fsck(registry)
    assert result.ok and result.checked_objects == 0 and result.checked_bytes == 0


def test_fsck_result_is_frozen(registry, history):
    result = registry.fsck()
    with pytest.raises(AttributeError):
        result.problems = []   # type: ignore[misc]


# -- fsck: damage -------------------------------------------------------------
def test_fsck_finds_a_flipped_bit_in_a_shard(registry, history):
    v1_shard = shards_of(registry, f"{DS}@v1")[0]
    flip_bit(registry.store.path(v1_shard.id))
    with pytest.raises(ChecksumMismatch):
        registry.load(f"{DS}@v1")
    result = registry.fsck()
    assert not result.ok
    p = only_one(result.problems, f"shard {v1_shard.id}")
    assert "is corrupt (its bytes hash to " in p
    v1 = registry.resolve(f"{DS}@v1")
    # the version it is in, by every name, and the later versions that still read it
    main, dev = registry.resolve(DS), registry.resolve(f"{DS}@dev")
    assert f"affects {DS}@dev (commit {dev[:12]}); {DS}@main, {DS}@dev~2 (commit {main[:12]}); " in p
    assert f"; {DS}@v1, {DS}@v2~1, {DS}@main~2 (commit {v1[:12]})" in p
    assert f"; {DS}@dev~1 (commit" in p
    assert result.to_json()["ok"] is False and result.to_json()["problems"] == result.problems


def test_fsck_finds_a_missing_fingerprint_object(registry, history):
    on_main = {s.id for v in ("v1", "v2", "main") for s in shards_of(registry, f"{DS}@{v}")}
    ref = next(s for s in shards_of(registry, f"{DS}@dev") if s.id not in on_main)
    registry.store.delete(ref.fingerprints)
    result = registry.fsck()
    p = only_one(result.problems, ref.fingerprints)
    assert p.startswith(f"fingerprint object {ref.fingerprints} of shard {ref.id} is missing; affects ")
    assert f"{DS}@dev" in p and f"{DS}@main" not in p and f"{DS}@v1" not in p


def test_fsck_finds_a_truncated_snapshot(registry, history):
    c2 = registry.resolve(f"{DS}@v2")
    sid = get_commit(registry, c2).splits["train"]
    path = registry.store.path(sid)
    path.write_bytes(path.read_bytes()[:-7])
    result = registry.fsck()
    p = only_one(result.problems, f"snapshot {sid}")
    assert "is corrupt" in p and p.endswith(f"; affects {DS}@v2, {DS}@main~1, {DS}@dev~3 (commit {c2[:12]})")
    assert result.checked_objects == len(objects(registry))


def test_fsck_finds_a_deleted_commit_object(registry, history):
    v1 = registry.resolve(f"{DS}@v1")
    registry.store.delete(ObjectId(v1))
    result = registry.fsck()
    p = only_one(result.problems, f"commit {v1}")
    assert p == f"commit {v1} is missing; affects {DS}@v1, {DS}@v2~1, {DS}@main~2 (commit {v1[:12]})"
    # the manifest still describes it, so the walk goes on and finds nothing else wrong
    assert len(result.problems) == 1


def test_fsck_finds_a_ref_to_an_unknown_commit(registry, history):
    head = registry.resolve(f"{DS}@dev")
    registry.store.delete(ObjectId(head))
    with registry.manifest.transaction():
        registry.manifest.delete_objects([head], [], [])
    result = registry.fsck()
    p = only_one(result.problems, f"commit {head}")
    assert "is missing and the manifest does not know it" in p and f"{DS}@dev (commit" in p


def test_fsck_finds_a_missing_parent(registry, history):
    c1 = registry.resolve(f"{DS}@main~2")
    registry.tag(DS, delete="v1")
    registry.store.delete(ObjectId(c1))
    with registry.manifest.transaction():
        registry.manifest.delete_objects([c1], [], [])
    p = only_one(registry.fsck().problems, f"commit {c1}")
    assert p == (f"commit {c1} is missing and the manifest does not know it; "
                 f"affects {DS}@v2~1, {DS}@main~2, {DS}@dev~4 (commit {c1[:12]})")


def test_fsck_finds_manifest_rows_that_disagree(registry, history):
    ref = shards_of(registry, f"{DS}@main")[0]
    sid = get_commit(registry, registry.resolve(DS)).splits["train"]
    with registry.manifest.transaction():
        registry.manifest.conn.execute("UPDATE shards SET rows = rows + 1 WHERE id=?", (ref.id,))
        registry.manifest.conn.execute("DELETE FROM snapshots WHERE id=?", (sid,))
    result = registry.fsck()
    assert "(rows)" in only_one(result.problems, f"manifest row for shard {ref.id}")
    assert f"affects {DS}@main, {DS}@dev~2 (commit" in \
        only_one(result.problems, f"manifest has no row for snapshot {sid}")


def test_fsck_finds_a_manifest_without_a_commit_row(registry, history):
    head = registry.resolve(DS)
    with registry.manifest.transaction():
        registry.manifest.conn.execute("DELETE FROM commits WHERE id=?", (head,))
    p = only_one(registry.fsck().problems, f"manifest has no row for commit {head}")
    assert p.endswith(f"affects {DS}@main, {DS}@dev~2 (commit {head[:12]})")


def _commit_snapshot(reg, snap: Snapshot, branch: str) -> CommitId:
    """Commit a hand-made (well-hashed, badly built) snapshot on `branch`."""
    m = reg.manifest
    data = encode_snapshot(snap)
    sid, _ = reg.store.put(data)
    parent = m.ref(DS, "branch", branch)
    c = Commit(DS, (parent,) if parent else (), {"train": sid}, "hand-made", "t", 0)
    cid, _ = reg.store.put(encode_commit(c))
    with m.transaction():
        m.add_snapshot(sid, snap, len(data))
        m.add_commit(CommitId(cid), c)
        m.set_ref(DS, "branch", branch, CommitId(cid), parent, "test")
    return CommitId(cid)


def test_fsck_finds_runs_outside_their_shard(registry, history):
    good = get_snapshot(registry, get_commit(registry, registry.resolve(f"{DS}@v1")).splits["train"])
    ref = good.shards[0]
    bad = Snapshot(good.schema_ipc, (ref,), np.array([0]), np.array([ref.rows - 5]), np.array([10]))
    cid = _commit_snapshot(registry, bad, "broken")
    result = registry.fsck()
    p = only_one(result.problems, "run(s) outside their shards")
    assert f"{DS}@broken (commit {cid[:12]})" in p
    assert len(result.problems) == 1


def test_fsck_finds_fingerprints_that_do_not_match_the_shard(registry, history):
    v1 = shards_of(registry, f"{DS}@v1")[0]
    other = next(s for s in shards_of(registry, f"{DS}@dev", "test") if s.rows != v1.rows)
    swapped = ShardRef(v1.id, other.fingerprints, v1.rows)
    good = get_snapshot(registry, get_commit(registry, registry.resolve(f"{DS}@v1")).splits["train"])
    bad = Snapshot(good.schema_ipc, (swapped,), np.array([0]), np.array([0]), np.array([v1.rows]))
    _commit_snapshot(registry, bad, "broken")
    result = registry.fsck()
    p = only_one(result.problems, f"fingerprint object {other.fingerprints}")
    assert f"holds {other.rows} fingerprints for {v1.rows} rows" in p and f"{DS}@broken" in p


def test_fsck_finds_a_row_count_that_disagrees_with_the_shard(registry, history):
    v1 = shards_of(registry, f"{DS}@v1")[0]
    liar = ShardRef(v1.id, v1.fingerprints, v1.rows + 3)
    good = get_snapshot(registry, get_commit(registry, registry.resolve(f"{DS}@v1")).splits["train"])
    bad = Snapshot(good.schema_ipc, (liar,), np.array([0]), np.array([0]), np.array([v1.rows + 3]))
    _commit_snapshot(registry, bad, "broken")
    problems = registry.fsck().problems
    assert f"has {v1.rows} rows but snapshot" in only_one(problems, f"shard {v1.id} has")


def test_fsck_reports_corrupt_unreachable_objects_and_notes_temp_files(registry, history):
    junk, _ = registry.store.put(b"nobody refers to me")
    flip_bit(registry.store.path(junk), at=0)
    tmp = registry.store.path(junk).parent / ".tmp-abc123"
    tmp.write_bytes(b"half written")
    result = registry.fsck()
    assert "no version uses it" in only_one(result.problems, f"object {junk} is corrupt")
    assert any(".tmp-abc123" in n for n in result.notes)
    assert any("1 object(s) no ref or reflog entry reaches" in n for n in result.notes)


def test_fsck_problems_are_one_line_each(registry, history):
    flip_bit(registry.store.path(shards_of(registry, f"{DS}@v1")[0].id))
    flip_bit(registry.store.path(shards_of(registry, f"{DS}@dev", "test")[0].id))
    problems = registry.fsck().problems
    assert len(problems) == 2
    assert all("\n" not in p for p in problems)


def test_fsck_does_not_load_shards_into_arrow(registry, history, monkeypatch):
    import pyarrow.parquet as pq

    def refuse(*a, **kw):
        raise AssertionError("fsck read shard data")

    monkeypatch.setattr(pq, "read_table", refuse)
    monkeypatch.setattr(pq.ParquetFile, "read", refuse)
    assert registry.fsck().ok


# -- gc -------------------------------------------------------------------------
def test_gc_after_deleting_a_branch_removes_exactly_what_only_it_reached(registry, history):
    dev_commits = {c.id for c in registry.log(f"{DS}@dev")} - {c.id for c in registry.log(DS)}
    keep = set(history) - dev_commits
    # what only dev reaches: everything dev's commits wrote (nothing else reads it)
    before_dev = _objects_without(registry, history, dev_commits)
    doomed = objects(registry) - before_dev
    assert len(doomed) >= 6            # two commits, their snapshots, new shards, fingerprints
    registry.branch(DS, delete="dev")
    result = registry.gc(grace_seconds=0)
    assert set(result.deleted) == doomed
    assert result.deleted_objects == len(doomed) and not result.dry_run
    assert result.kept_objects == len(before_dev) == len(objects(registry))
    assert objects(registry) == before_dev
    for c in dev_commits:
        assert registry.manifest.commit(c) is None
    assert registry.manifest.all_commit_ids() == sorted(keep)
    assert_versions_load(registry, history, only=keep)
    assert registry.fsck().ok


def _objects_without(reg, history, dropped) -> set[str]:
    """Objects the versions not in `dropped` reach, computed independently of gc."""
    out = set()
    for cid in set(history) - set(dropped):
        out.add(cid)
        for sid in get_commit(reg, cid).splits.values():
            out.add(sid)
            for s in get_snapshot(reg, sid).shards:
                out.update(s.objects())
    return out


def test_gc_records_bytes_and_progress(registry, history):
    registry.branch(DS, delete="dev")
    doomed = set(reach.unreachable(registry))
    nbytes = sizes(registry, doomed)
    rec = Recorder()
    result = registry.gc(grace_seconds=0, progress=rec)
    assert result.deleted_bytes == nbytes
    assert rec.events[0] == ("start", "gc", len(doomed), "objects") and rec.advanced == len(doomed)
    assert result.to_json() == {"deleted_objects": len(doomed), "deleted_bytes": nbytes,
                                "kept_objects": result.kept_objects, "dry_run": False,
                                "skipped_recent": 0, "deleted_temp_files": 0}


def test_gc_twice_is_a_no_op(registry, history):
    registry.branch(DS, delete="dev")
    registry.gc(grace_seconds=0)
    before = objects(registry)
    again = registry.gc(grace_seconds=0)
    assert again.deleted_objects == 0 and again.deleted_bytes == 0
    assert again.kept_objects == len(before) and objects(registry) == before


def test_gc_on_a_healthy_registry_deletes_nothing(registry, history):
    before = objects(registry)
    result = registry.gc(grace_seconds=0)
    assert result.deleted_objects == 0 and objects(registry) == before
    assert_versions_load(registry, history)


def test_gc_dry_run_deletes_nothing(registry, history):
    registry.branch(DS, delete="dev")
    tmp_file = registry.tmp_dir / "leftover.parquet"
    tmp_file.write_bytes(b"x" * 100)
    age(registry)
    before, rows = objects(registry), registry.manifest.all_commit_ids()
    dry = registry.gc(dry_run=True, grace_seconds=0)
    assert dry.dry_run and dry.deleted_objects > 0 and dry.deleted_temp_files == 1
    assert objects(registry) == before and registry.manifest.all_commit_ids() == rows
    assert tmp_file.exists()
    real = registry.gc(grace_seconds=0)
    assert (real.deleted_objects, real.deleted_bytes, real.kept_objects, set(real.deleted)) == \
        (dry.deleted_objects, dry.deleted_bytes, dry.kept_objects, set(dry.deleted))
    assert not tmp_file.exists()


def test_tags_keep_objects_alive(registry, history):
    head = registry.resolve(f"{DS}@dev")
    registry.tag(DS, "keep", "dev")
    registry.branch(DS, delete="dev")
    before = objects(registry)
    assert registry.gc(grace_seconds=0).deleted_objects == 0
    assert objects(registry) == before
    assert_versions_load(registry, history)
    assert registry.resolve(f"{DS}@keep") == head


def test_reflog_keeps_objects_alive(registry, history):
    head = registry.resolve(DS)
    registry.branch(DS, "main", "main~1", force=True)        # reset main: head now only in the reflog
    assert head not in {c.id for c in registry.log(DS)}
    registry.tag(DS, delete="v1")                      # a deleted tag still has main~1 above it
    before = objects(registry)
    assert registry.gc(grace_seconds=0).deleted_objects == 0
    assert objects(registry) == before
    assert_versions_load(registry, history)
    assert registry.fsck().ok


def test_a_deleted_refs_reflog_keeps_nothing_alive(registry, history):
    dev = registry.resolve(f"{DS}@dev")
    registry.branch(DS, delete="dev")
    registry.branch(DS, "dev", "v1")                         # recreated: its old entries stay dead
    assert dev not in reach.live_reflog(registry.manifest)
    result = registry.gc(grace_seconds=0)
    assert dev in result.deleted
    assert registry.fsck().ok


def test_gc_never_deletes_what_refs_reach(registry, history):
    """After any sequence of ref deletions, every version a ref or live reflog reaches loads."""
    steps = [lambda: registry.tag(DS, delete="v2"),
             lambda: registry.branch(DS, "main", "v1", force=True),
             lambda: registry.branch(DS, delete="dev"),
             lambda: registry.tag(DS, delete="v1")]
    for step in steps:
        step()
        live = reach.reachable(registry)
        registry.gc(grace_seconds=0)
        assert live.objects <= objects(registry)
        assert_versions_load(registry, history, only=live.commits)
        assert registry.fsck().ok


def test_gc_spares_young_objects(registry, history):
    registry.branch(DS, delete="dev")
    doomed = set(reach.unreachable(registry))
    result = registry.gc()                                   # default grace: all just written
    assert result.deleted_objects == 0 and result.skipped_recent == len(doomed)
    assert doomed <= objects(registry)
    age(registry)
    assert registry.gc().deleted_objects == len(doomed)


def test_putting_an_old_object_again_protects_it(registry, history):
    """A commit that rewrites bytes gc is about to delete refreshes them first."""
    oid, _ = registry.store.put(b"about to be reused")
    age(registry)
    assert registry.store.put(b"about to be reused") == (oid, False)
    registry.gc()
    assert registry.store.has(oid)


def test_gc_cleans_temp_files(registry, history):
    fan = next(p for p in registry.store.root.iterdir() if p.is_dir())
    stale = fan / ".tmp-stale"
    stale.write_bytes(b"12345")
    (registry.tmp_dir / "ingest-1").mkdir()
    (registry.tmp_dir / "ingest-1" / "part.arrow").write_bytes(b"abc")
    config = registry.dir / ".tmp-config"                   # a config or backup write, killed
    config.write_bytes(b"{}")
    age(registry)
    fresh = fan / ".tmp-fresh"                               # a write in progress right now
    fresh.write_bytes(b"x")
    before = objects(registry)
    assert {p.name for p in maintenance.stray_temp_files(registry)} == {".tmp-stale", "ingest-1", ".tmp-config",
                                                                       ".tmp-fresh"}
    result = registry.gc()
    assert result.deleted_temp_files == 3 and result.deleted_bytes == 10
    assert not stale.exists() and fresh.exists() and list(registry.tmp_dir.iterdir()) == []
    assert not config.exists() and (registry.dir / "config.json").is_file()
    assert objects(registry) == before


def test_gc_refuses_when_it_cannot_see_what_is_reachable(registry, history):
    head = registry.resolve(f"{DS}@dev")
    registry.store.delete(ObjectId(head))
    with registry.manifest.transaction():
        registry.manifest.delete_objects([head], [], [])
    before = objects(registry)
    with pytest.raises(GcRefused, match=head):
        registry.gc(grace_seconds=0)
    assert objects(registry) == before


def test_gc_refuses_when_a_reachable_snapshot_is_unreadable(registry, history):
    """Only the snapshot names every object of its shards (the manifest lacks chunk indexes)."""
    sid = get_commit(registry, registry.resolve(f"{DS}@dev")).splits["test"]
    flip_bit(registry.store.path(sid))
    registry.branch(DS, "other", "v1")
    registry.branch(DS, delete="other")                      # gc would have work to do
    before = objects(registry)
    with pytest.raises(GcRefused, match=sid):
        registry.gc(grace_seconds=0)
    assert objects(registry) == before


def test_gc_uses_the_manifest_for_a_missing_commit_object(registry, history):
    """A reachable commit gone from disk: the manifest still says what it reaches."""
    head = registry.resolve(f"{DS}@dev")
    registry.store.delete(ObjectId(head))
    before = objects(registry)
    assert registry.gc(grace_seconds=0).deleted_objects == 0
    assert objects(registry) == before


def test_unreachable_lists_what_gc_would_delete(registry, history):
    assert reach.unreachable(registry) == []
    registry.branch(DS, delete="dev")
    assert set(reach.unreachable(registry)) == set(registry.gc(dry_run=True, grace_seconds=0).deleted)


# -- with remotes -------------------------------------------------------------
@pytest.fixture
def origin(registry, history, tmp_path):
    """`history` pushed to a folder remote named origin; its URL."""
    from dsreg.remote import transfer
    folder = tmp_path / "origin"
    folder.mkdir()
    transfer.add_remote(registry, "origin", f"file://{folder}")
    transfer.push(registry)
    return f"file://{folder}"


def _no_network(reg, monkeypatch):
    def refuse():
        raise AssertionError("tried to reach a remote")
    monkeypatch.setattr(reg.store, "sources", refuse)


def test_fsck_of_a_clone_with_data_still_on_the_remote(origin, tmp_path, monkeypatch):
    from dsreg.registry import Registry
    clone, _ = Registry.clone(origin, tmp_path / "clone")
    try:
        _no_network(clone, monkeypatch)
        result = clone.fsck()
        assert result.ok, result.problems
        assert result.checked_objects == len(objects(clone))
        assert any("only on a remote" in n for n in result.notes)
        assert clone.gc(grace_seconds=0).deleted_objects == 0
        # an object neither here nor known to be on the remote is a problem
        head = clone.resolve(f"{DS}@dev")
        sid = get_commit(clone, head).splits["test"]
        with clone.manifest.transaction():
            clone.manifest.conn.execute("DELETE FROM remote_objects WHERE object_id IN "
                                        "(SELECT shard_id FROM snapshot_shards WHERE snapshot_id=?)", (sid,))
        problems = clone.fsck().problems
        assert len(problems) == 1
        assert "is missing; affects" in problems[0] and f"{DS}@dev, {DS}@dev on origin (commit" in problems[0]
    finally:
        clone.close()


def test_remote_tracking_refs_keep_objects_alive(registry, origin, history, monkeypatch):
    _no_network(registry, monkeypatch)
    dev = registry.resolve(f"{DS}@dev")
    registry.branch(DS, delete="dev")                        # still on origin, as fetched/pushed
    before = objects(registry)
    assert registry.gc(grace_seconds=0).deleted_objects == 0
    assert objects(registry) == before
    assert_versions_load(registry, history)
    sid = get_commit(registry, dev).splits["test"]
    flip_bit(registry.store.path(sid))
    p = only_one(registry.fsck().problems, f"snapshot {sid}")
    assert p.endswith(f"affects {DS}@dev on origin (commit {dev[:12]})")
