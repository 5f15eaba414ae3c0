"""The verbs: one function per command, each taking a Registry and returning values.

Nothing here prints; long work reports through a `Progress`.
"""
from __future__ import annotations

import getpass
import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from dsreg import __version__
from dsreg.errors import BadInput, DsregError, NothingToCommit, RefExists, RefNotFound, UnknownSplit, UsageError
from dsreg.ids import CommitId, ObjectId
from dsreg.rows.ingest import check_schema, open_source
from dsreg.rows.inputcache import InputDigest, cached_snapshot, input_digest, record as record_inputs
from dsreg.names import check_dataset_name, check_ref_name, check_split_name
from dsreg.progress import NO_PROGRESS, Progress
from dsreg.model.log import LogEntry, log_entries
from dsreg.model.objects import get_commit, get_snapshot, pin, split_snapshot
from dsreg.model.revisions import resolve
from dsreg.model.serialize import fingerprints_size, Commit, Snapshot, encode_commit, encode_snapshot
from dsreg.rows.shards import ShardReader
from dsreg.rows.snapshots import BaseIndex, SnapshotBuilder, read_snapshot, schemas_compatible

DEFAULT_SPLIT = "train"


# -- commit -----------------------------------------------------------------
@dataclass(frozen=True)
class SplitResult:
    rows: int
    new_rows: int
    reused_rows: int
    new_bytes: int


@dataclass(frozen=True)
class CommitResult:
    id: CommitId
    dataset: str
    branch: str
    splits: dict[str, SplitResult]
    unchanged: bool = False
    compacted: tuple[str, ...] = ()

    def to_json(self) -> dict:
        return {"id": self.id, "dataset": self.dataset, "branch": self.branch,
                "splits": {k: vars(v) for k, v in self.splits.items()}, "unchanged": self.unchanged}


def default_author() -> str:
    if os.environ.get("DSREG_AUTHOR"):
        return os.environ["DSREG_AUTHOR"]
    name = os.environ.get("GIT_AUTHOR_NAME")
    email = os.environ.get("GIT_AUTHOR_EMAIL")
    if name:
        return f"{name} <{email}>" if email else name
    try:
        user = getpass.getuser()
    except Exception:  # noqa: BLE001 - no user database in some containers
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def _normalize_splits(splits: Any) -> dict[str, Any]:
    if isinstance(splits, dict):
        return dict(splits)
    return {DEFAULT_SPLIT: splits}


def commit(reg, dataset: str, splits: Any, message: str = "", **options: Any) -> CommitResult:
    """Commit `splits` ({split: source}) to `dataset`'s `branch`; other splits carry over.

    New objects are staged and enter the store only once nothing can fail any more (see
    staging.py): a commit that fails leaves the registry exactly as it was."""
    from dsreg.store.staged import staged
    with staged(reg):
        return _commit(reg, dataset, splits, message, **options)


