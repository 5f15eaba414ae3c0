"""gc never deletes what a branch, a tag, a remote-tracking ref or a live reflog entry
reaches; on a remote (`gc --remote`), never what a remote ref reaches, and never a recent
object a push in flight may be about to make reachable."""
from __future__ import annotations

import os
import random
import time

import pytest

import dsreg
from dsreg.errors import GcRefused, RemoteGcRan, RemoteGcRunning
from dsreg.maintenance import reach
from dsreg.maintenance.remote import fsck_remote, gc_remote
from dsreg.model.objects import get_commit
from dsreg.remote import transfer
from dsreg.rows.equality import tables_equal
from helpers.cli import run
from helpers.reliability import record, versions
from helpers.tables import make_table


@pytest.fixture(autouse=True)
def no_settle(monkeypatch):
    monkeypatch.setenv("DSREG_REMOTE_GC_SETTLE", "0")


def _age_local(reg, seconds=7200):
    past = time.time() - seconds
    for p in reg.dir.rglob("*"):
        os.utime(p, (past, past), follow_symlinks=False)


def _reachable_commits(reg) -> set[str]:
    out, todo = set(), [r.commit for r in reach.roots(reg.manifest)]
    while todo:
        c = todo.pop()
        if c not in out:
            out.add(c)
            todo.extend(get_commit(reg, c).parents)
    return out


def test_gc_after_random_history_keeps_everything_a_root_reaches(registry, full_reliability):
    rng = random.Random(7)
    expected: dict[str, dict] = {}
    branches = {"main"}
    n_ops = 120 if full_reliability else 40
    seed = 0

    def commit(branch):
        nonlocal seed
        seed += 1
        parent = registry.manifest.ref("ds", "branch", branch) or registry.manifest.ref("ds", "branch", "main")
        carried = dict(expected[parent]) if parent else {}
        splits = {f"s{rng.randrange(4)}": make_table(rng.randrange(50, 300), seed=seed)}
        r = registry.commit("ds", splits, message=f"op {seed}", branch=branch, allow_empty=True)
        carried.update(splits)
        expected[r.id] = carried

    commit("main")
    ops = []
    for _ in range(n_ops):
        op = rng.choice(["commit", "commit", "branch", "tag", "delete-branch", "delete-tag", "reset"])
        ops.append(op)
        tags = list(registry.tag("ds"))
        if op == "commit":
            commit(rng.choice(sorted(branches)))
        elif op == "branch":
            name = f"b{rng.randrange(6)}"
            if name not in branches:
                registry.branch("ds", name, rng.choice(sorted(expected)))
                branches.add(name)
        elif op == "tag":
            registry.tag("ds", f"t{rng.randrange(6)}", rng.choice(sorted(expected)), force=True)
        elif op == "delete-branch" and len(branches) > 1:
            name = rng.choice(sorted(branches - {"main"}))
            registry.branch("ds", delete=name)
            branches.discard(name)
        elif op == "delete-tag" and tags:
            registry.tag("ds", delete=rng.choice(tags))
        elif op == "reset":
            registry.branch("ds", rng.choice(sorted(branches)), rng.choice(sorted(expected)), force=True)
    registry.branch("ds", "doomed")                    # certain garbage: a deleted branch's commits
    branches.add("doomed")
    commit("doomed")
    commit("doomed")
    registry.branch("ds", delete="doomed")
    keep = _reachable_commits(registry)
    _age_local(registry)
    result = registry.gc()
    assert result.deleted_objects > 0 and len(keep) < len(expected)    # there was garbage, and it went
    assert registry.fsck().ok
    for cid in keep:
        for split, table in expected[cid].items():
            assert tables_equal(registry.load(f"ds@{cid}", split=split), table), (cid, split)
    assert reach.unreachable(registry) == []
    record("gc", scenario="random history, then gc", operations=len(ops), commits=len(expected),
           kept_commits=len(keep), deleted_objects=result.deleted_objects, lost=0)


def test_gc_leaves_a_long_running_commit_alone(registry):
    """A commit streaming for hours keeps its staged objects in a locked folder: gc (in
    another process, here another handle) leaves it be however old it looks, and what the
    commit publishes is young, so gc spares it until the manifest transaction."""
    from dsreg.store.staged import publish, staged
    registry.commit("ds", make_table(100), message="v1")
    with staged(registry) as store:
        oid, _ = store.put(b"a shard written hours ago")
        _age_local(registry)
        with dsreg.Registry(registry.root) as other:
            assert other.gc().deleted_temp_files == 0
        assert store.folder.is_dir()
        publish(registry)
    with dsreg.Registry(registry.root) as other:
        assert other.gc().deleted_objects == 0          # young: a transaction may be about to name it
    assert registry.store.has(oid)


