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
def commit(reg, dataset: str, splits: Any, message: str = "", *, no_verify: bool = False,
           **options: Any) -> CommitResult:
    """Commit `splits` ({split: source}) to `dataset`'s `branch`; other splits carry over.

    Options and steps: versions/commit.py. The version must keep the branch's checks
    (CheckFailed otherwise) unless `no_verify`. A commit that fails leaves the registry
    exactly as it was."""
    from dsreg.checks.verify import CommitVerifier, record_result
    verifier = None if no_verify else CommitVerifier(reg)
    result = versions_commit.commit(reg, dataset, splits, message, verify=verifier, **options)
    if verifier is not None and verifier.report is not None and not result.unchanged:
        record_result(reg, verifier.report.for_commit(result.id))
    return result


def verify_merge(reg, dataset: str, branch: str, splits: dict, parent_id: str | None,
                 keys: tuple[str, ...] = ()):
    """For merge: hold the merged version ({split: snapshot id or Snapshot}) to `branch`'s
    checks before it is recorded; raises CheckFailed. Rows on `parent_id`'s shards (the
    branch merged into) count as checked. Returns the report (None: no checks)."""
    from dsreg.checks.verify import verify_version
    return verify_version(reg, dataset, branch, splits, parent_id, keys, action="merge")


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


def log(reg, spec: str, n: int | None = None) -> list[LogEntry]:
    """History from REV, newest first (all parents, by time)."""
    if n is not None and n < 0:
        raise UsageError("-n must be 0 or more")
    return log_entries(reg, resolve(reg, spec).commit_id, n)


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


__all__ = ["commit", "verify_merge", "load", "log", "show", "ls", "branch", "tag", "checkout", "__version__"]
