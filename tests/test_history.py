"""Walks of the commit graph (model/history.py), over parents dicts of every shape."""
from __future__ import annotations

import sys
from itertools import islice

from dsreg.model.history import (ancestors, first_parent_chain, is_ancestor, merge_base, merge_bases,
                                 newest_first, nth_first_parent)


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


def test_newest_first_orders_by_time_then_id_and_reads_each_commit_once():
    commits = {"a": _C("", 1), "b": _C("a", 2), "c": _C("b", 5), "e": _C("b", 3), "f": _C("e", 5),
               "m": _C("c f", 9)}
    read: list[str] = []

    def load(c):
        read.append(c)
        return commits[c]
    assert [c for c, _ in newest_first(load, "m")] == ["m", "f", "c", "e", "b", "a"]
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
