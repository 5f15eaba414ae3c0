"""Walks of the commit graph (model/history.py): over parents dicts of every shape, and over
real commits, where a merge commit (two parents) must be walked whole by log, push, gc and fsck."""
from __future__ import annotations

import sys
import time
from itertools import islice

import pyarrow as pa
import pytest

import dsreg
from dsreg.ids import CommitId
from dsreg.maintenance import gc as maintenance_gc
from dsreg.maintenance.fsck import fsck
from dsreg.maintenance.reach import reachable
from dsreg.model.history import (
    ancestors,
    first_parent_chain,
    is_ancestor,
    merge_base,
    merge_bases,
    newest_first,
    nth_first_parent,
)
from dsreg.model.objects import commit_parents, get_commit
from dsreg.model.serialize import Commit, encode_commit
from dsreg.remote import transfer
from helpers.tables import make_table


def graph(edges: dict[str, str]):
    """A parents callable from {child: "p1 p2"}, counting how often each commit is asked."""
    asked: dict[str, int] = {}

    def parents(c):
        asked[c] = asked.get(c, 0) + 1
        return tuple(edges[c].split())
    parents.asked = asked
    return parents


#   a - b - c - d            main
#        \
#         e - f              feature
BRANCHED = graph({"a": "", "b": "a", "c": "b", "d": "c", "e": "b", "f": "e"})

#   a - b - c ------ m - n   main: m merges f (first parent c, second parent f)
#        \          /
#         e ----- f
MERGED = {"a": "", "b": "a", "c": "b", "e": "b", "f": "e", "m": "c f", "n": "m", "g": "f"}

#   criss-cross: x and y each merge the other side's first commit
#   r - p1 - x        x = merge(p1, q1)
#     \    X
#      q1 - y         y = merge(q1, p1)
CRISS = {"r": "", "p1": "r", "q1": "r", "x": "p1 q1", "y": "q1 p1"}


# -- ancestors ---------------------------------------------------------------------
def test_ancestors_of_a_linear_history_nearest_first():
    assert list(ancestors(BRANCHED, ["d"])) == ["d", "c", "b", "a"]


def test_ancestors_follow_every_parent_of_a_merge():
    assert list(ancestors(graph(MERGED), ["n"])) == ["n", "m", "c", "f", "b", "e", "a"]


def test_ancestors_with_stop_leave_out_the_stop_and_what_only_it_reaches():
    assert list(ancestors(BRANCHED, ["f"], stop={"b"})) == ["f", "e"]
    # reached another way, a commit past a stop is still walked
    assert set(ancestors(graph(MERGED), ["n"], stop={"c"})) == {"n", "m", "f", "e", "b", "a"}
    assert list(ancestors(BRANCHED, ["d"], stop={"d"})) == []


def test_ancestors_of_several_starts_yield_each_commit_once():
    walked = list(ancestors(BRANCHED, ["d", "f", "d", "c"]))
    assert sorted(walked) == ["a", "b", "c", "d", "e", "f"] and walked[:3] == ["d", "f", "c"]


def test_ancestors_ask_for_parents_only_of_what_was_consumed():
    parents = graph(MERGED)
    assert list(islice(ancestors(parents, ["n"]), 2)) == ["n", "m"]
    assert parents.asked == {"n": 1}
    list(ancestors(parents, ["n"]))
    assert all(v <= 2 for v in parents.asked.values())     # once per walk


# -- first parents -------------------------------------------------------------------
def test_first_parent_chain_ignores_second_parents():
    assert list(first_parent_chain(graph(MERGED), "n")) == ["n", "m", "c", "b", "a"]
    assert list(first_parent_chain(graph(MERGED), "n", stop={"b"})) == ["n", "m", "c"]


def test_nth_first_parent_and_a_history_too_short():
    assert nth_first_parent(BRANCHED, "f", 0) == ("f", 0)
    assert nth_first_parent(BRANCHED, "f", 3) == ("a", 3)
    assert nth_first_parent(BRANCHED, "f", 5) == (None, 3)


def test_first_parent_chain_stops_on_a_loop_a_corrupt_index_could_make():
    assert list(first_parent_chain(graph({"x": "y", "y": "x"}), "x")) == ["x", "y"]


# -- ancestry and merge bases ----------------------------------------------------------
def test_is_ancestor():
    merged = graph(MERGED)
    assert is_ancestor(BRANCHED, "b", "f") and is_ancestor(BRANCHED, "f", "f")
    assert not is_ancestor(BRANCHED, "c", "f") and not is_ancestor(BRANCHED, "f", "b")
    assert is_ancestor(merged, "e", "n")           # only through the merge's second parent


def test_merge_base_of_diverged_branches():
    assert merge_base(BRANCHED, "d", "f") == "b" and merge_base(BRANCHED, "f", "d") == "b"


def test_merge_base_when_one_side_contains_the_other():
    assert merge_base(BRANCHED, "b", "d") == "b" and merge_base(BRANCHED, "d", "b") == "b"
    assert merge_base(BRANCHED, "d", "d") == "d"


def test_merge_base_after_a_merge_is_the_merged_tip():
    # feature went on (g) after main merged it (m): the base is f, not the old fork point b
    assert merge_bases(graph(MERGED), "n", "g") == ["f"]


def test_criss_cross_merges_have_two_merge_bases():
    assert sorted(merge_bases(graph(CRISS), "x", "y")) == ["p1", "q1"]
    assert merge_base(graph(CRISS), "x", "y") in ("p1", "q1")


