"""Making a commit, in three steps.

- plan: resolve the branch, its parent and the base version; normalize the splits; check
  the names, and each source's schema, before a row is read.
- build: one split's snapshot, from its source through the base's row index: runs over
  shards the registry has, and new shards for the rows that matched nothing.
- record: publish the staged objects, write the commit, and in one manifest transaction
  move the branch by compare-and-swap (with its reflog entry) and fill the input cache.

Column statistics are not computed here: a card (stats/split.py) computes them exactly the
first time it needs them, and caches them, so a commit never waits for them.

`commit` runs the three inside a staging area (store/staged.py): a commit that fails
leaves the registry exactly as it was.
"""
from __future__ import annotations

import getpass
import os
import socket
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from itertools import chain
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from dsreg.errors import DsregError, NoRows, SplitNotOnBranch, TagNotBranch, UnknownKeyColumn, UsageError
from dsreg.ids import CommitId, ObjectId
from dsreg.jsonvalues import JsonFields
from dsreg.model import checked
from dsreg.model.objects import get_commit, get_snapshot
from dsreg.model.revisions import resolve
from dsreg.model.serialize import Commit, Snapshot, encode_commit, encode_snapshot, fingerprints_size
from dsreg.names import check_dataset_name, check_ref_name, check_split_name
from dsreg.progress import NO_PROGRESS, Progress
from dsreg.rows.arrowtypes import storage_schema
from dsreg.rows.compaction import maybe_compact
from dsreg.rows.ingest import Source, check_schema, describe_schema_difference, known_rows, open_source
from dsreg.rows.inputcache import InputDigest, cached_snapshot, input_digest
from dsreg.rows.inputcache import record as record_inputs
from dsreg.rows.pipeline import ahead, background
from dsreg.rows.settings import DEFAULT_ROW_SETTINGS, RowSettings
from dsreg.rows.shards import ShardReader
from dsreg.rows.snapshots import BaseIndex, Prepared, SnapshotBuilder, prepare, read_fingerprints, schemas_compatible
from dsreg.store.staged import publish, staged
from dsreg.versions.guardrails import commit_notes

if TYPE_CHECKING:
    from dsreg.registry import Registry

DEFAULT_SPLIT = "train"


@dataclass(frozen=True)
class SplitResult:
    rows: int
    new_rows: int
    reused_rows: int
    new_bytes: int


@dataclass(frozen=True)
class CommitResult(JsonFields):
    _json_skip = ("compacted", "notes")     # notes are warnings the CLI prints on stderr

    id: CommitId
    dataset: str
    branch: str
    splits: dict[str, SplitResult]
    unchanged: bool = False
    compacted: tuple[str, ...] = ()
    notes: tuple = ()               # guardrails.Note: what the user should know (typo'd split, ...)


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


def commit(reg: Registry, dataset: str, splits: Any, message: str = "", *, branch: str = "main", append: bool = False,
           drop_splits: tuple[str, ...] | list[str] = (), keys: tuple[str, ...] | list[str] = (),
           base: str | None = None, metadata: dict | None = None, author: str | None = None,
           timestamp: int | None = None, allow_empty: bool = False, empty_files: bool = True,
           settings: RowSettings | None = None,
           progress: Progress = NO_PROGRESS, verify: Verify | None = None) -> CommitResult:
    """Commit `splits` ({split: source}, or one source for `train`) to `dataset`'s `branch`;
    the other splits carry over, those in `drop_splits` go. `empty_files=False` refuses
    files that hold no rows; `allow_empty` records a commit even when nothing changed;
    `settings` are the batch, shard and compaction sizes (None: the defaults; tests take
    small ones); `verify(plan, built)` may refuse the built version by raising (nothing is
    recorded)."""
    reg.require_writable()
    settings = settings or DEFAULT_ROW_SETTINGS
    with staged(reg):
        plan = plan_commit(reg, dataset, splits, message, branch=branch, append=append, drop_splits=drop_splits,
                           keys=keys, base=base, metadata=metadata, author=author, timestamp=timestamp, allow_empty=allow_empty,
                           empty_files=empty_files, settings=settings)
        # one cache for every split: two decoded shards, and a third decoded ahead (shards.py)
        reader = ShardReader(reg.store, cache_size=2, by_row_group=True)
        try:
            built = [build_split(reg, plan, split, reader, progress) for split in plan.splits]
        finally:
            reader.close()
        if verify is not None:
            verify(plan, built)
        notes = commit_notes(reg, plan, built)
        result = record_commit(reg, plan, built)
        return result if result.unchanged else replace(result, notes=notes)


# -- plan -------------------------------------------------------------------------------
@dataclass(frozen=True)
class SplitPlan:
    name: str
    source: Source
    schema: pa.Schema               # the split's schema: the prefix's when appending
    prefix: Snapshot | None         # the rows appended to, with `append`