# -- on a remote --------------------------------------------------------------------
@pytest.fixture
def shared(registry, remote_spec, tmp_path):
    transfer.add_remote(registry, "origin", remote_spec.url, remote_spec.endpoint_url)
    return remote_spec.url, remote_spec.endpoint_url, tmp_path / "remote" if remote_spec.kind == "file" else None


def _orphan(registry, data: bytes):
    """An object on the remote that nothing reaches (a push that died before its ref)."""
    _, remote = transfer.get_remote(registry, "origin")
    oid, _ = remote.objects.put(data)
    return oid


def _age_remote(folder, seconds=30 * 86400):
    past = time.time() - seconds
    for p in folder.rglob("*"):
        os.utime(p, (past, past))


def test_remote_gc_deletes_only_what_no_remote_ref_reaches(registry, shared, tmp_path):
    url, endpoint, folder = shared
    t = make_table(1000)
    registry.commit("ds", {"train": t}, message="v1")
    registry.tag("ds", "v1")
    registry.branch("ds", "exp")
    registry.commit("ds", {"exp": make_table(400, seed=2)}, message="exp 1", branch="exp")
    transfer.push(registry)
    # force-push exp back to main: "exp 1" is unreachable on the remote now
    registry.branch("ds", "exp", "main", force=True)
    transfer.push(registry, force=True)
    orphan = _orphan(registry, b"half of a push that died")
    expected = versions(registry)
    young = gc_remote(registry, "origin")                    # default grace: all of it is young
    assert young.deleted_objects == 0 and young.skipped_recent >= 2
    if folder is not None:
        _age_remote(folder)
        done = gc_remote(registry, "origin")
    else:
        done = gc_remote(registry, "origin", grace_seconds=0)
    assert orphan in done.deleted and done.deleted_objects >= 2
    assert fsck_remote(registry, "origin").ok
    clone, _ = dsreg.Registry.clone(url, tmp_path / "clone", endpoint)
    for (ds, cid, split), table in expected.items():
        assert tables_equal(clone.load(f"{ds}@{cid}", split=split), table)
    clone.close()
    assert gc_remote(registry, "origin", grace_seconds=0).deleted_objects == 0     # nothing more to take
    record("gc", scenario=f"gc --remote ({'file' if folder else 's3'})", deleted_objects=done.deleted_objects,
           spared_young=young.skipped_recent, lost=0)


def test_remote_gc_cannot_race_a_push_in_flight(registry, shared, tmp_path, monkeypatch):
    """A gc that starts while a push uploads: the push's new objects are young (spared);
    the push sees the gc's marker before moving its ref and stops, telling the user to run
    it again, which (asking the remote afresh) completes."""
    url, endpoint, _ = shared
    registry.commit("ds", {"train": make_table(500)}, message="v1")
    transfer.push(registry)
    registry.commit("ds", {"test": make_table(300, seed=5)}, message="v2")
    real_upload = transfer._upload
    gcs = []

    def upload_then_gc(reg, *a, **kw):
        real_upload(reg, *a, **kw)
        with dsreg.Registry(reg.root) as other:      # someone else's gc, right now, no grace at all
            gcs.append(gc_remote(other, "origin", grace_seconds=0))
    monkeypatch.setattr(transfer, "_upload", upload_then_gc)
    with pytest.raises(RemoteGcRan, match="run the push again"):
        transfer.push(registry)
    assert gcs[0].deleted_objects > 0              # it took what the push had uploaded
    monkeypatch.setattr(transfer, "_upload", real_upload)
    transfer.push(registry)                        # again: uploads what is missing, then moves the ref
    assert fsck_remote(registry, "origin").ok
    clone, _ = dsreg.Registry.clone(url, tmp_path / "clone", endpoint)
    assert tables_equal(clone.load("ds", split="test"), make_table(300, seed=5))
    clone.close()