def _commit(reg, dataset: str, splits: Any, message: str = "", *, branch: str = "main", append: bool = False,
            drop_splits: tuple[str, ...] | list[str] = (), keys: tuple[str, ...] | list[str] = (),
            base: str | None = None, metadata: dict | None = None, author: str | None = None,
            allow_empty: bool = False, empty_files: bool = True,
            progress: Progress = NO_PROGRESS) -> CommitResult:
    # empty_files=False (the CLI, without --allow-empty): refuse files that hold no rows
    check_dataset_name(dataset)
    check_ref_name(branch, "branch")
    splits = _normalize_splits(splits)
    for s in [*splits, *drop_splits]:
        check_split_name(s)
    both = set(splits) & set(drop_splits)
    if both:
        raise UsageError(f"split {sorted(both)[0]!r} is both committed and dropped")
    if not splits and not drop_splits and metadata is None and not allow_empty:
        raise UsageError("nothing to commit: give at least one [SPLIT=]PATH")
    m = reg.manifest
    exists = m.has_dataset(dataset)
    parent_id = m.ref(dataset, "branch", branch) if exists else None
    if parent_id is None and exists and m.ref(dataset, "tag", branch) is not None:
        raise RefExists(f"{dataset}@{branch} is a tag, not a branch: tags never move",
                        f"commit to a branch, e.g. 'dsreg branch {dataset} NEW {branch}' then --branch NEW")
    if exists and parent_id is None and m.ref(dataset, "branch", "main") is not None and branch != "main":
        # a new branch starts from main, like `git checkout -b`
        parent_id = m.ref(dataset, "branch", "main")
        new_branch_from = parent_id
    else:
        new_branch_from = None
    parent = get_commit(reg, parent_id) if parent_id else None
    for s in drop_splits:
        if parent is None or s not in parent.splits:
            raise UnknownSplit(f"cannot drop split {s!r}: {dataset}@{branch} has no such split")
    if append:
        missing = [s for s in splits if parent is None or s not in parent.splits]
        if missing:
            raise UnknownSplit(f"cannot append to split {missing[0]!r}: {dataset}@{branch} has no such split",
                               "commit it without --append first")
    base_commit = get_commit(reg, resolve(reg, base).commit_id) if base else parent
    reader = ShardReader(reg.store, cache_size=3)
    results: dict[str, SplitResult] = {}
    snapshots: dict[str, ObjectId] = dict(parent.splits) if parent else {}
    for s in drop_splits:
        snapshots.pop(s)
    new_objects: list[tuple[ObjectId, Snapshot, int]] = []
    sources: dict[str, list[str]] = {}
    compacted = []
    inputs: list[tuple[InputDigest, ObjectId]] = []     # for the input cache (inputcache.py)
    for split, value in sorted(splits.items()):
        src = open_source(value)
        check_schema(src.schema, f"split {split}")
        prefix = split_snapshot(reg, parent, split, f"{dataset}@{branch}") if append else None
        if prefix is not None and not schemas_compatible(prefix.schema, src.schema):
            from dsreg.rows.ingest import describe_schema_difference
            raise DsregError(f"cannot append to split {split!r}: "
                             f"{describe_schema_difference(prefix.schema, src.schema)}")
        schema = prefix.schema if prefix is not None else src.schema
        if keys:
            missing_keys = [k for k in keys if k not in schema.names]
            if missing_keys:
                raise UsageError(f"--key column {missing_keys[0]!r} is not in split {split!r}",
                                 f"columns: {', '.join(schema.names)}")
        files = [o for o in src.origins if not o.startswith("<")]
        digest = None if append else input_digest(src, f"hash {split}", progress)
        hit = cached_snapshot(reg, digest, base_commit, split, src.schema)
        if hit is not None:
            # these bytes already gave the base's snapshot of this split: reading them again
            # would give it again, row for row (see inputcache.py)
            sid, snap = hit
            if files and snap.rows == 0 and not empty_files:
                raise _no_rows(split, files)
            snapshots[split] = ObjectId(sid)
            sources[split] = src.origins
            results[split] = SplitResult(rows=snap.rows, new_rows=0, reused_rows=snap.rows, new_bytes=0)
            continue
        candidates = _base_snapshots(reg, base_commit, src.schema, split) if base_commit else []
        index = BaseIndex(reader, candidates) if candidates else None
        builder = SnapshotBuilder(reg.store, schema, base=index, prefix=prefix,
                                  progress=progress.advance)
        progress.start(f"commit {split}", None)
        for batch in src.batches():
            builder.add(batch)
        built = builder.finish()
        progress.finish()
        snap = built.snapshot
        if files and snap.rows == (prefix.rows if prefix is not None else 0) and not empty_files:
            raise _no_rows(split, files)
        from dsreg.rows.compaction import maybe_compact
        compact = maybe_compact(reg.store, snap, reader)
        if compact is not None:
            snap, extra_bytes = compact
            built.new_bytes += extra_bytes
            compacted.append(split)
        data = encode_snapshot(snap)
        sid, is_new = reg.store.put(data)
        new_objects.append((sid, snap, len(data)))
        snapshots[split] = sid
        sources[split] = src.origins
        if digest is not None:
            inputs.append((digest, sid))
        appended = snap.rows - (prefix.rows if prefix is not None else 0)
        results[split] = SplitResult(rows=snap.rows, new_rows=built.new_rows, reused_rows=appended - built.new_rows,
                                     new_bytes=built.new_bytes + (len(data) if is_new else 0))
    meta = dict(parent.metadata) if parent else {}
    meta.pop("sources", None)
    if metadata:
        meta.update(metadata)
    if keys:
        meta["keys"] = list(keys)
    if sources:
        meta["sources"] = sources
    if parent is not None and not allow_empty and snapshots == parent.splits and \
            {k: v for k, v in meta.items() if k != "sources"} == {k: v for k, v in parent.metadata.items() if k != "sources"}:
        _remember_inputs(reg, inputs, dataset, "main" if new_branch_from else branch, parent_id)
        return CommitResult(CommitId(parent_id), dataset, branch, results, unchanged=True)
    new = Commit(dataset=dataset, parents=(CommitId(parent_id),) if parent_id else (), splits=snapshots,
                 message=message, author=author or default_author(), timestamp=int(time.time()), metadata=meta)
    data = encode_commit(new)
    cid, _ = reg.store.put(data)
    from dsreg.store.staged import publish
    publish(reg)                # the objects enter the store just before the manifest names them
    with m.transaction():
        m.add_dataset(dataset)
        for shard in _new_shards(reg, new_objects):
            m.add_shard(shard.id, shard.rows, shard.bytes, shard.fingerprints, fingerprints_size(shard.rows),
                        shard.stats)
        for sid, snap, size in new_objects:
            m.add_snapshot(sid, snap, snap.nbytes)
        m.add_commit(CommitId(cid), new)
        record_inputs(reg, inputs)
        expected = None if new_branch_from else parent_id
        m.set_ref(dataset, "branch", branch, CommitId(cid), expected,
                  f"commit: {message}" if parent_id else f"commit (initial): {message}")
    from dsreg.stats.split import prime
    prime(reg, [(sid, snap) for sid, snap, _ in new_objects])    # so a card never waits on this version
    return CommitResult(CommitId(cid), dataset, branch, results, compacted=tuple(compacted))