def test_unrelated_histories_have_no_merge_base():
    parents = graph({"a": "", "b": "a", "x": "", "y": "x"})
    assert merge_bases(parents, "b", "y") == [] and merge_base(parents, "b", "y") is None


# -- newest first (log) ------------------------------------------------------------------
class _C:
    def __init__(self, parents, timestamp):
        self.parents, self.timestamp = tuple(parents.split()), timestamp


def test_newest_first_orders_by_time_then_discovery_and_reads_each_commit_once():
    commits = {"a": _C("", 1), "b": _C("a", 2), "c": _C("b", 5), "e": _C("b", 3), "f": _C("e", 5),
               "m": _C("c f", 9)}
    read: list[str] = []

    def load(c):
        read.append(c)
        return commits[c]
    # c and f share a second: c, the first parent of m, was found first
    assert [c for c, _ in newest_first(load, "m")] == ["m", "c", "f", "e", "b", "a"]
    assert sorted(read) == sorted(commits)
    read.clear()
    assert [c for c, _ in islice(newest_first(load, "m"), 1)] == ["m"] and read == ["m"]


# -- deep histories -----------------------------------------------------------------------
def test_deep_histories_do_not_recurse():
    n = 5 * sys.getrecursionlimit()
    edges = {str(i): str(i - 1) if i else "" for i in range(n)}
    edges["side"] = str(n // 2)
    parents = graph(edges)
    top = str(n - 1)
    assert sum(1 for _ in ancestors(parents, [top])) == n
    assert sum(1 for _ in first_parent_chain(parents, top)) == n
    assert merge_base(parents, top, "side") == str(n // 2)
    assert is_ancestor(parents, "0", top)
    commits = {c: _C(p, int(c) if c.isdigit() else 0) for c, p in edges.items()}
    assert sum(1 for _ in newest_first(commits.__getitem__, top)) == n


# -- over real commits ----------------------------------------------------------------------
def _table(n: int, seed: int) -> pa.Table:
    return make_table(n, seed=seed)


@pytest.fixture
def merged(registry):
    """main: v1 - v2 - M, where M merges branch side (v1 - s1 - s2) as its second parent.
    The merge commit is written by hand (merge itself comes later), then `side` is deleted,
    so s1 and s2 are reachable only through M's second parent."""
    reg = registry
    v1 = reg.commit("ds", {"train": _table(300, 1)}, message="v1").id
    reg.branch("ds", "side")
    s1 = reg.commit("ds", {"train": _table(300, 2)}, message="s1", branch="side").id
    s2 = reg.commit("ds", {"train": _table(300, 3), "test": _table(50, 4)}, message="s2", branch="side").id
    v2 = reg.commit("ds", {"train": _table(300, 5)}, message="v2").id
    m = reg.manifest
    head = get_commit(reg, v2)
    merge = Commit(dataset="ds", parents=(CommitId(v2), CommitId(s2)),
                   splits={**get_commit(reg, s2).splits, **head.splits}, message="merge side",
                   author="t", timestamp=int(time.time()) + 10)
    mid, _ = reg.store.put(encode_commit(merge))
    with m.transaction():
        m.add_commit(CommitId(mid), merge)
        m.set_ref("ds", "branch", "main", CommitId(mid), CommitId(v2), "merge side")
    reg.branch("ds", delete="side")
    return {"v1": v1, "s1": s1, "s2": s2, "v2": v2, "merge": CommitId(mid)}


def test_log_shows_both_sides_of_a_merge(registry, merged):
    ids = [e.id for e in registry.log("ds")]
    assert ids[0] == merged["merge"] and set(ids) == set(merged.values()) and len(ids) == 5
    assert registry.resolve("ds@main~1") == merged["v2"] and registry.resolve("ds@main~2") == merged["v1"]   # first parents


def test_merge_base_and_ancestry_over_the_manifest(registry, merged):
    parents = commit_parents(registry)
    assert merge_base(parents, merged["v2"], merged["s2"]) == merged["v1"]
    assert merge_base(parents, merged["merge"], merged["s1"]) == merged["s1"]
    assert transfer.is_ancestor(registry, merged["s1"], merged["merge"])
    assert not transfer.is_ancestor(registry, merged["merge"], merged["s1"])


def test_gc_and_fsck_keep_what_only_a_second_parent_reaches(registry, merged):
    live = reachable(registry)
    assert {merged["s1"], merged["s2"]} <= live.commits
    maintenance_gc.gc(registry, grace_seconds=0)
    assert registry.store.has(merged["s1"]) and registry.store.has(merged["s2"])
    assert fsck(registry).ok
    assert registry.load(f"ds@{merged['s2']}", split="test").num_rows == 50


def test_push_uploads_a_merge_with_its_second_parent_history(registry, merged, tmp_path):
    from dsreg.maintenance.remote import fsck_remote
    (tmp_path / "remote").mkdir()
    url = f"file://{tmp_path / 'remote'}"
    transfer.add_remote(registry, "origin", url)
    transfer.push(registry)
    assert fsck_remote(registry, "origin").ok
    clone, _ = dsreg.Registry.clone(url, tmp_path / "clone")
    try:
        assert [e.id for e in clone.log("ds")] == [e.id for e in registry.log("ds")]
        assert clone.load(f"ds@{merged['s1']}").equals(registry.load(f"ds@{merged['s1']}"))
    finally:
        clone.close()