@dataclass(frozen=True)
class CommitPlan:
    dataset: str
    branch: str
    message: str
    author: str
    splits: tuple[SplitPlan, ...]   # in split order
    drop_splits: tuple[str, ...]
    keys: tuple[str, ...]
    metadata: dict | None
    allow_empty: bool
    empty_files: bool
    parent_id: CommitId | None
    parent: Commit | None
    base: Commit | None             # whose rows may be reused: the parent unless `base` named one
    new_branch: bool                # the branch starts here, from main's head (its ref must not exist)
    timestamp: int | None = None    # seconds since the epoch; None: now (an import keeps the original's)
    settings: RowSettings = DEFAULT_ROW_SETTINGS
    extra_parents: tuple[CommitId, ...] = ()   # a merge's other parents, after the branch head


def plan_commit(reg: Registry, dataset: str, splits: Any, message: str = "", *, branch: str = "main", append: bool = False,
                drop_splits: tuple[str, ...] | list[str] = (), keys: tuple[str, ...] | list[str] = (),
                base: str | None = None, metadata: dict | None = None, author: str | None = None,
                timestamp: int | None = None, allow_empty: bool = False, empty_files: bool = True,
                settings: RowSettings = DEFAULT_ROW_SETTINGS) -> CommitPlan:
    check_dataset_name(dataset)
    check_ref_name(branch, "branch")
    splits = _normalize_splits(splits)
    drop_splits, keys = _names(drop_splits, "drop_splits"), _names(keys, "keys")
    _check_commit_fields(message, author, metadata)
    for s in [*splits, *drop_splits]:
        check_split_name(s)
    both = set(splits) & set(drop_splits)
    if both:
        raise UsageError(f"split {sorted(both)[0]!r} is both committed and dropped")
    if not splits and not drop_splits and metadata is None and not allow_empty:
        raise UsageError("nothing to commit: give at least one [SPLIT=]PATH")
    parent_id, new_branch = _parent_of(reg, dataset, branch)
    parent = get_commit(reg, parent_id) if parent_id else None
    for s in drop_splits:
        if parent is None or s not in parent.splits:
            raise SplitNotOnBranch(dataset, branch, s, append=False)
    if append:
        missing = [s for s in splits if parent is None or s not in parent.splits]
        if missing:
            raise SplitNotOnBranch(dataset, branch, missing[0], append=True)
    base_commit = get_commit(reg, resolve(reg, base).commit_id) if base else parent
    planned = tuple(_plan_split(reg, name, splits[name], parent if append else None, keys, settings)
                    for name in sorted(splits))
    return CommitPlan(dataset=dataset, branch=branch, message=message, author=author or default_author(),
                      splits=planned, drop_splits=drop_splits, keys=keys, metadata=metadata,
                      allow_empty=allow_empty, empty_files=empty_files, parent_id=parent_id, parent=parent,
                      base=base_commit, new_branch=new_branch, settings=settings,
                      timestamp=timestamp)


def _normalize_splits(splits: Any) -> dict[str, Any]:
    if isinstance(splits, dict):
        for name in splits:
            if not isinstance(name, str):
                raise UsageError(f"split names must be strings, not {type(name).__name__} {name!r}",
                                 "e.g. {'train': table}")
        return dict(splits)
    return {DEFAULT_SPLIT: splits}


def _names(value: Any, what: str) -> tuple:
    """A list of names as the API takes it: one string alone would be read letter by letter."""
    if isinstance(value, (str, bytes)):
        raise UsageError(f"{what} takes a list of names, not the string {value!r}", f"use {what}=[{value!r}]")
    return tuple(value)


def _check_commit_fields(message: Any, author: Any, metadata: Any) -> None:
    """What becomes the commit object must be what a commit object holds (and what
    decoding one accepts): text, and metadata that is a JSON object of bounded depth."""
    for what, value in (("message", message), ("author", author)):
        if value is not None and not isinstance(value, str):
            raise UsageError(f"the commit {what} must be a string, not {type(value).__name__}")
    if metadata is None:
        return
    if not isinstance(metadata, dict):
        raise UsageError(f"metadata must be a dict of JSON values, not {type(metadata).__name__}")
    why = checked.json_problem(metadata)
    if why:
        raise UsageError(f"metadata {why}", "use strings as keys; strings, numbers, booleans, None, lists and dicts "
                                            "as values")