def _no_rows(split: str, files: list[str]) -> BadInput:
    # a file with a header and no rows is far more often a failed export than intent
    return BadInput(f"split {split!r}: {', '.join(files)} hold{'s' if len(files) == 1 else ''} no rows",
                    "pass --allow-empty to commit it anyway")


def _remember_inputs(reg, inputs, dataset: str, branch: str, parent_id: str) -> None:
    """A commit that changed nothing still teaches the input cache, so the next identical
    one is fast: in a transaction of its own, and only while the branch the parent came
    from is still there (its snapshots are then certainly kept). Best effort: a cache."""
    if not inputs:
        return
    import sqlite3
    m = reg.manifest
    try:
        with m.transaction():
            if m.ref(dataset, "branch", branch) == parent_id:
                record_inputs(reg, inputs)
    except sqlite3.Error:
        pass


def _new_shards(reg, new_objects):
    seen = set()
    for _, snap, _ in new_objects:
        for s in snap.shards:
            if s.id not in seen:
                seen.add(s.id)
                if reg.manifest.shard(s.id) is None:
                    yield s


def _base_snapshots(reg, base: Commit, schema: pa.Schema, split: str) -> list[Snapshot]:
    """Every split of the base whose rows could be reused by a table of this schema, the
    same-named split first: rows found in several splits are reused from their own, so
    re-committing identical data reproduces the same runs (and so the same snapshot)."""
    out = []
    ordered = sorted(base.splits.items(), key=lambda kv: kv[0] != split)
    for sid in dict.fromkeys(sid for _, sid in ordered):
        snap = get_snapshot(reg, sid)
        if schemas_compatible(snap.schema, schema):
            out.append(snap)
    return out


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
