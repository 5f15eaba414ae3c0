"""`dsreg fsck --rebuild`: the manifest rebuilt from the objects. Every version reads back
exactly as before; refs, reflog and remotes are kept from a readable old manifest and
recreated from the heads without one; corrupt objects are reported and left out; the
swap is atomic, and what an interrupted rebuild leaves behind is harmless."""
from __future__ import annotations

import json
import os
import shutil
import sqlite3
import time

import pyarrow as pa
import pytest

import dsreg
from dsreg.card import card
from dsreg.errors import ManifestMissing, ManifestUnreadable
from dsreg.ids import hash_bytes
from dsreg.maintenance.temp import REBUILD_TEMP
from dsreg.manifest.rows import ReflogEntry
from dsreg.model.objects import get_commit
from dsreg.remote import transfer
from dsreg.rows.settings import CompactionSettings, RowSettings, ShardSettings
from helpers.cli import fails, run
from helpers.recorder import Recorder
from helpers.reliability import assert_versions_load, record, run_dsreg, run_killed_after, versions
from helpers.tables import edit_table, make_table

# what the manifest derives from objects, compared row for row before and after a rebuild
DERIVED = {
    "datasets": "SELECT name FROM datasets",
    "commits": "SELECT id, dataset, parents, message, author, timestamp, metadata FROM commits",
    "commit_splits": "SELECT commit_id, split, snapshot_id FROM commit_splits",
    "snapshots": "SELECT id, rows, bytes, runs, schema FROM snapshots",
    "snapshot_shards": "SELECT snapshot_id, shard_id FROM snapshot_shards",
    "shards": "SELECT id, rows, bytes, fingerprints, fp_bytes FROM shards",
}
# what only the old manifest knows, kept exactly when it reads
KEPT = {
    "datasets": "SELECT name, created_at FROM datasets",
    "refs": "SELECT dataset, kind, name, commit_id FROM refs",
    "reflog": "SELECT id, dataset, ref, old, new, at, message FROM reflog",
    "remotes": "SELECT name, url, endpoint_url, cas_ok, probed_at, gc_seen FROM remotes",
    "remote_refs": "SELECT remote, dataset, kind, name, commit_id FROM remote_refs",
    "remote_objects": "SELECT remote, object_id FROM remote_objects",
}


def rows(reg, queries: dict) -> dict:
    return {t: sorted(reg.manifest.conn.execute(q).fetchall(), key=repr) for t, q in queries.items()}


@pytest.fixture
def small_shards() -> RowSettings:
    return RowSettings(ShardSettings(target_bytes=64 << 10, min_bytes=16 << 10, max_bytes=256 << 10),
                       CompactionSettings(min_dead_rows=2_000))


@pytest.fixture
def history(registry, small_shards, tmp_path):
    """reviews: main c1 (v1) -> c2 (v2) -> c3 (local-only) -> metadata-only c4; dev from
    c2: two commits. derived: committed with --base reviews@v1. frag: a version compacted
    on commit. A folder remote `origin` holding all but the tag local-only.
    Returns (versions() of every ref, {message: commit id})."""
    reg, ids = registry, {}

    def commit(ds, splits, message, **kw):
        r = reg.commit(ds, splits, message=message, settings=small_shards, **kw)
        ids[message] = r.id
        return r

    t1 = make_table(600, seed=1)
    commit("reviews", t1, "one", keys=["id"])
    reg.tag("reviews", "v1")
    t2 = edit_table(t1, "append", 0.1).table
    commit("reviews", t2, "two")
    reg.tag("reviews", "v2")
    commit("reviews", {"train": edit_table(t2, "insert", 0.1, seed=4).table, "test": make_table(40, seed=9)},
           "dev one", branch="dev")
    commit("reviews", {"test": make_table(50, seed=10)}, "dev two", branch="dev")
    commit("reviews", {"train": edit_table(t2, "edit", 0.05, seed=3).table}, "three")
    commit("reviews", {}, "license", metadata={"license": "mit"})
    commit("derived", {"train": t1.slice(0, 300), "extra": make_table(30, seed=5)}, "from v1", base="reviews@v1")
    big = make_table(12_000, seed=6)
    commit("frag", big, "whole")
    assert commit("frag", big.filter(pa.array([i % 1000 < 100 for i in range(12_000)])), "a tenth").compacted
    folder = tmp_path / "remote"
    folder.mkdir()
    transfer.add_remote(reg, "origin", f"file://{folder}")
    transfer.push(reg, "origin")
    reg.tag("reviews", "local-only", "main~1")
    assert reg.fsck().ok
    return versions(reg), ids