def _parent_of(reg: Registry, dataset: str, branch: str) -> tuple[CommitId | None, bool]:
    """The commit the new one follows, and whether the branch is new (it starts from main,
    like `git checkout -b`)."""
    m = reg.manifest
    if not m.has_dataset(dataset):
        return None, False
    head = m.ref(dataset, "branch", branch)
    if head is None and m.ref(dataset, "tag", branch) is not None:
        raise TagNotBranch(dataset, branch)
    if head is None and branch != "main":
        main = m.ref(dataset, "branch", "main")
        if main is not None:
            return main, True
    return head, False


def _plan_split(reg: Registry, name: str, value: Any, append_to: Commit | None, keys: tuple[str, ...],
                settings: RowSettings) -> SplitPlan:
    src = open_source(value, settings.batch_rows, settings.text_block_bytes)
    check_schema(src.schema, f"split {name}")
    prefix = get_snapshot(reg, append_to.splits[name]) if append_to is not None else None
    if prefix is not None and not schemas_compatible(prefix.schema, src.schema):
        raise DsregError(f"cannot append to split {name!r}: {describe_schema_difference(prefix.schema, src.schema)}")
    schema = prefix.schema if prefix is not None else src.schema
    missing_keys = [k for k in keys if k not in schema.names]
    if missing_keys:
        raise UnknownKeyColumn(missing_keys[0], name, schema.names)
    return SplitPlan(name, src, schema, prefix)


# -- build ------------------------------------------------------------------------------
@dataclass(frozen=True)
class BuiltSplit:
    name: str
    snapshot_id: ObjectId
    snapshot: Snapshot | None       # a new snapshot object; None: one the input cache named
    size: int                       # of the encoded new snapshot
    origins: tuple[str, ...]        # where the rows came from, for the commit's metadata
    digest: InputDigest | None      # of the input, for the input cache
    result: SplitResult
    compacted: bool = False


# checks the built version before it is recorded (see porcelain.commit, checks/verify.py)
Verify = Callable[[CommitPlan, list[BuiltSplit]], None]


def build_split(reg: Registry, plan: CommitPlan, split: SplitPlan, reader: ShardReader,
                progress: Progress = NO_PROGRESS) -> BuiltSplit:
    src, prefix = split.source, split.prefix
    files = [o for o in src.origins if not o.startswith("<")]
    candidates = base_snapshots(reg, plan.base, src.schema, split.name) if plan.base else []
    # the base index is built in a thread while the input is hashed and its first batches
    # are read and fingerprinted (no base shard is read before a row matches it: in a
    # clone, shards are fetched when first read)
    pending = background(BaseIndex, reader, candidates, read_fingerprints(reader, candidates)) if candidates else None
    hashing = None
    if prefix is not None:
        digest = None
    elif plan.base is None:
        # nothing to take from the cache without a base: the input is hashed (to be
        # remembered) by a thread while it is committed, not before
        digest, hashing = None, background(input_digest, src)
    else:
        digest = input_digest(src, f"hash {split.name}", progress)
    hit = cached_snapshot(reg, digest, plan.base, split.name, src.schema)
    if hit is not None:
        # these bytes already gave the base's snapshot of this split: reading them again
        # would give it again, row for row (see inputcache.py)
        sid, snap = hit
        if files and snap.rows == 0 and not plan.empty_files:
            raise NoRows(split.name, files)
        return BuiltSplit(split.name, ObjectId(sid), None, 0, tuple(src.origins), None,
                          SplitResult(rows=snap.rows, new_rows=0, reused_rows=snap.rows, new_bytes=0))
    progress.start(f"commit {split.name}", known_rows(src))
    storage = storage_schema(split.schema)

    def work(batch: pa.RecordBatch) -> Prepared:
        return prepare(batch, storage, pending.result() if pending else None)
    # the next batches are read, fingerprinted and looked up in the base index by a thread
    # while this one is matched and its reuse proven
    batches = ahead(src.batches(), work, depth=1)
    try:
        first = next(batches, None)
        builder = SnapshotBuilder(reg.store, split.schema, base=pending.result() if pending else None, prefix=prefix,
                                  progress=progress.advance, settings=plan.settings.shards)
        for prepared in chain([first] if first is not None else [], batches):
            builder.add_prepared(prepared)
    finally:
        batches.close()
        if pending is not None:
            pending.exception()     # it uses the reader, which the caller closes next
    built = builder.finish()
    progress.finish()
    if hashing is not None:
        digest = hashing.result()
    snap = built.snapshot
    before = prefix.rows if prefix is not None else 0
    if files and snap.rows == before and not plan.empty_files:
        raise NoRows(split.name, files)
    compact = maybe_compact(reg.store, snap, reader, settings=plan.settings.compaction,
                            shards=plan.settings.shards)
    if compact is not None:
        snap, extra_bytes = compact
        built.new_bytes += extra_bytes
    data = encode_snapshot(snap)
    sid, is_new = reg.store.put(data)
    result = SplitResult(rows=snap.rows, new_rows=built.new_rows, reused_rows=snap.rows - before - built.new_rows,
                         new_bytes=built.new_bytes + (len(data) if is_new else 0))
    return BuiltSplit(split.name, sid, snap, len(data), tuple(src.origins), digest, result,
                      compacted=compact is not None)


