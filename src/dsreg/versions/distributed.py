"""A commit of rows that many workers hold (Ray, Dask), in two phases, engine-neutral.

1. fingerprint (workers): each partition's rows -> their fingerprints, count and schema.
2. match (driver): the partitions' fingerprints, concatenated in order, against the base
   version with the one match a single-process commit makes (`BaseIndex.match`); each
   partition receives the base rows proposed for it (`rows/partitions.py`).
3. write (workers): each partition is built by the single-process builder, which proves
   every proposal equal and writes the new rows as shards (and fingerprint objects) into
   the driver's staging folder: nothing is visible yet.
4. record (driver): the partitions' snapshots joined in order, then `record_commit` (objects
   published, one manifest transaction, the branch moved by compare-and-swap).

An engine is anything that can run a function over every partition on its workers and
return the results in partition order (`Engine`); `dsreg.integrations.dask` and `.ray`
are two. Why two phases rather than sending the base index to every worker: docs/engines.md.
"""
from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import numpy as np
import pyarrow as pa

from dsreg.errors import BadInput, BranchMovedDuringCommit, RefConflict
from dsreg.ids import ObjectId
from dsreg.model.serialize import Snapshot, encode_snapshot
from dsreg.names import check_dataset_name, check_ref_name, check_split_name
from dsreg.rows.arrowtypes import same_type, storage_schema
from dsreg.rows.compaction import maybe_compact
from dsreg.rows.fingerprint import row_fingerprints
from dsreg.rows.ingest import describe_schema_difference, open_source
from dsreg.rows.partitions import Proposal, Proposals, join_snapshots, propose
from dsreg.rows.settings import DEFAULT_ROW_SETTINGS, RowSettings
from dsreg.rows.shards import ShardReader
from dsreg.rows.snapshots import BaseIndex, SnapshotBuilder, schemas_compatible
from dsreg.store.base import ObjectStore
from dsreg.store.local import LocalStore
from dsreg.store.staged import StagedStore, staged
from dsreg.versions.commit import (
    DEFAULT_SPLIT,
    BuiltSplit,
    CommitPlan,
    CommitResult,
    SplitResult,
    Verify,
    base_snapshots,
    plan_commit,
    record_commit,
)
from dsreg.versions.guardrails import commit_notes

if TYPE_CHECKING:
    from dsreg.registry import Registry

R = TypeVar("R")
APPEND_RETRIES = 3          # an append that lost the race is rebased and recorded again this often


class Engine(Protocol):
    """Runs `phase(index, rows, extra[index])` for every partition on the workers (rows: a
    pyarrow Table or pandas DataFrame; `extra` None: None for each) and returns the
    results in partition order. Both phases must see the same partitions, in the same order."""

    def run(self, phase: Callable[[int, Any, Any], R], extra: Sequence[Any] | None) -> list[R]: ...


# -- phase 1: fingerprints (on workers) ---------------------------------------------------
@dataclass(frozen=True)
class PartitionPrint:
    index: int
    rows: int
    schema: pa.Schema
    fps: np.ndarray


def _batches(value: Any, schema: pa.Schema | None, settings: RowSettings, where: str):
    """The partition's rows as checked batches (of `schema`, when given)."""
    src = open_source(value, settings.batch_rows, settings.text_block_bytes)
    if schema is None or schemas_compatible(src.schema, schema):
        return src.schema, src.batches()
    if src.schema.names != schema.names:
        raise BadInput(f"{where} does not have the columns of the schema given: "
                       f"{describe_schema_difference(schema, src.schema)}")

    def cast():
        for batch in src.batches():
            try:
                yield batch.cast(schema)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
                raise BadInput(f"{where}: cannot cast its rows to the schema given: {e}") from None
    return schema, cast()


def _storage_form(batch: pa.RecordBatch, storage: pa.Schema) -> pa.Table:
    """As SnapshotBuilder.add fingerprints rows: in their storage types."""
    table = pa.Table.from_batches([batch])
    if all(same_type(c.type, f.type) for c, f in zip(table.columns, storage)):
        return table
    return pa.Table.from_arrays([c if same_type(c.type, f.type) else c.cast(f.type)
                                 for c, f in zip(table.columns, storage)], schema=storage)


