"""The lock file: pin, update, verify, list; `lock:ALIAS` with and without a registry."""
from __future__ import annotations

import os

import pyarrow as pa
import pytest

import dsreg
from dsreg.errors import UsageError
from dsreg.read.lock import Pin, read_lock, write_lock
from helpers.cli import fails, run, run_json
from helpers.tables import make_table


def _data(t: pa.Table) -> pa.Table:
    return t.replace_schema_metadata(None)


@pytest.fixture
def shared(registry, tmp_path):
    """A registry with a pushed version on a folder remote named origin."""
    (tmp_path / "remote").mkdir()
    url = f"file://{tmp_path / 'remote'}"
    t1 = make_table(300)
    c1 = registry.commit("reviews", {"train": t1}, message="one")
    run("remote", "add", "origin", url)
    run("push", "origin", "reviews")
    return registry, url, t1, c1.id


def test_lock_file_round_trips_and_is_stable(tmp_path):
    pins = {"b": Pin("b", "org/b", "f" * 32, None, "s3://x/y", "http://e"), "a": Pin("a", "a", "0" * 32, "main")}
    write_lock(tmp_path / "dsreg.lock", pins)
    text = (tmp_path / "dsreg.lock").read_text()
    assert read_lock(tmp_path / "dsreg.lock") == pins
    write_lock(tmp_path / "dsreg.lock", read_lock(tmp_path / "dsreg.lock"))
    assert (tmp_path / "dsreg.lock").read_text() == text
    assert text.index("[pins.a]") < text.index("[pins.b]")


def test_add_list_and_read_a_pin(shared):
    reg, url, t1, c1 = shared
    pin = run_json("lock", "add", "reviews", "--as", "rv")
    assert pin == {"alias": "rv", "dataset": "reviews", "commit": c1, "ref": "main", "remote": url,
                   "endpoint_url": None}
    assert (reg.root / "dsreg.lock").is_file()
    assert run_json("lock", "list") == [pin]
    assert "rv" in run("lock", "list").stdout
    ds = dsreg.dataset("lock:rv")
    assert ds.commit == c1 and _data(ds.to_table()).equals(t1)
    assert dsreg.load("lock:rv").equals(ds.to_table())


def test_update_follows_the_branch_and_pins_stay_put_until_then(shared):
    reg, url, t1, c1 = shared
    run("lock", "add", "reviews")
    run("lock", "add", "reviews@" + c1, "--as", "fixed")
    c2 = reg.commit("reviews", {"train": make_table(50, seed=3)}, message="two").id
    assert dsreg.dataset("lock:reviews").commit == c1          # pinned, not following main
    moved = run_json("lock", "update")
    assert moved == [{"alias": "reviews", "old": c1, "new": c2}]
    assert dsreg.dataset("lock:reviews").commit == c2
    assert dsreg.dataset("lock:fixed").commit == c1


def test_a_pin_is_read_without_a_registry_from_its_remote(shared, tmp_path, monkeypatch):
    reg, url, t1, c1 = shared
    run("lock", "add", "reviews", "--as", "rv")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "dsreg.lock").write_bytes((reg.root / "dsreg.lock").read_bytes())
    monkeypatch.chdir(elsewhere)
    monkeypatch.setenv("DSREG_CACHE", str(tmp_path / "cache"))
    ds = dsreg.dataset("lock:rv", columns=["id", "label"])
    assert ds.commit == c1 and _data(ds.to_table()).equals(t1.select(["id", "label"]))
    assert run_json("lock", "verify") == [{"alias": "rv", "commit": c1, "ok": True, "problem": None}]


def test_lock_add_without_a_registry_resolves_on_the_remote(shared, tmp_path, monkeypatch):
    reg, url, t1, c1 = shared
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.setenv("DSREG_CACHE", str(tmp_path / "cache"))
    assert run_json("lock", "add", "reviews@main", "--remote", url)["commit"] == c1
    assert (elsewhere / "dsreg.lock").is_file()
    fails("lock", "add", "reviews", code=2, says="no local dataset")


def test_verify_fails_on_a_missing_or_damaged_pinned_version(shared):
    reg, url, t1, c1 = shared
    run("lock", "add", "reviews")
    assert "ok" in run("lock", "verify").stdout
    from dsreg.model.objects import get_commit, get_snapshot
    shard = get_snapshot(reg, get_commit(reg, c1).splits["train"]).shards[0].id
    path = reg.store.path(shard)
    os.chmod(path, 0o644)
    data = bytearray(path.read_bytes())
    data[100] ^= 0xFF
    path.write_bytes(bytes(data))
    # the local copy is damaged: the registry repairs it from origin, so verification passes
    run("lock", "verify")
    pins = read_lock(reg.root / "dsreg.lock")
    pins["gone"] = Pin("gone", "reviews", "a" * 32, None, None)
    write_lock(reg.root / "dsreg.lock", pins)
    result = run("lock", "verify", code=1)
    assert "reviews: " in result.stdout and " ok" in result.stdout and "gone: aaaaaaaaaaaa FAILED" in result.stdout
    assert result.stderr.strip() == "Error: 1 pinned version(s) failed verification: gone"


def test_bad_lock_input_is_refused(shared, tmp_path):
    reg, url, t1, c1 = shared
    with pytest.raises(UsageError, match="no dsreg.lock"):
        dsreg.dataset("lock:nope")
    run("lock", "add", "reviews")
    with pytest.raises(UsageError, match="no pin 'nope'"):
        dsreg.dataset("lock:nope")
    fails("lock", "add", "reviews", "--as", "../x", code=2, says="invalid lock alias")
    fails("lock", "add", "reviews", "--remote", "nosuch", code=2, says="no remote named 'nosuch'")
    fails("lock", "update", "nope", code=2, says="no pin 'nope'")
    (reg.root / "dsreg.lock").write_text("version = 7\n")
    fails("lock", "list", says="version 7")