def base_snapshots(reg: Registry, base: Commit, schema: pa.Schema, split: str) -> list[Snapshot]:
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


# -- record -----------------------------------------------------------------------------
def record_commit(reg: Registry, plan: CommitPlan, built: list[BuiltSplit]) -> CommitResult:
    parent, parent_id = plan.parent, plan.parent_id
    snapshots: dict[str, ObjectId] = dict(parent.splits) if parent else {}
    for s in plan.drop_splits:
        snapshots.pop(s)
    snapshots.update({b.name: b.snapshot_id for b in built})
    new_objects = [(b.snapshot_id, b.snapshot, b.size) for b in built if b.snapshot is not None]
    inputs = [(b.digest, b.snapshot_id) for b in built if b.digest is not None]
    results = {b.name: b.result for b in built}
    meta = _metadata(plan, {b.name: list(b.origins) for b in built})
    if parent is not None and parent_id is not None and not plan.allow_empty and snapshots == parent.splits and \
            _without_sources(meta) == _without_sources(parent.metadata):
        _remember_inputs(reg, inputs, plan.dataset, "main" if plan.new_branch else plan.branch, parent_id)
        return CommitResult(parent_id, plan.dataset, plan.branch, results, unchanged=True)
    parents = ((parent_id,) if parent_id else ()) + plan.extra_parents
    new = Commit(dataset=plan.dataset, parents=parents, splits=snapshots,
                 message=plan.message, author=plan.author,
                 timestamp=plan.timestamp if plan.timestamp is not None else int(time.time()), metadata=meta)
    cid, _ = reg.store.put(encode_commit(new))
    publish(reg)                # the objects enter the store just before the manifest names them
    m = reg.manifest
    with m.transaction():
        m.add_dataset(plan.dataset)
        for shard in _new_shards(reg, new_objects):
            m.add_shard(shard.id, shard.rows, shard.bytes, shard.fingerprints, fingerprints_size(shard.rows),
                        shard.stats)
        for sid, snap, _size in new_objects:
            m.add_snapshot(sid, snap, snap.nbytes)
        m.add_commit(CommitId(cid), new)
        record_inputs(reg, inputs)
        expected = None if plan.new_branch else parent_id
        kind = "merge" if plan.extra_parents else "commit" if parent_id else "commit (initial)"
        m.set_ref(plan.dataset, "branch", plan.branch, CommitId(cid), expected, f"{kind}: {plan.message}")
    return CommitResult(CommitId(cid), plan.dataset, plan.branch, results,
                        compacted=tuple(b.name for b in built if b.compacted))


def _metadata(plan: CommitPlan, sources: dict[str, list[str]]) -> dict:
    """The parent's metadata (but its sources), updated by the caller's, the keys and where
    the rows of the splits committed now came from."""
    meta = dict(plan.parent.metadata) if plan.parent else {}
    meta.pop("sources", None)
    if plan.metadata:
        meta.update(plan.metadata)
    if plan.keys:
        meta["keys"] = list(plan.keys)
    if sources:
        meta["sources"] = sources
    return meta


def _without_sources(meta: dict) -> dict:
    return {k: v for k, v in meta.items() if k != "sources"}


def _remember_inputs(reg: Registry, inputs, dataset: str, branch: str, parent_id: CommitId) -> None:
    """A commit that changed nothing still teaches the input cache, so the next identical
    one is fast: in a transaction of its own, and only while the branch the parent came
    from is still there (its snapshots are then certainly kept). Best effort: a cache."""
    if not inputs:
        return
    m = reg.manifest
    try:
        with m.transaction():
            if m.ref(dataset, "branch", branch) == parent_id:
                record_inputs(reg, inputs)
    except sqlite3.Error:
        pass


def _new_shards(reg: Registry, new_objects):
    seen = set()
    for _, snap, _ in new_objects:
        for s in snap.shards:
            if s.id not in seen:
                seen.add(s.id)
                if reg.manifest.shard(s.id) is None:
                    yield s


# -- objects ----------------------------------------------------------------------------
# porcelain.get_commit / get_snapshot's twins: this layer cannot import porcelain; these
# give way to the model layer's readers once it has them

__all__ = ["commit", "plan_commit", "build_split", "record_commit", "base_snapshots", "CommitPlan", "SplitPlan",
           "BuiltSplit", "CommitResult", "SplitResult", "Verify", "default_author", "DEFAULT_SPLIT"]
