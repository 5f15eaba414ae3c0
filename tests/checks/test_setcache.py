"""The sorted-hash cache of set rules: derived exactly, used at commit, safe to lose, and
ignored when made for another snapshot or fingerprint scheme."""
from __future__ import annotations

import shutil

import numpy as np
import pyarrow as pa
import pytest

import dsreg.checks.evaluate as evaluate_module
from dsreg import checks
from dsreg.checks import setcache
from dsreg.checks.evaluate import Version, _Evaluator
from dsreg.checks.setcache import FINGERPRINTS
from dsreg.checks.verify import commit_split_ids, commit_splits, hash_cache
from dsreg.errors import CheckFailed
from dsreg.registry import Registry

N = 3000
BASE = pa.table({"id": np.arange(N), "label": np.array(["a", "b", "c"])[np.arange(N) % 3],
                 "score": np.linspace(0, 1, N)})
TEST = pa.table({"id": np.arange(10**6, 10**6 + 30), "label": ["a"] * 30, "score": [0.5] * 30})
SET_RULES = ["unique id", "no-duplicates", "no-leakage"]


def edited(seed: int) -> pa.Table:
    """A scattered edit of 1% of the labels, some rows deleted and some appended."""
    rng = np.random.default_rng(seed)
    labels = BASE["label"].to_numpy(zero_copy_only=False).copy()
    labels[rng.choice(N, N // 100, replace=False)] = "z"
    t = BASE.set_column(1, "label", pa.array(labels))
    keep = np.ones(N, bool)
    keep[rng.choice(N, 10, replace=False)] = False
    more = pa.table({"id": np.arange(N, N + 20), "label": ["b"] * 20, "score": [0.1] * 20})
    return pa.concat_tables([t.filter(pa.array(keep)), more])


@pytest.fixture
def reg(tmp_path):
    r = Registry.init(tmp_path / "r")
    r.commit("d", {"train": BASE, "test": TEST}, message="base", keys=["id"])
    for rule in SET_RULES:
        checks.add_check(r, "d", rule)
    yield r
    r.close()


def full_hashes(reg, commit: str, what) -> np.ndarray:
    """The split's row hashes computed from every row, no cache involved."""
    ev = _Evaluator(reg.store, Version("d", commit_splits(reg, commit) or {}, ("id",), incremental=False))
    return ev.fingerprints("train") if what == FINGERPRINTS else ev.hashes("train", list(what[1:]))


def cached(reg, commit: str, what):
    snap = (commit_splits(reg, commit) or {})["train"]
    return setcache.load(hash_cache(reg), (commit_split_ids(reg, commit) or {})["train"], what, snap)


@pytest.mark.parametrize("what", [FINGERPRINTS, ("columns", "id")], ids=["fingerprints", "keys"])
def test_a_commit_derives_exactly_the_hashes_of_every_row(reg, what):
    for seed in range(3):       # each commit starts from the one before
        reg.commit("d", {"train": edited(seed)}, message=f"edit {seed}")
        got = cached(reg, reg.resolve("d"), what)
        assert got is not None
        hashes = full_hashes(reg, reg.resolve("d"), what)
        assert np.array_equal(got.values, np.sort(hashes))
        assert np.array_equal(hashes[got.order], got.values)
        assert sorted(got.order.tolist()) == list(range(len(hashes)))


def test_a_commit_with_the_cache_reads_no_whole_column(reg, monkeypatch):
    def whole(*a, **k):
        raise AssertionError("read every row of a split")
    monkeypatch.setattr(evaluate_module, "read_snapshot", whole)
    reg.commit("d", {"train": edited(0)}, message="edit")       # passes from the cache alone
    assert cached(reg, reg.resolve("d"), ("columns", "id")) is not None


@pytest.mark.parametrize("bad,counts", [
    (lambda: pa.concat_tables([edited(0), edited(0).slice(N + 8, 2)]), {"unique id": 2, "no-duplicates": 2}),
    (lambda: pa.concat_tables([edited(0), TEST.slice(0, 3)]), {"no-leakage": 6}),
], ids=["duplicates", "leak"])
def test_a_lost_cache_gives_the_same_verdicts_and_counts(reg, bad, counts):
    def attempt() -> dict:
        with pytest.raises(CheckFailed) as e:
            reg.commit("d", {"train": bad()}, message="bad")
        return {"results": [r.to_json() for r in e.value.report.results]}
    with_cache = attempt()
    shutil.rmtree(hash_cache(reg))
    without = attempt()
    assert with_cache == without
    failed = {r["rule"] for r in with_cache["results"] if not r["ok"]}
    assert {k: sum(r["violations"] for r in with_cache["results"] if r["rule"] == k) for k in failed} == counts
    reg.commit("d", {"train": edited(1)}, message="good, no cache to start from")      # computes it again
    assert cached(reg, reg.resolve("d"), ("columns", "id")) is not None


def test_a_cache_of_another_snapshot_or_scheme_is_ignored(reg, monkeypatch):
    folder = hash_cache(reg)
    first = reg.resolve("d")
    reg.commit("d", {"train": edited(0)}, message="edit")
    second = reg.resolve("d")
    what = ("columns", "id")
    a, b = (commit_split_ids(reg, c)["train"] for c in (first, second))
    assert cached(reg, second, what) is not None
    # another snapshot's file under this one's name: its header names the other
    shutil.copy(setcache._path(folder, a, what), setcache._path(folder, b, what))
    assert cached(reg, second, what) is None
    # a damaged file
    setcache._path(folder, b, what).write_bytes(b"not a cache")
    assert cached(reg, second, what) is None
    # another fingerprint scheme: neither the file nor its name is trusted
    setcache.save(folder, b, what, setcache.of_hashes(full_hashes(reg, second, what)))
    assert cached(reg, second, what) is not None
    monkeypatch.setattr(setcache, "SCHEME", "rowfp-other")
    assert cached(reg, second, what) is None


def test_a_foreign_cache_cannot_pass_a_bad_version(reg):
    """A parent cache that lies (claims the duplicate's id is not there) is not made: the
    cache is keyed by content; a planted file for the wrong snapshot is ignored, so the
    duplicate is still found."""
    folder = hash_cache(reg)
    base = reg.resolve("d")
    sid = commit_split_ids(reg, base)["train"]
    snap = commit_splits(reg, base)["train"]
    fake = setcache.of_hashes(np.arange(snap.rows, dtype=np.uint64))       # hashes of no real row
    path = setcache._path(folder, sid, ("columns", "id"))
    path.write_bytes(b"{}\n" + fake.values.tobytes() + fake.order.tobytes())
    with pytest.raises(CheckFailed) as e:
        reg.commit("d", {"train": pa.concat_tables([BASE, BASE.slice(0, 1)])}, message="dup")
    assert {r.rule: r.violations for r in e.value.report.results if not r.ok} == {"unique id": 1, "no-duplicates": 1}


def test_the_folder_keeps_only_the_newest_files(reg, monkeypatch):
    monkeypatch.setattr(setcache, "KEEP", 2)
    for seed in range(3):
        reg.commit("d", {"train": edited(seed)}, message=f"edit {seed}")
    files = list(hash_cache(reg).glob("*.hashes"))
    assert len(files) == 2
    head = commit_split_ids(reg, reg.resolve("d"))
    assert any(f.name.startswith(head["train"]) for f in files)     # the newest, the next commit's start


def test_a_refused_commit_leaves_no_hash_file_behind(reg):
    """The new version's sorted hashes are written only once it is recorded: a commit the
    set rules refuse leaves the registry's folder exactly as it was, cache included."""
    from tests.helpers.reliability import tree_hash
    reg.commit("d", {"train": edited(1)}, message="good")          # the parent's hashes are kept
    before = tree_hash(reg.dir)
    dup = edited(2)
    dup = pa.concat_tables([dup, dup.slice(0, 1)])                   # a repeated row and id
    with pytest.raises(CheckFailed):
        reg.commit("d", {"train": dup}, message="bad")
    assert tree_hash(reg.dir) == before
    reg.commit("d", {"train": edited(3)}, message="good again")
    head = reg.show("d").id
    assert cached(reg, head, FINGERPRINTS) is not None              # kept once recorded
