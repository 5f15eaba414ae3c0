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
from dsreg.errors import RefExists, UnknownSplit, UsageError
from dsreg.ids import CommitId, ObjectId
from dsreg.names import check_dataset_name, check_ref_name
from dsreg.progress import NO_PROGRESS, Progress
from dsreg.model.revisions import resolve
from dsreg.model.serialize import Commit, Snapshot, decode_commit, decode_snapshot
from dsreg.rows.snapshots import read_snapshot
from dsreg.versions import commit as versions_commit
from dsreg.versions.commit import DEFAULT_SPLIT, CommitResult, SplitResult, default_author  # noqa: F401 - the API's


# -- reading objects ----------------------------------------------------------
def get_commit(reg, commit_id: str) -> Commit:
    c = reg.manifest.commit(commit_id)
    return c if c is not None else decode_commit(reg.store.get(ObjectId(commit_id)))


def get_snapshot(reg, snapshot_id: str) -> Snapshot:
    return decode_snapshot(reg.store.get(ObjectId(snapshot_id)))


def split_snapshot(reg, commit: Commit, split: str, spec: str) -> Snapshot:
    if split not in commit.splits:
        raise UnknownSplit(f"{spec} has no split {split!r}",
                           f"it has {', '.join(sorted(commit.splits)) or 'no splits'}")
    return get_snapshot(reg, commit.splits[split])


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
    if hasattr(reg.store, "prefetch"):      # a clone's data arrives on demand: in parallel
        reg.store.prefetch([snap.shards[i].id for i in dict.fromkeys(snap.run_shard.tolist())])
    table = read_snapshot(reg.store, snap, columns=columns)
    return pin(table, rev.dataset, rev.commit_id, split)


def pin(table: pa.Table, dataset: str, commit_id: str, split: str) -> pa.Table:
    """Record in the schema metadata exactly which version the rows came from."""
    meta = dict(table.schema.metadata or {})
    meta.update({b"dsreg.dataset": dataset.encode(), b"dsreg.commit": commit_id.encode(),
                 b"dsreg.split": split.encode()})
    return table.replace_schema_metadata(meta)


@dataclass(frozen=True)
class LogEntry:
    id: CommitId
    parents: tuple[CommitId, ...]
    message: str
    author: str
    timestamp: int

    def to_json(self) -> dict:
        return {"id": self.id, "parents": list(self.parents), "message": self.message,
                "author": self.author, "timestamp": self.timestamp}


def log(reg, spec: str, n: int | None = None) -> list[LogEntry]:
    """History from REV, newest first (all parents, by time)."""
    if n is not None and n < 0:
        raise UsageError("-n must be 0 or more")
    start = resolve(reg, spec).commit_id
    seen, out, frontier = {start}, [], [start]
    commits: dict[str, Commit] = {start: get_commit(reg, start)}
    while frontier and (n is None or len(out) < n):
        frontier.sort(key=lambda c: (commits[c].timestamp, c))
        cid = frontier.pop()
        c = commits[cid]
        out.append(LogEntry(CommitId(cid), c.parents, c.message, c.author, c.timestamp))
        for p in c.parents:
            if p not in seen:
                seen.add(p)
                commits[p] = get_commit(reg, p)
                frontier.append(p)
    return out


def show(reg, spec: str) -> dict:
    rev = resolve(reg, spec)
    c = get_commit(reg, rev.commit_id)
    splits, schema = {}, {}
    for split, sid in sorted(c.splits.items()):
        info = reg.manifest.snapshot_info(sid)
        snap = None
        if info is None:
            snap = get_snapshot(reg, sid)
            info = {"rows": snap.rows, "bytes": snap.nbytes, "shards": len(snap.shards),
                    "runs": snap.num_runs}
        splits[split] = {"rows": info["rows"], "bytes": info["bytes"], "shards": info["shards"], "runs": info["runs"]}
        s = (snap or get_snapshot(reg, sid)).schema
        schema[split] = [{"name": f.name, "type": str(f.type)} for f in s]
    return {"id": rev.commit_id, "dataset": rev.dataset, "parents": list(c.parents), "message": c.message,
            "author": c.author, "timestamp": c.timestamp, "splits": splits, "schema": schema,
            "metadata": {k: v for k, v in c.metadata.items()}}


def ls(reg) -> list[dict]:
    m = reg.manifest
    out = []
    for name in m.datasets():
        branches = {r.name: r.commit for r in m.refs(name, "branch")}
        tags = {r.name: r.commit for r in m.refs(name, "tag")}
        out.append({"name": name, "branches": branches, "tags": tags})
    return out


# -- refs ---------------------------------------------------------------------
def _ref_verb(reg, kind: str, dataset: str, new: str | None, rev: str | None, delete: str | None,
              force: bool) -> Any:
    check_dataset_name(dataset)
    m = reg.manifest
    if not m.has_dataset(dataset):
        from dsreg.errors import UnknownDataset
        raise UnknownDataset(dataset)
    if delete is not None:
        if new is not None:
            raise UsageError(f"give either a {kind} to create or -d {kind.upper()}, not both")
        if kind == "branch" and delete == "main":
            raise UsageError("the main branch cannot be deleted")
        with m.transaction():
            old = m.delete_ref(dataset, kind, delete)
        return {"deleted": delete, "was": old}
    if new is None:
        return {r.name: r.commit for r in m.refs(dataset, kind)}
    check_ref_name(new, kind)
    if rev and "@" in rev:
        # `dsreg tag ds v1 ds@main` is a natural slip: REV belongs to the same dataset
        named, _, rest = rev.partition("@")
        if named != dataset:
            raise UsageError(f"{kind} {new!r} of dataset {dataset!r} cannot point into dataset {named!r}",
                             f"give REV without NAME@ (a branch, tag or commit of {dataset!r})")
        rev = rest
    target = resolve(reg, f"{dataset}@{rev}" if rev else dataset).commit_id
    with m.transaction():
        old = m.ref(dataset, kind, new)
        if old is not None and not force:
            raise RefExists(f"{kind} {new!r} already exists in dataset {dataset!r} (at {old[:12]})",
                            "use --force to move it" if kind == "tag" else "use --force to reset it")
        m.set_ref(dataset, kind, new, target, old, f"{kind}: create from {rev or 'main'}")
    return {"name": new, "commit": target}


def branch(reg, dataset: str, new: str | None = None, rev: str | None = None, *, delete: str | None = None,
           force: bool = False):
    return _ref_verb(reg, "branch", dataset, new, rev, delete, force)


def tag(reg, dataset: str, new: str | None = None, rev: str | None = None, *, delete: str | None = None,
        force: bool = False):
    return _ref_verb(reg, "tag", dataset, new, rev, delete, force)


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


__all__ = ["commit", "load", "log", "show", "ls", "branch", "tag", "checkout", "__version__"]