def fingerprint_partition(settings: RowSettings, schema: pa.Schema | None, index: int, value: Any,
                          _: Any = None) -> PartitionPrint:
    got, batches = _batches(value, schema, settings, f"partition {index}")
    storage = storage_schema(got)
    fps = [row_fingerprints(_storage_form(b, storage)) for b in batches if b.num_rows]
    all_fps = np.concatenate(fps) if fps else np.zeros(0, np.uint64)
    return PartitionPrint(index, len(all_fps), got, all_fps)


def split_schema(prints: Sequence[PartitionPrint], given: pa.Schema | None) -> pa.Schema:
    """The split's schema: the one given, or the first partition's with rows (every other
    partition with rows must have it too: a table has one schema)."""
    if given is not None:
        return given
    full = [p for p in prints if p.rows] or list(prints[:1])
    if not full:
        raise BadInput("there is no partition to commit (not even an empty one with a schema)")
    first = full[0]
    for p in full[1:]:
        if not schemas_compatible(p.schema, first.schema):
            raise BadInput(f"partition {p.index} has another schema than partition {first.index}: "
                           f"{describe_schema_difference(first.schema, p.schema)}",
                           "pass schema= to cast every partition to one schema")
    return first.schema


# -- phase 2: write (on workers) ------------------------------------------------------------
@dataclass(frozen=True)
class WriteTarget:
    """Where workers read the base and stage new objects: a registry on a disk they share,
    or (`open_store` given) the store it opens on the worker, such as a remote's objects."""
    objects: str                # the registry's object folder
    folder: str                 # the driver's staging folder for this commit
    schema: pa.Schema           # the split's (cast to it, as the prefix's when appending)
    given: pa.Schema | None     # the schema partitions are cast to (None: their own)
    settings: RowSettings
    open_store: Callable[[], ObjectStore] | None = None


@dataclass(frozen=True)
class Destination:
    """A commit whose objects and ref live elsewhere than the driver's registry (a remote),
    which then only plans and records it. `open_store` (picklable: it runs on workers)
    opens a store that reads the base's objects and writes new ones straight there;
    `refresh` brings the registry's branch to the destination's before each attempt;
    `publish` moves the destination's branch to the recorded commit, raising RefConflict
    when it lost the race (nothing moved then)."""
    open_store: Callable[[], ObjectStore]
    refresh: Callable[[], None]
    publish: Callable[[CommitResult], None]


@dataclass(frozen=True)
class PartitionWrite:
    index: int
    snapshot: Snapshot
    new_rows: int
    reused_rows: int
    new_bytes: int
    staged: dict[ObjectId, str] = field(default_factory=dict)


def write_partition(target: WriteTarget, index: int, value: Any, proposal: Proposal) -> PartitionWrite:
    store: ObjectStore
    if target.open_store is not None:
        store = target.open_store()
    else:
        folder = Path(target.folder)
        store = StagedStore(LocalStore(target.objects), folder.parent, join=folder)
    _, batches = _batches(value, target.given, target.settings, f"partition {index}")
    proposals = Proposals(ShardReader(store, cache_size=3), proposal)
    builder = SnapshotBuilder(store, target.schema, base=proposals,  # type: ignore[arg-type]
                              settings=target.settings.shards)
    for batch in batches:
        builder.add(batch)
    proposals.finish()
    built = builder.finish()
    staged = store.staged.items() if isinstance(store, StagedStore) else ()
    return PartitionWrite(index, built.snapshot, built.new_rows, built.reused_rows, built.new_bytes,
                          {oid: str(p) for oid, p in staged})


