"""Branches and tags: listing, creating (or moving, with `force`) and deleting them.

Refs move in manifest transactions, by compare-and-swap on the value read in the same
transaction, each move with its reflog entry.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from dsreg.errors import CreateAndDelete, RefAlreadyExists, UnknownDataset, UnknownRevision, UsageError
from dsreg.ids import CommitId
from dsreg.jsonvalues import JsonFields
from dsreg.manifest.rows import RefKind
from dsreg.model.revisions import resolve
from dsreg.names import check_dataset_syntax, check_ref_name

if TYPE_CHECKING:
    from dsreg.manifest.rows import ReflogEntry
    from dsreg.registry import Registry


@dataclass(frozen=True)
class CreatedRef(JsonFields):
    name: str
    commit: CommitId


@dataclass(frozen=True)
class DeletedRef(JsonFields):
    deleted: str            # the ref's name
    was: CommitId           # where it pointed


@dataclass(frozen=True)
class DatasetRefs(JsonFields):
    name: str
    branches: dict[str, CommitId]
    tags: dict[str, CommitId]


def ref_verb(reg: Registry, kind: RefKind, dataset: str, new: str | None = None, rev: str | None = None,
             delete: str | None = None, force: bool = False) -> dict[str, CommitId] | CreatedRef | DeletedRef:
    """`kind` ("branch" or "tag") of `dataset`: {name: commit} of them all, without `new`
    or `delete`; else create `new` at `rev`, or delete `delete`."""
    _existing(reg, dataset)
    if delete is not None:
        if new is not None:
            raise CreateAndDelete(kind)
        return delete_ref(reg, kind, dataset, delete)
    if new is None:
        return list_refs(reg, kind, dataset)
    return create_ref(reg, kind, dataset, new, rev, force=force)


def list_refs(reg: Registry, kind: RefKind, dataset: str) -> dict[str, CommitId]:
    _existing(reg, dataset)
    return {r.name: r.commit for r in reg.manifest.refs(dataset, kind)}


def create_ref(reg: Registry, kind: RefKind, dataset: str, name: str, rev: str | None = None, *,
               force: bool = False) -> CreatedRef:
    """Create `name` at `rev` (a branch, tag or commit of `dataset`; default main); with
    `force`, move it there if it exists."""
    _existing(reg, dataset)
    check_ref_name(name, kind)
    if rev and "@" in rev:
        # `dsreg tag ds v1 ds@main` is a natural slip: REV belongs to the same dataset
        named, _, rest = rev.partition("@")
        if named != dataset:
            raise UsageError(f"{kind} {name!r} of dataset {dataset!r} cannot point into dataset {named!r}",
                             f"give REV without NAME@ (a branch, tag or commit of {dataset!r})")
        rev = rest
    target = resolve(reg, f"{dataset}@{rev}" if rev else dataset).commit_id
    m = reg.manifest
    with m.transaction():
        old = m.ref(dataset, kind, name)
        if old is not None and not force:
            raise RefAlreadyExists(kind, dataset, name, old)
        m.set_ref(dataset, kind, name, target, old, f"{kind}: create from {rev or 'main'}")
    return CreatedRef(name, target)


def delete_ref(reg: Registry, kind: RefKind, dataset: str, name: str) -> DeletedRef:
    """Delete branch or tag `name` (never main)."""
    _existing(reg, dataset)
    if kind == "branch" and name == "main":
        raise UsageError("the main branch cannot be deleted")
    m = reg.manifest
    with m.transaction():
        old = m.delete_ref(dataset, kind, name)
    return DeletedRef(name, old)


def reset(reg, dataset: str, branch: str, rev: str) -> dict:
    """Move `branch` to `rev` (a revision of `dataset`), whatever it held: the reflog
    keeps the old head, so `reset` is undone by another. {"branch", "was", "now"}."""
    _existing(reg, dataset)
    check_ref_name(branch, "branch")
    if "@" in rev and rev.partition("@")[0] != dataset:
        raise UsageError(f"branch {branch!r} of dataset {dataset!r} cannot point into dataset "
                         f"{rev.partition('@')[0]!r}")
    target = resolve(reg, rev if "@" in rev else f"{dataset}@{rev}").commit_id
    m = reg.manifest
    with m.transaction():
        old = m.ref(dataset, "branch", branch)
        if old is None:
            raise UnknownRevision(f"{dataset}@{branch}", "no such branch")
        m.set_ref(dataset, "branch", branch, target, old, f"reset: moving to {rev}")
    return {"branch": branch, "was": old, "now": target}


def reflog(reg: Registry, dataset: str, ref: str | None = None) -> list[ReflogEntry]:
    """How the refs of `dataset` moved, newest first: [{"ref", "old", "new", "at",
    "message"}]; `ref` ("main", or "tag:v1") narrows it to one ref (a name alone is a branch)."""
    _existing(reg, dataset)
    if ref is not None and ":" not in ref:
        ref = f"branch:{ref}"
    return reg.manifest.reflog(dataset, ref)


def datasets(reg: Registry) -> list[DatasetRefs]:
    """Every dataset with its branches and tags."""
    m = reg.manifest
    out = []
    for name in m.datasets():
        branches = {r.name: r.commit for r in m.refs(name, "branch")}
        tags = {r.name: r.commit for r in m.refs(name, "tag")}
        out.append(DatasetRefs(name, branches, tags))
    return out


def _existing(reg: Registry, dataset: str) -> None:
    check_dataset_syntax(dataset)       # an existing dataset, whatever name an older dsreg gave it
    if not reg.manifest.has_dataset(dataset):
        raise UnknownDataset(dataset)


__all__ = ["CreatedRef", "DeletedRef", "DatasetRefs", "ref_verb", "list_refs", "create_ref", "delete_ref", "reset",
           "reflog", "datasets"]
