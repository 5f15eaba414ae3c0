"""Network faults: push, clone, pull and registry-less reads through a proxy that injects
500s, SlowDowns, resets, stalls, truncated and corrupted bodies (tests/helpers/faultproxy.py).

They finish through retries; or, when the network stays down, stop with one clear error
and, run again, send only what had not landed. A damaged download never enters a store
or the cache. Reduced rates and data by default; `--full-reliability` for more of both.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

import dsreg
from dsreg.cli import cli
from dsreg.errors import DsregError
from dsreg.ids import hash_bytes
from dsreg.maintenance.remote import fsck_remote
from dsreg.remote import transfer
from dsreg.rows.equality import tables_equal
from helpers.faultproxy import FaultProxy
from helpers.reliability import record, versions
from helpers.s3 import new_bucket
from helpers.tables import edit_table, make_table

pytestmark = pytest.mark.slow      # minutes of kills, faults and racing processes

SEED = 20240611
TOTAL: Counter = Counter()


@pytest.fixture(autouse=True)
def short_timeouts(monkeypatch):
    """A stall must outlast the read timeout, and the test must not wait a minute for it."""
    monkeypatch.setenv("DSREG_S3_READ_TIMEOUT", "1")
    monkeypatch.setenv("DSREG_S3_CONNECT_TIMEOUT", "2")


def _history(reg, splits: int):
    t = make_table(3000, seed=1)
    reg.commit("ds", {f"s{i}": make_table(800, seed=10 + i) for i in range(splits)} | {"train": t}, message="v1")
    reg.tag("ds", "v1")
    reg.commit("ds", {"train": edit_table(t, "edit", 0.05).table, "extra": make_table(900, seed=99)},
               message="v2")
    return versions(reg)


def _equal(reg, expected):
    for (ds, cid, split), table in expected.items():
        assert tables_equal(reg.load(f"{ds}@{cid}", split=split), table), (cid, split)


def _cache_is_verified(folder: Path) -> int:
    n = 0
    for p in folder.rglob("*"):
        if p.is_file():
            assert not p.name.startswith(".tmp-"), p
            assert hash_bytes(p.read_bytes()) == p.parent.name + p.name, p
            n += 1
    return n


def test_push_clone_pull_and_load_finish_through_injected_faults(registry, s3_endpoint, tmp_path, monkeypatch,
                                                                  full_reliability):
    rate, splits = (0.25, 16) if full_reliability else (0.12, 6)
    expected = _history(registry, splits)
    url = f"s3://{new_bucket(s3_endpoint)}/team"
    transfer.add_remote(registry, "direct", url, s3_endpoint)
    with FaultProxy(s3_endpoint, rate=rate, seed=SEED) as proxy:
        transfer.add_remote(registry, "origin", url, proxy.url)
        pushed = transfer.push(registry, "origin")
        assert pushed.uploaded_objects > 0
        clone, _ = dsreg.Registry.clone(url, tmp_path / "clone", proxy.url)
        assert transfer.pull(clone, "origin", "ds@main").status == "up-to-date"
        _equal(clone, expected)                       # v1's data arrives on demand, through faults
        assert clone.fsck().ok
        clone.close()
        monkeypatch.setenv("DSREG_CACHE", str(tmp_path / "cache"))
        for (ds, cid, split), table in list(expected.items())[:4]:
            got = dsreg.load(f"{ds}@{cid}", split=split, remote=url, endpoint_url=proxy.url)
            assert tables_equal(got, table)
        got = dsreg.load("ds@v1", split="train", remote=url, endpoint_url=proxy.url, columns=["label", "id"])
        assert got.column("label").equals(expected[("ds", registry.resolve("ds@v1"), "train")].column("label"))
        injected = Counter({k: v for k, v in proxy.injected.items() if v})
        requests = len(proxy.log)
    assert _cache_is_verified(tmp_path / "cache") > 0
    assert fsck_remote(registry, "direct").ok          # what landed is whole, whatever the faults did
    assert sum(injected.values()) >= 10, injected
    assert set(injected) >= {"500", "503", "reset", "reset-after", "stall"}, injected
    TOTAL.update(injected)
    record("faults", scenario="push, clone, pull, load at a fault rate", rate=rate, requests=requests,
           faults=sum(injected.values()), **{f"kind_{k}": v for k, v in sorted(injected.items())}, lost=0)


def test_a_push_that_cannot_finish_stops_clearly_and_resumes_without_resending(registry, s3_endpoint,
                                                                                monkeypatch):
    monkeypatch.setenv("DSREG_S3_MAX_ATTEMPTS", "2")
    expected = _history(registry, 6)
    url = f"s3://{new_bucket(s3_endpoint)}/team"
    transfer.add_remote(registry, "direct", url, s3_endpoint)
    with FaultProxy(s3_endpoint) as proxy:
        transfer.add_remote(registry, "origin", url, proxy.url)
        registry.close()
        proxy.trip_after = ("PUT", 8)            # the network goes down after 8 objects landed
        result = CliRunner().invoke(cli, ["--registry", str(registry.root), "push", "origin"])
        lines = result.stderr.splitlines()
        assert result.exit_code == 1 and len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
        assert "Traceback" not in result.stderr and "127.0.0.1" in lines[0]
        first = set(proxy.object_puts())
        assert len(first) >= 8
        outage = proxy.injected["outage"]
        proxy.down, proxy.trip_after = False, None
        proxy.log.clear()
        result = CliRunner().invoke(cli, ["--registry", str(registry.root), "push", "origin"])
        assert result.exit_code == 0, result.stderr
        second = set(proxy.object_puts())
    assert second and not first & second              # nothing that had landed was sent again
    reg = dsreg.Registry(registry.root)
    assert fsck_remote(reg, "direct").ok
    clone, _ = dsreg.Registry.clone(url, reg.root.parent / "clone", s3_endpoint)
    _equal(clone, expected)
    clone.close()
    reg.close()
    TOTAL.update({"outage": outage})
    record("faults", scenario="push stopped by an outage, then resumed", faults=outage,
           landed_before=len(first), sent_after=len(second), resent=len(first & second), lost=0)


def test_a_pull_that_cannot_finish_stops_clearly_and_resumes_without_refetching(registry, s3_endpoint, tmp_path,
                                                                                 monkeypatch):
    monkeypatch.setenv("DSREG_S3_MAX_ATTEMPTS", "2")
    expected = _history(registry, 6)
    url = f"s3://{new_bucket(s3_endpoint)}/team"
    transfer.add_remote(registry, "origin", url, s3_endpoint)
    transfer.push(registry)
    with FaultProxy(s3_endpoint) as proxy:
        clone, _ = dsreg.Registry.clone(url, tmp_path / "clone", proxy.url)
        proxy.log.clear()
        proxy.trip_after = ("GET", 6)
        with pytest.raises(DsregError, match="127.0.0.1"):
            transfer.pull(clone, "origin", "ds@main")
        first = {p for m, p, w in proxy.log if m == "GET" and "/objects/" in p and w == "ok 200"}
        outage = proxy.injected["outage"]
        proxy.down, proxy.trip_after = False, None
        proxy.log.clear()
        transfer.pull(clone, "origin", "ds@main")
        second = set(proxy.object_gets())
    assert first and second and not first & second
    assert clone.fsck().ok
    _equal(clone, {k: v for k, v in expected.items() if k[1] == registry.resolve("ds")})
    clone.close()
    TOTAL.update({"outage": outage})
    record("faults", scenario="pull stopped by an outage, then resumed", faults=outage,
           fetched_before=len(first), fetched_after=len(second), refetched=len(first & second), lost=0)


@pytest.mark.parametrize("kind", ["truncate", "corrupt"])
def test_damaged_downloads_never_enter_a_store_or_the_cache(registry, s3_endpoint, tmp_path, monkeypatch, kind):
    monkeypatch.setenv("DSREG_S3_MAX_ATTEMPTS", "2")
    monkeypatch.setenv("DSREG_CACHE", str(tmp_path / "cache"))
    expected = _history(registry, 2)
    url = f"s3://{new_bucket(s3_endpoint)}/team"
    transfer.add_remote(registry, "origin", url, s3_endpoint)
    transfer.push(registry)
    shards = {r.id for r in registry.manifest.all_shards()}
    with FaultProxy(s3_endpoint, rate=1.0, seed=SEED, kinds=(kind,)) as proxy:
        clone, _ = dsreg.Registry.clone(url, tmp_path / "clone", s3_endpoint)
        transfer.remove_remote(clone, "origin")
        transfer.add_remote(clone, "origin", url, proxy.url)
        # every object body arrives damaged: a clear error, and not one byte of it kept
        with pytest.raises(DsregError, match="corrupt|broke off"):
            transfer.pull(clone, "origin", "ds@main")
        with pytest.raises(DsregError, match="corrupt|broke off"):
            clone.load("ds")
        with pytest.raises(DsregError, match="corrupt|broke off"):
            dsreg.load("ds", remote=url, endpoint_url=proxy.url)
        assert not any(clone.store.has(s) for s in shards)
        assert not [p for p in clone.store.root.rglob(".tmp-*")]
        assert not (tmp_path / "cache").exists() or _cache_is_verified(tmp_path / "cache") >= 0
        cached_before = _cache_is_verified(tmp_path / "cache") if (tmp_path / "cache").exists() else 0
        # one in five damaged: retries get good copies, and only good copies are kept
        proxy.rate = 0.2
        transfer.pull(clone, "origin", "ds@main")
        _equal(clone, expected)
        got = dsreg.load("ds", remote=url, endpoint_url=proxy.url)
        assert tables_equal(got, registry.load("ds"))
        injected = proxy.injected[kind]
    assert clone.fsck().ok
    assert _cache_is_verified(tmp_path / "cache") > cached_before
    clone.close()
    TOTAL.update({kind: injected})
    record("faults", scenario=f"every download {dict(truncate='truncated', corrupt='corrupted')[kind]}, then one in five", faults=injected, lost=0)


@pytest.mark.parametrize("what", ["/refs/", "/probes/"])
def test_a_conditional_write_whose_reply_was_lost_is_not_a_lost_race(registry, s3_endpoint, what):
    """The ref update (or the probe's first write) reaches S3 and takes effect, the reply is
    lost, botocore sends it again and that fails its own condition (412): dsreg sees that
    the ref already holds its commit (or the probe key exists) and carries on."""
    registry.commit("ds", make_table(100), message="v1")
    url = f"s3://{new_bucket(s3_endpoint)}/team"
    hits = []

    def once(method, path):
        if method == "PUT" and what in path and not hits:
            hits.append(path)
            return "reset-after"
        return None
    with FaultProxy(s3_endpoint) as proxy:
        proxy.rule = once
        info = transfer.add_remote(registry, "origin", url, proxy.url)
        assert info["conditional_writes"] is True
        pushed = transfer.push(registry)
        assert [r["name"] for r in pushed.refs] == ["main"]
    assert hits, "the fault was never injected"
    TOTAL.update({"reset-after": 1})


def test_fault_figures(full_reliability):
    """Runs last in this module: the total of faults injected, by kind."""
    if TOTAL:
        record("faults", scenario="total", faults=sum(TOTAL.values()),
               **{f"kind_{k}": v for k, v in sorted(TOTAL.items())})