# -- driver ------------------------------------------------------------------------------
def commit_partitions(reg: Registry, engine: Engine, dataset: str, *, split: str = DEFAULT_SPLIT,
                      message: str = "", branch: str = "main", append: bool = False,
                      keys: tuple[str, ...] | list[str] = (), base: str | None = None, metadata: dict | None = None,
                      author: str | None = None, schema: pa.Schema | None = None, allow_empty: bool = False,
                      settings: RowSettings | None = None, verify: Verify | None = None,
                      origin: str = "<partitions>", destination: Destination | None = None) -> CommitResult:
    """Commit the engine's partitions, concatenated in order, as `split` of `dataset`'s
    `branch`: the version a single-process commit of those rows would make. Nothing is
    visible until the branch moves; a failure anywhere leaves the registry as it was (a
    killed driver leaves a staging folder that gc removes). An append that lost the race
    for the branch is rebased onto the new head and recorded again; any other change that
    lost it raises `BranchMovedDuringCommit`. With a `destination`, workers write there
    and the commit lands there: `reg` is the driver's scratch registry."""
    reg.require_writable()
    settings = settings or DEFAULT_ROW_SETTINGS
    check_dataset_name(dataset)
    check_ref_name(branch, "branch")
    check_split_name(split)
    prints = engine.run(functools.partial(fingerprint_partition, settings, schema), None)
    chosen = split_schema(prints, schema)
    parts: list[PartitionWrite] | None = None
    for attempt in range(APPEND_RETRIES + 1):
        if destination is not None:
            destination.refresh()
        with staged(reg) as store:
            plan = plan_commit(reg, dataset, {split: chosen.empty_table()}, message, branch=branch, append=append,
                               keys=keys, base=base, metadata=metadata, author=author, allow_empty=allow_empty,
                               settings=settings)
            if parts is None:
                parts = _write(reg, store, engine, plan, prints, schema, destination)
            built = _built_split(reg, plan, parts, origin)
            if verify is not None:
                verify(plan, [built])
            notes = commit_notes(reg, plan, [built])
            try:
                result = record_commit(reg, plan, [built])
                if destination is not None and not result.unchanged:
                    destination.publish(result)
                return result if result.unchanged else replace(result, notes=notes)
            except RefConflict as e:
                if not append or attempt == APPEND_RETRIES:
                    raise BranchMovedDuringCommit(e.ref, e.expected, e.actual) from None
                # the rows are appended to whatever the branch holds now: plan again on its head
    raise AssertionError("unreachable")


def _write(reg: Registry, store: StagedStore, engine: Engine, plan: CommitPlan, prints: Sequence[PartitionPrint],
           given: pa.Schema | None, destination: Destination | None) -> list[PartitionWrite]:
    """Match every partition against the base, then have the workers write them."""
    sp = plan.splits[0]
    reader = ShardReader(reg.store, cache_size=3)
    candidates = base_snapshots(reg, plan.base, sp.schema, sp.name) if plan.base else []
    index = BaseIndex(reader, candidates) if candidates else None
    fps = np.concatenate([p.fps for p in prints]) if prints else np.zeros(0, np.uint64)
    pos = index.match(fps, -1) if index is not None else np.full(len(fps), -1, dtype=np.int64)
    proposals, at = [], 0
    empty = np.zeros(0, np.int64)
    for p in prints:
        mine = pos[at:at + p.rows]
        at += p.rows
        if index is None:
            proposals.append(Proposal(p.index, p.fps, mine, (), empty.astype(np.int32), empty))
        else:
            proposals.append(propose(p.index, p.fps, mine, index.shards, index.shard_of, index.row_of))
    if destination is None:
        # a clone's base rows on demand: here, so that workers find them on the shared disk
        reg.store.prefetch(dict.fromkeys(s.id for pr in proposals for s in pr.shards))
    target = WriteTarget(str(store.store.root), str(store.folder), sp.schema, given, plan.settings,
                         destination.open_store if destination is not None else None)
    parts = engine.run(functools.partial(write_partition, target), proposals)
    for part in parts:
        store.adopt(part.staged)
    return parts


def _built_split(reg: Registry, plan: CommitPlan, parts: Sequence[PartitionWrite], origin: str) -> BuiltSplit:
    """The split's snapshot from the partitions' (after the prefix when appending), as
    `build_split` makes one: compacted when fragmented, then stored."""
    sp = plan.splits[0]
    snap = join_snapshots(sp.schema, [p.snapshot for p in parts], sp.prefix)
    new_rows = sum(p.new_rows for p in parts)
    new_bytes = sum(p.new_bytes for p in parts)
    reader = ShardReader(reg.store, cache_size=3)
    compact = maybe_compact(reg.store, snap, reader, settings=plan.settings.compaction,
                            shards=plan.settings.shards)
    if compact is not None:
        snap, extra = compact
        new_bytes += extra
    data = encode_snapshot(snap)
    sid, is_new = reg.store.put(data)
    before = sp.prefix.rows if sp.prefix is not None else 0
    result = SplitResult(rows=snap.rows, new_rows=new_rows, reused_rows=snap.rows - before - new_rows,
                         new_bytes=new_bytes + (len(data) if is_new else 0))
    return BuiltSplit(sp.name, sid, snap, len(data), (origin,), None, result,
                      compacted=compact is not None)


__all__ = ["Destination", "Engine", "PartitionPrint", "PartitionWrite", "WriteTarget", "commit_partitions", "fingerprint_partition",
           "write_partition", "split_schema"]