def reopen(reg) -> dsreg.Registry:
    reg.close()
    return dsreg.Registry(reg.root, need_manifest=False)


def lose_manifest(reg) -> dsreg.Registry:
    reg.close()         # (the last connection folds the WAL into the file and removes it)
    (reg.dir / "manifest.sqlite").unlink()
    return dsreg.Registry(reg.root, need_manifest=False)


def branches(reg, ds: str) -> dict[str, str]:
    return {r.name: r.commit for r in reg.manifest.refs(ds, "branch")}


def card_doc(reg, spec: str) -> dict:
    """A card's content, less the refs and remotes that name the version."""
    doc = json.loads(card(reg, spec, "json"))
    return {k: doc[k] for k in ("splits", "changelog", "header", "provenance", "fields", "warnings")}


def flip_bit(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


# -- a readable old manifest ------------------------------------------------------------
def test_rebuilding_a_healthy_manifest_changes_nothing_but_caches(registry, history):
    reg, (expected, _ids) = registry, history
    derived, kept = rows(reg, DERIVED), rows(reg, KEPT)
    assert (len(kept["refs"]), len(kept["remote_refs"]), len(derived["commits"])) == (7, 6, 9)
    cards = {spec: card(reg, spec) for spec in ("reviews", "reviews@dev", "derived", "frag", "reviews@v1")}
    rec = Recorder()
    result = reg.rebuild_manifest(progress=rec)
    assert result.ok, result.check.problems
    assert (result.old_manifest, result.skipped, result.dropped, result.recovered) == ("readable", (), (), ())
    assert (result.refs_kept, result.remote_refs_kept) == (7, 6)
    present = set(reg.store.iter())
    assert result.objects_read == len(present) == sum(result.kinds.values())
    assert result.bytes_read == sum(reg.store.size(o) for o in present)
    assert (result.commits, result.snapshots, result.shards) == \
        (9, len(derived["snapshots"]), len(derived["shards"]))
    assert result.kinds["shard"] == result.kinds["fingerprints"] == result.kinds["chunk_index"] == result.shards
    assert rec.events[0] == ("start", "rebuild", len(present), "objects")
    assert sum(e[1] for e in rec.events[:len(present) + 1] if e[0] == "advance") == len(present)
    # what objects say came back row for row; what only the manifest knew is kept exactly
    assert rows(reg, DERIVED) == derived
    assert rows(reg, KEPT) == kept
    # caches start empty, and a card recomputes exactly what it showed before
    assert reg.manifest.conn.execute("SELECT COUNT(*) FROM shards WHERE stats != '{}'").fetchone()[0] == 0
    assert reg.manifest.conn.execute("SELECT COUNT(*) FROM split_stats").fetchone()[0] == 0
    assert {spec: card(reg, spec) for spec in cards} == cards
    assert_versions_load(reg, expected)
    # the old manifest is kept, readable, beside the new one; no temp file is left
    backup = reg.dir / os.path.basename(result.backup)
    assert backup.parent == reg.dir and backup.name.startswith("manifest.sqlite.bak-")
    conn = sqlite3.connect(backup)
    assert sorted(conn.execute(KEPT["refs"]).fetchall(), key=repr) == kept["refs"]
    conn.close()
    assert not (reg.dir / REBUILD_TEMP).exists()
    assert reg.fsck().ok and reg.gc(dry_run=True).deleted_objects == 0


def test_refs_whose_commits_are_gone_are_dropped_and_fsck_says_so(registry, history, small_shards):
    reg, (_, ids) = registry, history
    reg.commit("reviews", {"test": make_table(5, seed=20)}, message="doomed", branch="doomed", settings=small_shards)
    doomed = reg.resolve("reviews@doomed")
    reg.store.path(doomed).unlink()
    reg = reopen(reg)
    result = reg.rebuild_manifest()
    assert result.dropped == (f"reviews@doomed: its commit {doomed[:12]} is not in the store",)
    assert reg.manifest.ref("reviews", "branch", "doomed") is None
    assert branches(reg, "reviews") == {"main": ids["license"], "dev": ids["dev two"]}
    # its reflog is kept, so fsck (and gc) still see what the branch held
    assert not result.ok
    assert [p for p in result.check.problems if doomed in p] == result.check.problems
    assert "the reflog of reviews@doomed" in result.check.problems[0]


def test_a_corrupt_object_is_reported_skipped_and_then_missed_by_fsck(registry, history):
    reg, (expected, ids) = registry, history
    sid = get_commit(reg, ids["dev two"]).splits["test"]
    flip_bit(reg.store.path(sid))
    reg = reopen(reg)
    result = reg.rebuild_manifest()
    got = hash_bytes(reg.store.path(sid).read_bytes())
    assert result.skipped == (f"object {sid} is corrupt (its bytes hash to {got})",)
    assert reg.manifest.snapshot_info(sid) is None          # never indexed
    assert result.refs_kept == 7 and not result.ok
    assert len(result.check.problems) == 1
    assert result.check.problems[0].startswith(f"snapshot {sid} is corrupt")
    assert "reviews@dev" in result.check.problems[0]
    # everything the damage does not touch reads as before
    assert_versions_load(reg, {k: v for k, v in expected.items() if (k[1], k[2]) != (ids["dev two"], "test")})


# -- no usable old manifest: refs recreated from the heads ------------------------------
def check_recovered(reg, result, ids) -> None:
    newest = max([ids["license"], ids["dev two"]], key=lambda c: (get_commit(reg, c).timestamp, c))
    assert branches(reg, "reviews") == {"main": newest, f"recovered-{ids['license'][:12]}": ids["license"],
                                        f"recovered-{ids['dev two'][:12]}": ids["dev two"]}
    assert branches(reg, "derived") == {"main": ids["from v1"]}
    assert branches(reg, "frag") == {"main": ids["a tenth"]}
    assert reg.manifest.refs(kind="tag") == [] and reg.manifest.remotes() == []
    assert result.refs_kept == 0 and len(result.recovered) == 5
    assert {(r.dataset, r.branch, r.commit) for r in result.recovered} == \
        {(r.dataset, r.name, r.commit) for r in reg.manifest.refs()}
    newest = reg.manifest.reflog("frag")[0]
    assert newest == ReflogEntry("branch:main", None, ids["a tenth"], newest.at, "fsck --rebuild: recovered head")


def test_a_lost_manifest_is_rebuilt_and_every_version_reads_as_before(registry, history, small_shards):
    reg, (expected, ids) = registry, history
    logs = {c: reg.log(f"reviews@{c}") for c in (ids["license"], ids["dev two"])}
    diff = reg.diff(f"reviews@{ids['one']}", f"reviews@{ids['dev two']}", rows=True).to_json()
    cards = {c: card_doc(reg, f"{ds}@{c}") for ds, c in (("reviews", ids["license"]), ("derived", ids["from v1"]),
                                                          ("frag", ids["a tenth"]))}
    derived = rows(reg, DERIVED)
    reg = lose_manifest(reg)
    with pytest.raises(ManifestMissing, match="run 'dsreg fsck --rebuild'"):
        dsreg.Registry(reg.root)
    result = reg.rebuild_manifest()
    assert result.ok, result.check.problems
    assert (result.old_manifest, result.backup, result.skipped) == ("missing", None, ())
    check_recovered(reg, result, ids)
    assert rows(reg, {k: q for k, q in DERIVED.items() if k != "datasets"}) == \
        {k: v for k, v in derived.items() if k != "datasets"}
    assert_versions_load(reg, expected)
    assert {c: reg.log(f"reviews@{c}") for c in logs} == logs
    assert reg.diff(f"reviews@{ids['one']}", f"reviews@{ids['dev two']}", rows=True).to_json() == diff
    assert {c: card_doc(reg, f"{ds}@{c}") for ds, c in (("reviews", ids["license"]), ("derived", ids["from v1"]),
                                                         ("frag", ids["a tenth"]))} == cards
    # a commit continues the recovered main, rather than starting a history of its own
    r = reg.commit("derived", {"extra": make_table(3, seed=30)}, message="after", settings=small_shards)
    assert get_commit(reg, r.id).parents == (ids["from v1"],)
    assert reg.fsck().ok


def test_a_garbage_manifest_is_rebuilt_and_kept_as_the_backup(registry, history):
    reg, (expected, ids) = registry, history
    reg.close()
    garbage = b"this is not an SQLite database\n" * 300
    (reg.dir / "manifest.sqlite").write_bytes(garbage)
    with pytest.raises(ManifestUnreadable, match="cannot be read.*run 'dsreg fsck --rebuild'"):
        _ = dsreg.Registry(reg.root).manifest
    reg = dsreg.Registry(reg.root)
    result = reg.rebuild_manifest()
    assert result.ok, result.check.problems
    assert result.old_manifest == "unreadable"
    assert (reg.dir / os.path.basename(result.backup)).read_bytes() == garbage
    check_recovered(reg, result, ids)
    assert_versions_load(reg, expected)


def test_a_stale_write_ahead_log_never_reaches_the_new_manifest(registry, history):
    """SQLite replays a `-wal` file into whatever database has the matching name: the old
    manifest's log must leave with it, or it would overwrite pages of the new one."""
    reg, (expected, ids) = registry, history
    reg.close()
    path = reg.dir / "manifest.sqlite"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA wal_autocheckpoint=0")
    for _ in range(50):
        conn.execute("INSERT INTO reflog (dataset, ref, old, new, at, message) VALUES ('x', 'y', NULL, NULL, 0, ?)",
                     ("z" * 2000,))
    wal = (reg.dir / "manifest.sqlite-wal").read_bytes()
    assert len(wal) > 100_000
    shutil.copyfile(reg.dir / "manifest.sqlite-wal", reg.dir / "saved-wal")
    conn.close()
    path.write_bytes(b"\0" * 8192)                         # the main file lost...
    os.replace(reg.dir / "saved-wal", reg.dir / "manifest.sqlite-wal")     # ...its log not
    result = reg.rebuild_manifest()
    assert result.ok, result.check.problems
    # (the log still holds the reflog's pages: that much of the old manifest reads)
    assert result.old_manifest == "damaged" and result.notes[0].startswith("the old manifest is damaged (")
    assert "could not read refs from the old manifest (database disk image is malformed)" in result.notes
    assert (reg.dir / (os.path.basename(result.backup) + "-wal")).read_bytes() == wal
    reg = reopen(reg)
    assert reg.manifest.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    check_recovered(reg, result, ids)
    assert reg.fsck().ok
    assert_versions_load(reg, expected)


def test_a_corrupt_head_commit_leaves_its_parent_as_a_head(registry, history):
    reg, (expected, ids) = registry, history
    bad = ids["dev two"]
    flip_bit(reg.store.path(bad))
    reg = lose_manifest(reg)
    result = reg.rebuild_manifest()
    assert [s.split(" is ")[0] for s in result.skipped] == [f"object {bad}"]
    got = branches(reg, "reviews")
    assert set(got.values()) == {ids["license"], ids["dev one"]}
    assert got[f"recovered-{ids['dev one'][:12]}"] == ids["dev one"]
    assert not result.ok
    assert result.check.problems == [f"object {bad} is corrupt (its bytes hash to "
                                     f"{hash_bytes(reg.store.path(bad).read_bytes())}); no version "
                                     "uses it ('dsreg gc' deletes it)"]
    assert_versions_load(reg, {k: v for k, v in expected.items() if k[1] != bad})


def test_a_clone_without_its_data_rebuilds_from_what_snapshots_say(registry, history, tmp_path):
    """A clone has commits and snapshots, not shards: those are described as the
    snapshots name them, and still fetched when read."""
    reg, (expected, _) = registry, history
    clone, _ = dsreg.Registry.clone(f"file://{tmp_path / 'remote'}", tmp_path / "clone")
    assert not any(clone.store.has(s) for s in
                   [r[0] for r in clone.manifest.conn.execute("SELECT id FROM shards")])
    derived, kept = rows(clone, DERIVED), rows(clone, KEPT)
    result = clone.rebuild_manifest()
    assert result.ok, result.check.problems
    assert "shard" not in result.kinds and result.shards == len(derived["shards"]) > 0
    assert rows(clone, DERIVED) == derived and rows(clone, KEPT) == kept
    assert any("only on a remote" in n for n in result.check.notes)
    assert_versions_load(clone, {k: v for k, v in expected.items() if k[1] != reg.resolve("reviews@local-only")})
    clone.close()


# -- crash safety ---------------------------------------------------------------------
def test_a_leftover_temp_file_is_harmless(registry, history):
    reg, (expected, _) = registry, history
    temp = reg.dir / REBUILD_TEMP
    temp.write_bytes(b"half a manifest" * 100)
    (reg.dir / (REBUILD_TEMP + "-journal")).write_bytes(b"junk")
    reg = reopen(reg)
    result = reg.fsck()
    assert result.ok
    assert [n for n in result.notes if REBUILD_TEMP in n] == [
        f"leftover temporary file {temp} ('dsreg gc' removes it)",
        f"leftover temporary file {temp}-journal ('dsreg gc' removes it)"]
    assert_versions_load(reg, expected)
    past = time.time() - 7200
    for p in (temp, reg.dir / (REBUILD_TEMP + "-journal")):
        os.utime(p, (past, past))
    assert reg.gc().deleted_temp_files == 2 and not temp.exists()
    temp.write_bytes(b"again")                      # and a rebuild starts afresh over one
    assert reg.rebuild_manifest().ok and not temp.exists()


def _registry_state(project) -> tuple:
    reg = dsreg.Registry(project)
    try:
        return rows(reg, KEPT)["refs"], reg.fsck()
    finally:
        reg.close()


@pytest.mark.parametrize("lost", [False, True], ids=["old-manifest", "no-manifest"])
def test_rebuild_survives_sigkill_anywhere(registry, history, tmp_path, lost):
    """Killed at each crash point a rebuild passes (and after delays), the registry opens
    with the old manifest or the new one, fsck passes, every version reads as before, and
    running the rebuild again completes."""
    reg, (expected, _) = registry, history
    refs = rows(reg, KEPT)["refs"]
    reg.close()
    if lost:
        (reg.dir / "manifest.sqlite").unlink()
    template = tmp_path / "template"
    shutil.copytree(reg.root, template)
    probe = tmp_path / "probe"
    shutil.copytree(template, probe)
    trace = tmp_path / "trace"
    started = time.monotonic()
    done = run_dsreg("fsck", "--rebuild", cwd=probe, env={"DSREG_CRASH_TRACE": str(trace)})
    elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    labels = trace.read_text().splitlines()
    assert {"rebuild.built", "rebuild.backup", "rebuild.swap"} <= set(labels)
    points = [("hook", i + 1) for i in range(len(labels))] + [("timed", elapsed * f) for f in (0.5, 0.9)]
    for n, (kind, value) in enumerate(points):
        project = tmp_path / f"point{n}"
        shutil.copytree(template, project)
        env = {"DSREG_CRASH_AT": f"*:{value}"} if kind == "hook" else {}
        code = run_killed_after(["fsck", "--rebuild"], project, 600 if kind == "hook" else value, env)
        where = f"{kind} {labels[value - 1] if kind == 'hook' else value}"
        if kind == "hook":
            assert code == -9, where
        swapped = (project / ".dsreg" / "manifest.sqlite").is_file()
        if lost and not swapped:
            with pytest.raises(ManifestMissing):        # as before: the rebuild had not landed
                dsreg.Registry(project)
        else:
            kept, check = _registry_state(project)
            assert check.ok, (where, check.problems)
            if lost:                                    # the new manifest, with the heads' branches
                assert kept and all(r[1] == "branch" and (r[2] == "main" or r[2].startswith("recovered-"))
                                    for r in kept), where
            else:                                       # the old manifest or the new: the same refs
                assert kept == refs, where
        done = run_dsreg("fsck", "--rebuild", cwd=project)
        assert done.returncode == 0, (where, done.stdout, done.stderr)
        check_reg = dsreg.Registry(project)
        assert check_reg.fsck().ok, where
        assert_versions_load(check_reg, expected)
        if not lost:
            assert rows(check_reg, KEPT)["refs"] == refs, where
        check_reg.close()
        shutil.rmtree(project)
    record("crash", op="fsck --rebuild" + (" (no manifest)" if lost else ""), kill_points=len(points),
           crash_points_in_op=len(labels), distinct_labels=len(set(labels)), lost=0)


# -- the command line -----------------------------------------------------------------
def test_opening_a_registry_without_a_usable_manifest_says_what_to_run(registry, history):
    registry.close()
    path = registry.dir / "manifest.sqlite"
    path.unlink()
    fails("ls", says=f"the registry's manifest {path} is missing; run 'dsreg fsck --rebuild' to rebuild it")
    path.write_bytes(b"garbage" * 1000)
    fails("log", "reviews", says=f"the registry's manifest {path} cannot be read (file is not a database); "
                                 "run 'dsreg fsck --rebuild'")
    fails("--registry", str(registry.root), "fsck", says="cannot be read")


def test_rebuild_cannot_be_combined_with_remote_or_repair(registry, history):
    fails("fsck", "--rebuild", "--remote", "origin", code=2,
          says="--rebuild rebuilds the local manifest; it cannot be combined with --remote")
    fails("fsck", "--rebuild", "--repair", code=2, says="it cannot be combined with --repair")
    assert not list(registry.dir.glob("manifest.sqlite.bak-*"))


def test_rebuild_through_the_real_command_line(registry, history):
    reg, (expected, ids) = registry, history
    n = len(list(reg.store.iter()))
    before = {t: len(r) for t, r in rows(reg, DERIVED).items()}
    reg = lose_manifest(reg)
    reg.close()
    done = run_dsreg("fsck", "--rebuild", cwd=reg.root)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"rebuilt the manifest from {n} objects (")
    assert lines[0].endswith(f"): 9 commits, {before['snapshots']} snapshots, {before['shards']} shards; "
                             "refs: 0 kept, 5 recreated; 0 corrupt objects skipped")
    assert lines[1] == "note: there was no manifest: refs are recreated from the commits"
    assert f"recovered: derived@main at {ids['from v1'][:12]}" in lines
    assert f"recovered: reviews@recovered-{ids['dev two'][:12]} at {ids['dev two'][:12]}" in lines
    assert any(line.startswith("recovered: reviews@main at ") and line.endswith("(the newest of 2 heads)")
               for line in lines)
    assert lines[-1].startswith(f"checked {n} objects (") and lines[-1].endswith("no problems found")
    ls = run_dsreg("ls", "--json", cwd=reg.root)
    assert {d["name"]: sorted(d["branches"]) for d in json.loads(ls.stdout)}["frag"] == ["main"]
    # again, with the manifest it just wrote: everything kept, in JSON
    doc = json.loads(run_dsreg("fsck", "--rebuild", "--json", cwd=reg.root).stdout)
    assert doc["ok"] and doc["fsck"]["ok"] and doc["old_manifest"] == "readable"
    assert (doc["objects_read"], doc["commits"], doc["refs_kept"], doc["refs_recreated"]) == (n, 9, 5, 0)
    assert doc["backup"].startswith(str(reg.dir / "manifest.sqlite.bak-"))
    assert doc["corrupt_objects"] == 0 and doc["skipped"] == [] and doc["dropped_refs"] == []
    reopened = dsreg.Registry(reg.root)
    assert_versions_load(reopened, expected)
    reopened.close()


def test_a_rebuild_that_fsck_rejects_exits_1_after_its_report(registry, history):
    reg, (_, ids) = registry, history
    flip_bit(reg.store.path(ids["three"]))
    reg.close()
    result = run("fsck", "--rebuild", code=1)
    assert result.stderr == "Error: the rebuilt registry fails fsck: 1 problem\n"
    out = result.stdout.splitlines()
    assert out[0].endswith("refs: 7 kept, 0 recreated; 1 corrupt objects skipped")
    assert out[1].startswith(f"skipped: object {ids['three']} is corrupt (its bytes hash to ")
    assert [line for line in out if line.startswith("problem: ")] == [
        line for line in out if line.startswith(f"problem: commit {ids['three']} is corrupt")]
    doc = json.loads(run("fsck", "--rebuild", "--json", code=1).stdout)
    assert not doc["ok"] and doc["corrupt_objects"] == 1 and len(doc["fsck"]["problems"]) == 1