def test_a_push_that_starts_while_a_gc_deletes_is_refused(registry, shared, tmp_path, monkeypatch):
    """The gc chose what to delete before the push began; a push that found those objects
    still there and reused them would make its ref reach objects the gc then deletes. So a
    push refuses to start while a gc runs, and goes through once it has finished."""
    url, endpoint, _ = shared
    registry.commit("ds", {"train": make_table(300)}, message="v1")
    x = registry.commit("ds", {"exp": make_table(400, seed=2)}, message="x", branch="exp").id
    transfer.push(registry)
    registry.branch("ds", "exp", "main", force=True)
    transfer.push(registry, force=True)                  # x is unreachable on the remote now
    registry.branch("ds", "again", x)                    # ... and someone pushes it again
    from dsreg import faults
    real_crashpoint, refused = faults.crashpoint, []

    def push_mid_gc(label):
        if label == "gc.delete" and not refused:
            with dsreg.Registry(registry.root) as other:
                with pytest.raises(RemoteGcRunning, match="a gc is running on remote origin") as e:
                    transfer.push(other, "origin", "ds@again")
                refused.append(e.value)
        real_crashpoint(label)
    monkeypatch.setattr(faults, "crashpoint", push_mid_gc)
    assert gc_remote(registry, "origin", grace_seconds=0).deleted_objects > 0
    monkeypatch.setattr(faults, "crashpoint", real_crashpoint)
    assert refused and "run 'dsreg gc --remote origin' to finish it" in str(refused[0])
    transfer.push(registry, "origin", "ds@again")        # the gc has finished: uploads what it took
    assert fsck_remote(registry, "origin").ok
    clone, _ = dsreg.Registry.clone(url, tmp_path / "clone", endpoint)
    assert tables_equal(clone.load("ds@again", split="exp"), make_table(400, seed=2))
    clone.close()


def test_a_gc_killed_midway_blocks_pushes_until_a_gc_finishes(registry, shared):
    registry.commit("ds", {"train": make_table(200)}, message="v1")
    transfer.push(registry)
    _, remote = transfer.get_remote(registry, "origin")
    remote.set_gc_marker({"id": "old", "started": time.time() - 60})       # an older dsreg's gc: not known running
    registry.commit("ds", {"train": make_table(220)}, message="v1.5")
    transfer.push(registry)
    remote.set_gc_marker({"id": "dead", "started": time.time() - 60, "running": True})    # what a killed gc leaves
    registry.commit("ds", {"train": make_table(250)}, message="v2")
    before = remote.ref("ds", "branch", "main").commit
    with pytest.raises(RemoteGcRunning, match="nothing was pushed"):
        transfer.push(registry)
    assert remote.ref("ds", "branch", "main").commit == before
    gc_remote(registry, "origin")                        # finishes the marker
    assert remote.gc_marker()["finished"] is not None and "running" not in remote.gc_marker()
    transfer.push(registry)
    assert remote.ref("ds", "branch", "main").commit == registry.resolve("ds")

def test_remote_gc_refuses_when_it_cannot_see_what_is_reachable(registry, tmp_path):
    (tmp_path / "remote").mkdir()
    transfer.add_remote(registry, "origin", f"file://{tmp_path / 'remote'}")
    registry.commit("ds", {"train": make_table(200)}, message="v1")
    transfer.push(registry)
    sid = get_commit(registry, registry.resolve("ds")).splits["train"]
    (tmp_path / "remote" / "objects" / sid[:2] / sid[2:]).unlink()
    _age_remote(tmp_path / "remote")
    with pytest.raises(GcRefused, match="cannot gc origin"):
        gc_remote(registry, "origin", grace_seconds=0)
    assert len(list((tmp_path / "remote" / "objects").rglob("*"))) > 3       # nothing deleted


def test_remote_gc_from_the_command_line(registry, tmp_path):
    (tmp_path / "remote").mkdir()
    transfer.add_remote(registry, "origin", f"file://{tmp_path / 'remote'}")
    registry.commit("ds", {"train": make_table(200)}, message="v1")
    transfer.push(registry)
    _orphan(registry, b"garbage")
    assert run("gc", "--remote", "origin", "--dry-run", "--grace", "0s").stdout.startswith("would delete 1 object")
    assert run("gc", "--remote", "origin").stdout.splitlines() == [
        "deleted 0 objects on origin", "kept 1 unreachable object(s) younger than the grace period"]
    assert run("gc", "--remote", "origin", "--grace", "0s").stdout == "deleted 1 object on origin\n"
    assert run("fsck", "--remote", "origin").stdout.endswith("no problems found\n")


def test_a_gc_never_finishes_another_gcs_marker(registry, shared, monkeypatch):
    registry.commit("ds", {"train": make_table(200)}, message="v1")
    transfer.push(registry)
    _orphan(registry, b"something to delete")
    _, remote = transfer.get_remote(registry, "origin")
    from dsreg import faults
    real_crashpoint = faults.crashpoint
    second = {"id": "second", "started": time.time(), "running": True}

    def another_gc_starts(label):
        if label == "gc.delete":
            remote.set_gc_marker(second)
        real_crashpoint(label)
    monkeypatch.setattr(faults, "crashpoint", another_gc_starts)
    assert gc_remote(registry, "origin", grace_seconds=0).deleted_objects == 1
    assert remote.gc_marker() == second          # still running as far as pushes can tell
    with pytest.raises(RemoteGcRunning):
        transfer.push(registry)
