"""The verbs: one function per command, each taking a Registry and returning values.

Nothing here prints; long work reports through a `Progress`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from dsreg import __version__
from dsreg.errors import UnknownSplit, UsageError
from dsreg.ids import CommitId, ObjectId
from dsreg.progress import NO_PROGRESS, Progress
from dsreg.model.log import LogEntry, log_entries
from dsreg.model.objects import get_commit, get_snapshot, pin, split_snapshot
from dsreg.model.revisions import resolve
from dsreg.model.serialize import Commit, Snapshot, decode_commit, decode_snapshot
from dsreg.rows.snapshots import read_snapshot
from dsreg.versions import commit as versions_commit, refs
from dsreg.versions.commit import DEFAULT_SPLIT, CommitResult, SplitResult, default_author  # noqa: F401 - the API's
from dsreg.versions.describe import describe


# -- commit -----------------------------------------------------------------
def commit(reg, dataset: str, splits: Any, message: str = "", **options: Any) -> CommitResult:
    """Commit `splits` ({split: source}) to `dataset`'s `branch`; other splits carry over.

    Options and steps: versions/commit.py. A commit that fails leaves the registry
    exactly as it was."""
    return versions_commit.commit(reg, dataset, splits, message, **options)


# -- reading ------------------------------------------------------------------
def load(reg, spec: str, split: str = DEFAULT_SPLIT, columns: list[str] | None = None) -> pa.Table:
    rev = resolve(reg, spec)
    c = get_commit(reg, rev.commit_id)
    snap = split_snapshot(reg, c, split, spec)
    if columns is not None:
        unknown = [col for col in columns if col not in snap.schema.names]
        if unknown:
            raise UsageError(f"{spec} split {split!r} has no column {unknown[0]!r}",
                             f"columns: {', '.join(snap.schema.names)}")
    # a clone's data arrives on demand: in parallel
    reg.store.prefetch([snap.shards[i].id for i in dict.fromkeys(snap.run_shard.tolist())])
    table = read_snapshot(reg.store, snap, columns=columns)
    return pin(table, rev.dataset, rev.commit_id, split)


def log(reg, spec: str, n: int | None = None, all_refs: bool = False) -> list[LogEntry]:
    """History from REV, newest first (all parents, by time); with `all_refs`, from every
    branch and tag of REV's dataset."""
    if n is not None and n < 0:
        raise UsageError("-n must be 0 or more")
    rev = resolve(reg, spec)
    if not all_refs:
        return log_entries(reg, rev.commit_id, n)
    heads = dict.fromkeys([rev.commit_id, *(r.commit for r in reg.manifest.refs(rev.dataset))])
    seen = {e.id: e for h in heads for e in log_entries(reg, h)}
    return sorted(seen.values(), key=lambda e: (e.timestamp, e.id), reverse=True)[:n]


def show(reg, spec: str) -> dict:
    return describe(reg, spec)


def ls(reg) -> list[dict]:
    return refs.datasets(reg)


# -- refs ---------------------------------------------------------------------
def branch(reg, dataset: str, new: str | None = None, rev: str | None = None, *, delete: str | None = None,
           force: bool = False):
    return refs.ref_verb(reg, "branch", dataset, new, rev, delete, force)


def tag(reg, dataset: str, new: str | None = None, rev: str | None = None, *, delete: str | None = None,
        force: bool = False):
    return refs.ref_verb(reg, "tag", dataset, new, rev, delete, force)


# -- history verbs -------------------------------------------------------------
def merge(reg, source: str, into: str = "main", **options: Any):
    """Merge NAME@SOURCE into branch `into`; options and result: versions/merge.py."""
    from dsreg.versions.merge import merge as merge_verb
    return merge_verb(reg, source, into, **options)


def revert(reg, spec: str, branch: str | None = None, **options: Any):
    from dsreg.versions.revert import revert as revert_verb
    return revert_verb(reg, spec, branch, **options)


def reset(reg, dataset: str, branch: str, rev: str) -> dict:
    return refs.reset(reg, dataset, branch, rev)


def reflog(reg, dataset: str, ref: str | None = None) -> list[dict]:
    return refs.reflog(reg, dataset, ref)


# -- checkout -------------------------------------------------------------------
CHECKOUT_FORMATS = ("parquet", "csv", "jsonl")


@dataclass
class CheckoutResult:
    commit: CommitId
    files: dict[str, list[str]] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)


def checkout(reg, spec: str, out: str | os.PathLike, split: str | None = None, format: str = "parquet",
             progress: Progress = NO_PROGRESS) -> CheckoutResult:
    from dsreg.rows.export import all_or_nothing, write_split
    if format not in CHECKOUT_FORMATS:
        raise UsageError(f"unknown format {format!r}; use one of {', '.join(CHECKOUT_FORMATS)}")
    rev = resolve(reg, spec)
    c = get_commit(reg, rev.commit_id)
    names = [split] if split else sorted(c.splits)
    snaps = {s: split_snapshot(reg, c, s, spec) for s in names}
    out = Path(out)
    result = CheckoutResult(rev.commit_id)
    # every split folder is checked before the first is written; a failure leaves nothing
    with all_or_nothing(out / s for s in snaps):
        for s, snap in snaps.items():
            progress.start(f"checkout {s}", snap.rows)
            files = write_split(reg.store, snap, out / s, format, progress)
            progress.finish()
            result.files[s] = [str(f) for f in files]
            result.rows[s] = snap.rows
    return result


__all__ = ["commit", "load", "log", "show", "ls", "branch", "tag", "checkout", "merge", "revert", "reset", "reflog", "__version__"]
