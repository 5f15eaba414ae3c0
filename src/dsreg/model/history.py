"""Walks of the commit graph: ancestors, the first-parent chain, ancestry, merge bases, and
history newest first.

Every walk runs over a `parents(commit_id)` callable rather than a registry, because the
graph is read from different places: the manifest, the local store's objects (fsck and gc
walk the objects, not the index), a remote's objects (remote fsck and gc). A walk follows
every parent, not only the first, so merge commits are walked whole. Walks are iterative
(a deep history never meets the recursion limit) and lazy: each commit's parents are asked
for only once the walk has yielded it, so a caller that stops early reads no further.
"""
from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable, Container, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Protocol, TypeVar

from dsreg.ids import CommitId

Parents = Callable[[CommitId], Sequence[CommitId]]


def ancestors(parents: Parents, starts: Iterable[CommitId], stop: Container[CommitId] = ()) -> Iterator[CommitId]:
    """The starts and every commit they reach through any parent, each once, breadth-first
    (nearest first). A commit in `stop` is neither yielded nor walked through; anything
    with `__contains__` will do (a set, or an object that asks the manifest)."""
    queue = deque(dict.fromkeys(starts))
    seen = set(queue)
    while queue:
        cid = queue.popleft()
        if cid in stop:
            continue
        yield cid
        for p in parents(cid):
            if p not in seen:
                seen.add(p)
                queue.append(p)


def first_parent_chain(parents: Parents, start: CommitId, stop: Container[CommitId] = ()) -> Iterator[CommitId]:
    """`start`, its first parent, that one's first parent, ... (`start~0`, `start~1`, ...),
    ending at a commit with no parents or before the first commit in `stop`."""
    seen: set[CommitId] = set()
    cid: CommitId | None = start
    while cid is not None and cid not in stop and cid not in seen:   # a loop: only a corrupt index
        seen.add(cid)
        yield cid
        ps = parents(cid)
        cid = ps[0] if ps else None


def nth_first_parent(parents: Parents, start: CommitId, n: int) -> tuple[CommitId | None, int]:
    """(`start~n`, n), or (None, how many first parents `start` has) when it has fewer."""
    chain = list(islice(first_parent_chain(parents, start), n + 1))
    return (chain[-1], n) if len(chain) > n else (None, len(chain) - 1)


def is_ancestor(parents: Parents, ancestor: CommitId, descendant: CommitId) -> bool:
    """Whether `descendant` reaches `ancestor`; a commit is its own ancestor (as git's
    `merge-base --is-ancestor`)."""
    return any(c == ancestor for c in ancestors(parents, [descendant]))


def merge_bases(parents: Parents, a: CommitId, b: CommitId) -> list[CommitId]:
    """The lowest common ancestors of `a` and `b`: common ancestors that no other common
    ancestor has as an ancestor. One for histories without merges; several only after
    criss-cross merges. Nearest to `b` first."""
    ours = set(ancestors(parents, [a]))
    common = [c for c in ancestors(parents, [b]) if c in ours]
    # every ancestor of a common ancestor is common too, so the ones below some other
    # common ancestor are exactly those the common ones' parents reach
    below = set(ancestors(parents, [p for c in common for p in parents(c)]))
    return [c for c in common if c not in below]


def merge_base(parents: Parents, a: CommitId, b: CommitId) -> CommitId | None:
    """One lowest common ancestor of `a` and `b` (the nearest to `b`), or None when their
    histories never meet."""
    bases = merge_bases(parents, a, b)
    return bases[0] if bases else None


class Dated(Protocol):
    # read-only: frozen dataclasses (Commit) satisfy it
    @property
    def parents(self) -> Sequence[CommitId]: ...

    @property
    def timestamp(self) -> int: ...


D = TypeVar("D", bound=Dated)


@dataclass(frozen=True)
class _Newest:
    """Heap key: newer first; in the same second, the one found first (nearer the start:
    commits made in one second keep children before parents, as `git log` shows them)."""
    timestamp: int
    found: int
    cid: CommitId

    def __lt__(self, other: _Newest) -> bool:
        return (-self.timestamp, self.found) < (-other.timestamp, other.found)


def newest_first(read: Callable[[CommitId], D], start: CommitId) -> Iterator[tuple[CommitId, D]]:
    """`start` and its ancestors (all parents) as (id, commit), newest first by timestamp
    (ties: the one found first), each read once, and each only once a child of it was yielded."""
    pending = {start: read(start)}
    seen = {start}
    heap = [_Newest(pending[start].timestamp, 0, start)]
    while heap:
        cid = heapq.heappop(heap).cid
        c = pending.pop(cid)
        yield cid, c
        for p in c.parents:
            if p not in seen:
                seen.add(p)
                pending[p] = read(p)
                heapq.heappush(heap, _Newest(pending[p].timestamp, len(seen), p))


__all__ = ["Parents", "ancestors", "first_parent_chain", "nth_first_parent", "is_ancestor", "merge_bases",
           "merge_base", "newest_first"]
