"""The verbs: one function per command, each taking a Registry and returning values.

Nothing here prints; long work reports through a `Progress`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from dsreg.errors import UsageError
from dsreg.ids import CommitId
from dsreg.model.log import LogEntry, log_entries
from dsreg.model.objects import get_commit, pin, split_snapshot
from dsreg.model.revisions import resolve
from dsreg.progress import NO_PROGRESS, Progress
from dsreg.rows.snapshots import read_snapshot, wanted_columns
from dsreg.version import __version__
from dsreg.versions import commit as versions_commit
from dsreg.versions import refs
from dsreg.versions.commit import DEFAULT_SPLIT, CommitResult, SplitResult, default_author  # noqa: F401 - the API's
from dsreg.versions.describe import VersionInfo, describe
from dsreg.versions.refs import CreatedRef, DatasetRefs, DeletedRef

if TYPE_CHECKING:
    from dsreg.manifest.rows import ReflogEntry
    from dsreg.registry import Registry


# -- commit -----------------------------------------------------------------
def commit(reg: Registry, dataset: str, splits: Any, message: str = "", *, no_verify: bool = False,
           **options: Any) -> CommitResult:
    """Commit `splits` ({split: source}) to `dataset`'s `branch`; other splits carry over.

    Options and steps: versions/commit.py. The version must keep the branch's checks
    (CheckFailed otherwise) unless `no_verify`. A commit that fails leaves the registry
    exactly as it was."""
    from dsreg.checks.verify import CommitVerifier
    verifier = None if no_verify else CommitVerifier(reg)
    result = versions_commit.commit(reg, dataset, splits, message, verify=verifier, **options)
    if verifier is not None and not result.unchanged:
        verifier.recorded(result.id, "commit")
    return result


# -- reading ------------------------------------------------------------------
def load(reg: Registry, spec: str, split: str = DEFAULT_SPLIT, columns: list[str] | None = None) -> pa.Table:
    rev = resolve(reg, spec)
    c = get_commit(reg, rev.commit_id)
    snap = split_snapshot(reg, c, split, spec)
    columns = wanted_columns(columns, snap.schema, f"{spec} split {split!r}")
    # a clone's data arrives on demand: in parallel
    reg.store.prefetch([snap.shards[i].id for i in dict.fromkeys(snap.run_shard.tolist())])
    table = read_snapshot(reg.store, snap, columns=columns)
    return pin(table, rev.dataset, rev.commit_id, split)


def log(reg: Registry, spec: str, n: int | None = None, all_refs: bool = False) -> list[LogEntry]:
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


def show(reg: Registry, spec: str) -> VersionInfo:
    return describe(reg, spec)


def ls(reg: Registry) -> list[DatasetRefs]:
    return refs.datasets(reg)


# -- refs ---------------------------------------------------------------------
def branch(reg: Registry, dataset: str, new: str | None = None, rev: str | None = None, *, delete: str | None = None,
           force: bool = False) -> dict[str, CommitId] | CreatedRef | DeletedRef:
    """The branches of `dataset` ({name: commit}); with `new`, create it at `rev`; with
    `delete`, delete that one."""
    return refs.ref_verb(reg, "branch", dataset, new, rev, delete, force)


def tag(reg: Registry, dataset: str, new: str | None = None, rev: str | None = None, *, delete: str | None = None,
        force: bool = False) -> dict[str, CommitId] | CreatedRef | DeletedRef:
    """The tags of `dataset` ({name: commit}); with `new`, create it at `rev`; with
    `delete`, delete that one."""
    return refs.ref_verb(reg, "tag", dataset, new, rev, delete, force)


# -- history verbs -------------------------------------------------------------
def merge(reg, source: str, into: str = "main", *, no_verify: bool = False, **options: Any):
    """Merge NAME@SOURCE into branch `into`; options and result: versions/merge.py. The
    version `into` would hold (merged, or fast-forwarded to) must keep its checks
    (CheckFailed otherwise, nothing recorded) unless `no_verify`."""
    from dsreg.checks.verify import CommitVerifier
    from dsreg.versions.merge import merge as merge_verb
    verifier = None if no_verify else CommitVerifier(reg, "merge")
    result = merge_verb(reg, source, into, verify=verifier, **options)
    _record_checked(reg, verifier, result, "merge")
    return result


def revert(reg, spec: str, branch: str | None = None, *, no_verify: bool = False, **options: Any):
    """A commit undoing `spec`'s changes; held to the branch's checks as a merge is."""
    from dsreg.checks.verify import CommitVerifier
    from dsreg.versions.revert import revert as revert_verb
    verifier = None if no_verify else CommitVerifier(reg, "revert")
    result = revert_verb(reg, spec, branch, verify=verifier, **options)
    _record_checked(reg, verifier, result, "revert")
    return result


def _record_checked(reg, verifier, result, by: str) -> None:
    """The report of a merge or revert that moved the branch, as its head's last result."""
    if verifier is not None and not result.dry_run and not result.up_to_date:
        verifier.recorded(result.id, by)


def reset(reg, dataset: str, branch: str, rev: str) -> dict:
    return refs.reset(reg, dataset, branch, rev)


def reflog(reg: Registry, dataset: str, ref: str | None = None) -> list[ReflogEntry]:
    return refs.reflog(reg, dataset, ref)


# -- checkout -------------------------------------------------------------------
CHECKOUT_FORMATS = ("parquet", "csv", "jsonl")


@dataclass
class CheckoutResult:
    commit: CommitId
    files: dict[str, list[str]] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)


def checkout(reg: Registry, spec: str, out: str | os.PathLike, split: str | None = None, format: str = "parquet",
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


# -- the DVC bridge (src/dsreg/integrations/dvc/) ----------------------------------------
def import_dvc(reg, repo: str | os.PathLike, path: str, dataset: str, **options: Any):
    """The history of a DVC-tracked file or folder as commits of `dataset` (see integrations/dvc)."""
    from dsreg.integrations.dvc import import_dvc as run
    return run(reg, repo, path, dataset, **options)


def export_dvc(reg, spec: str, repo: str | os.PathLike, path: str, **options: Any):
    """A version written into a DVC repository as data DVC tracks."""
    from dsreg.integrations.dvc import export_dvc as run
    return run(reg, spec, repo, path, **options)


def add_remote_from_dvc(reg, name: str, repo: str | os.PathLike, dvc_remote: str | None = None) -> dict:
    """A DVC remote's URL and endpoint as dsreg remote `name`, under its own prefix."""
    from dsreg.integrations.dvc import remote_from_dvc
    return remote_from_dvc(reg, name, repo, dvc_remote)


# -- lock: the project's pinned versions (dsreg.lock; built in remote/pinned.py) -----------
def lock_add(reg, spec: str, alias: str | None = None, remote: str | None = None):
    from dsreg.remote import pinned
    return pinned.lock_add(reg, spec, alias=alias, remote=remote)


def lock_update(reg, alias: str | None = None):
    from dsreg.remote import pinned
    return pinned.lock_update(reg, alias)


def lock_verify(reg):
    from dsreg.remote import pinned
    return pinned.lock_verify(reg)


def lock_list(reg=None):
    from dsreg.remote import pinned
    return pinned.lock_list(reg)


__all__ = ["commit", "load", "log", "show", "ls", "branch", "tag", "checkout", "import_dvc", "export_dvc",
           "add_remote_from_dvc", "lock_add", "lock_update", "lock_verify", "lock_list",
           "merge", "revert", "reset", "reflog",
           "__version__"]
