"""Replaying local commits on top of a remote head (`dsreg pull --rebase`).

A commit's change is which splits it replaced, added or dropped relative to its first
parent (and its metadata). Replaying it onto another head applies the same split changes
there. Both sides changing the same split is a conflict: nothing moves, and the error
says which split.
"""
from __future__ import annotations

import time
from collections.abc import Container
from typing import TYPE_CHECKING

from dsreg.errors import RebaseConflict
from dsreg.ids import CommitId
from dsreg.model.history import first_parent_chain, merge_base
from dsreg.model.objects import commit_parents, get_commit
from dsreg.model.serialize import Commit, encode_commit

if TYPE_CHECKING:
    from dsreg.registry import Registry


def _first_parent_chain(reg: Registry, start: CommitId, stop: Container[CommitId]) -> list[CommitId]:
    """`start` and its first parents down to (not including) `stop`, oldest first."""
    return list(first_parent_chain(commit_parents(reg), start, stop))[::-1]


def rebase_onto(reg: Registry, dataset: str, branch: str, local: CommitId, target: CommitId) -> CommitId:
    # a commit unreadable here ends its line of history, as push and pull treat it
    base = merge_base(commit_parents(reg, missing_ok=True), local, target)
    stop: set[CommitId] = {base} if base else set()
    mine = _first_parent_chain(reg, local, stop)
    theirs_changed = _changed_splits(reg, target, base)
    new_head = target
    replayed = []
    for cid in mine:
        c = get_commit(reg, cid)
        parent = get_commit(reg, c.parents[0]) if c.parents else None
        before = parent.splits if parent else {}
        changed = {s for s in set(before) | set(c.splits) if before.get(s) != c.splits.get(s)}
        clash = sorted(changed & theirs_changed)
        if clash:
            raise RebaseConflict(dataset, branch, cid, clash[0], target)
        head = get_commit(reg, new_head)
        splits = dict(head.splits)
        for s in changed:
            if s in c.splits:
                splits[s] = c.splits[s]
            else:
                splits.pop(s, None)
        replayed.append(Commit(dataset=dataset, parents=(new_head,), splits=splits, message=c.message,
                               author=c.author, timestamp=int(time.time()), metadata=c.metadata))
        data = encode_commit(replayed[-1])
        new_head = CommitId(reg.store.put(data)[0])
        theirs_changed |= changed
    m = reg.manifest
    with m.transaction():
        for commit in replayed:
            m.add_commit(CommitId(reg.store.put(encode_commit(commit))[0]), commit)
        m.set_ref(dataset, "branch", branch, new_head, local, f"pull --rebase onto {target[:12]}")
    return new_head


def _changed_splits(reg: Registry, head: CommitId, base: CommitId | None) -> set[str]:
    changed: set[str] = set()
    for cid in _first_parent_chain(reg, head, {base} if base else set()):
        c = get_commit(reg, cid)
        parent = get_commit(reg, c.parents[0]) if c.parents else None
        before = parent.splits if parent else {}
        changed |= {s for s in set(before) | set(c.splits) if before.get(s) != c.splits.get(s)}
    return changed
