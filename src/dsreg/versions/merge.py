"""Merging a branch (or any revision) into a branch.

Fast-forward when the branch is behind (unless `no_ff`); otherwise a three-way merge
per split against the merge base (versions/threeway.py), recorded as a commit whose
parents are the branch head and the source. A split changed on one side only takes that
side's snapshot as it is; one changed on both merges row by row. Conflicts left with
`strategy="fail"` record nothing: MergeConflict carries them. Everything is built inside
a staging area, so a merge that fails leaves the registry as it was.

`verify` is the hook a commit takes (versions/commit.py `Verify`): it sees the merged
version as a commit on the branch, before anything is recorded, and may refuse it by
raising. A fast-forward is held to it too (git runs no hook there, but the branch would
still come to hold a version that breaks its checks): as the move from the branch head
to the source, so rows the head has count as checked.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from dsreg.errors import MergeConflict, NothingToMerge, UnknownRevision, UsageError
from dsreg.ids import CommitId, ObjectId
from dsreg.model.history import merge_base
from dsreg.model.objects import commit_parents, get_commit, get_snapshot
from dsreg.model.revisions import resolve as resolve_spec
from dsreg.model.serialize import encode_snapshot
from dsreg.names import check_ref_name
from dsreg.progress import NO_PROGRESS, Progress
from dsreg.rows.snapshots import schemas_compatible
from dsreg.stats import shard_stats
from dsreg.store.staged import staged
from dsreg.versions.commit import BuiltSplit, CommitPlan, SplitResult, Verify, default_author, record_commit
from dsreg.versions.mergeschema import merge_whole
from dsreg.versions.threeway import SplitMerge, build, merge_keyed, merge_multisets

STRATEGIES = ("fail", "ours", "theirs")


@dataclass(frozen=True)
class MergeResult:
    id: CommitId                     # the branch head after the merge (or that it would have)
    dataset: str
    into: str
    source: CommitId
    base: CommitId | None
    fast_forward: bool = False
    up_to_date: bool = False
    dry_run: bool = False
    splits: dict[str, dict[str, int]] = field(default_factory=dict)   # split -> added/removed/modified/conflicts
    conflicts: dict[str, pa.Table] = field(default_factory=dict)      # split -> its conflicts table

    @property
    def conflict_count(self) -> int:
        return sum(t.num_rows for t in self.conflicts.values())

    def conflicts_table(self) -> pa.Table | None:
        tables = [t for t in self.conflicts.values() if t.num_rows]
        return pa.concat_tables(tables, promote_options="permissive") if tables else None

    def to_json(self) -> dict:
        return {"id": self.id, "dataset": self.dataset, "into": self.into, "source": self.source, "base": self.base,
                "fast_forward": self.fast_forward, "up_to_date": self.up_to_date, "dry_run": self.dry_run,
                "splits": self.splits, "conflicts": self.conflict_count}


def merge(reg, source: str, into: str = "main", *, keys: tuple[str, ...] | list[str] = (), strategy: str = "fail",
          resolve: str | Path | pa.Table | None = None, message: str | None = None, no_ff: bool = False,
          dry_run: bool = False, author: str | None = None, progress: Progress = NO_PROGRESS,
          verify: Verify | None = None) -> MergeResult:
    """Merge `source` (NAME@REV) into branch `into` of the same dataset; `verify(plan,
    built)` may refuse the version the branch would hold (nothing is recorded then)."""
    if strategy not in STRATEGIES:
        raise UsageError(f"unknown strategy {strategy!r}; use one of {', '.join(STRATEGIES)}")
    check_ref_name(into, "branch")
    rev = resolve_spec(reg, source)
    dataset, theirs = rev.dataset, rev.commit_id
    ours = reg.manifest.ref(dataset, "branch", into)
    if ours is None:
        raise UnknownRevision(f"{dataset}@{into}", "no such branch")
    base = merge_base(commit_parents(reg), ours, theirs)
    if base == theirs:
        return MergeResult(ours, dataset, into, theirs, base, up_to_date=True, dry_run=dry_run)
    if base == ours and not no_ff:
        if not dry_run:
            if verify is not None:
                _verify_fast_forward(reg, verify, dataset, into, ours, theirs)
            with reg.manifest.transaction():
                reg.manifest.set_ref(dataset, "branch", into, theirs, ours, f"merge {source}: fast-forward")
        return MergeResult(theirs, dataset, into, theirs, base, fast_forward=True, dry_run=dry_run)
    if base is None:
        raise NothingToMerge(source, f"{dataset}@{into}")
    msg = message if message is not None else f"Merge {source} into {into}"
    return combine(reg, dataset, into, ours, base, theirs, label=source, keys=keys, strategy=strategy,
                   resolve=resolve, message=msg, author=author, dry_run=dry_run, extra_parents=(theirs,),
                   progress=progress, verify=verify)


def _verify_fast_forward(reg, verify: Verify, dataset: str, into: str, ours: CommitId, theirs: CommitId) -> None:
    """Hold `theirs` to the hook as if committed on `into` over `ours`: every split of
    theirs as built (no new objects), the splits it lacks dropped."""
    c_ours, c_theirs = get_commit(reg, ours), get_commit(reg, theirs)
    built = [BuiltSplit(name, ObjectId(sid), None, 0, (), None, SplitResult(0, 0, 0, 0))
             for name, sid in sorted(c_theirs.splits.items())]
    plan = CommitPlan(dataset=dataset, branch=into, message=c_theirs.message, author=c_theirs.author, splits=(),
                      drop_splits=tuple(s for s in sorted(c_ours.splits) if s not in c_theirs.splits),
                      keys=tuple(c_theirs.metadata.get("keys") or ()), metadata=None, allow_empty=True,
                      empty_files=True, parent_id=ours, parent=c_ours, base=c_ours, new_branch=False)
    verify(plan, built)


def combine(reg, dataset: str, into: str, ours: CommitId, base: CommitId, theirs: CommitId, *, label: str,
            keys=(), strategy: str = "fail", resolve=None, message: str = "", author: str | None = None,
            dry_run: bool = False, extra_parents: tuple[CommitId, ...] = (),
            progress: Progress = NO_PROGRESS, verify: Verify | None = None) -> MergeResult:
    """The three-way merge of `theirs` into branch `into` (at `ours`) against `base`,
    recorded as a commit on `into` whose parents are `ours` and `extra_parents` (a merge
    names theirs; a revert names nobody else)."""
    c_base, c_ours, c_theirs = (get_commit(reg, c) for c in (base, ours, theirs))
    keys = tuple(keys) or tuple(c_theirs.metadata.get("keys") or c_ours.metadata.get("keys") or ())
    resolved = _resolve_rows(resolve, keys) if resolve is not None else None
    with staged(reg):
        merges, replaced, dropped = _merge_splits(reg, c_base, c_ours, c_theirs, keys, strategy, resolved, progress)
        conflicts = {s: m.conflict_table() for s, m in merges.items() if m.conflicts}
        counts = {s: m.counts() for s, m in merges.items()}
        counts.update({s: _taken_counts(reg, c_ours.splits.get(s), sid) for s, sid in replaced.items()})
        counts.update({s: _taken_counts(reg, c_ours.splits[s], None) for s in dropped})
        out = MergeResult(ours, dataset, into, theirs, base, dry_run=dry_run, splits=counts, conflicts=conflicts)
        if conflicts and strategy == "fail" and not dry_run:
            raise MergeConflict(label, f"{dataset}@{into}", conflicts, out.conflict_count)
        if dry_run:
            return out
        built = [_built(reg, name, m) for name, m in merges.items()]
        built += [BuiltSplit(name, ObjectId(sid), None, 0, (), None, SplitResult(0, 0, 0, 0))
                  for name, sid in replaced.items()]
        plan = CommitPlan(dataset=dataset, branch=into, message=message, author=author or default_author(),
                          splits=(), drop_splits=tuple(dropped), keys=(), metadata=None, allow_empty=True,
                          empty_files=True, parent_id=ours, parent=c_ours, base=c_ours, new_branch=False,
                          extra_parents=extra_parents)
        if verify is not None:
            verify(plan, built)
        done = record_commit(reg, plan, built)
    for b in built:
        if b.name in counts:
            counts[b.name].update(new_rows=b.result.new_rows, new_bytes=b.result.new_bytes)
    return MergeResult(done.id, dataset, into, theirs, base, splits=counts)


def _merge_splits(reg, c_base, c_ours, c_theirs, keys, strategy, resolved, progress):
    """Per split: merged row by row (both sides changed it), or taken from theirs whole
    (only theirs changed it: `replaced`), or dropped (theirs dropped it, ours kept it as
    it was)."""
    merges: dict[str, SplitMerge] = {}
    replaced: dict[str, str] = {}
    dropped: list[str] = []
    for name in sorted(set(c_base.splits) | set(c_ours.splits) | set(c_theirs.splits)):
        b, o, t = (c.splits.get(name) for c in (c_base, c_ours, c_theirs))
        if o == t or t == b:
            continue                                     # theirs changed nothing ours lacks
        if o == b:
            if t is None:
                dropped.append(name)
            else:
                replaced[name] = t
            continue
        snaps = [get_snapshot(reg, x) if x is not None else None for x in (b, o, t)]
        if snaps[1] is None or snaps[2] is None:         # dropped on one side, changed on the other
            kept = snaps[1] if snaps[1] is not None else snaps[2]
            assert kept is not None      # o != t, so not both gone
            m = SplitMerge(name, kept.schema, snaps[1], snaps[2], keys)
            m.conflicts.append((None, None, "split", "dropped" if o is None else "changed",
                                "dropped" if t is None else "changed"))
            merges[name] = m
            continue
        merges[name] = _merge_split(reg, name, snaps[0], snaps[1], snaps[2], keys, strategy, resolved, progress)
    return merges, replaced, dropped


def _merge_split(reg, name, base, ours, theirs, keys, strategy, resolved, progress) -> SplitMerge:
    split_keys = keys if keys and all(k in ours.schema.names and k in theirs.schema.names for k in keys) else ()
    m = SplitMerge(name, ours.schema, ours, theirs, split_keys)
    same = base is not None and all(schemas_compatible(base.schema, s.schema) for s in (ours, theirs))
    progress.start(f"merge {name}", None)
    try:
        if same and split_keys:
            merge_keyed(m, reg.store, base, ours, theirs, strategy, resolved)
        elif same:
            merge_multisets(m, reg.store, base, ours, theirs)
        elif split_keys:
            merge_whole(m, reg.store, base, ours, theirs, strategy, resolved, shard_stats=shard_stats)
        else:
            m.conflicts.append((None, None, "schema", "changed", "changed"))
    finally:
        progress.finish()
    return m


def _taken_counts(reg, ours_sid: str | None, theirs_sid: str | None) -> dict[str, int]:
    """What taking theirs' split whole does to ours' rows (rows as multisets)."""
    from dsreg.diff.compare import changed_positions
    if ours_sid is None or theirs_sid is None:
        rows = get_snapshot(reg, ours_sid or theirs_sid).rows  # type: ignore[arg-type]
        return {"added": rows if ours_sid is None else 0, "removed": rows if theirs_sid is None else 0,
                "modified": 0, "conflicts": 0}
    removed, added = changed_positions(reg.store, get_snapshot(reg, ours_sid), get_snapshot(reg, theirs_sid))
    return {"added": len(added), "removed": len(removed), "modified": 0, "conflicts": 0}


def _built(reg, name: str, m: SplitMerge) -> BuiltSplit:
    snap, new_rows, new_bytes = build(m, reg.store, shard_stats)
    data = encode_snapshot(snap)
    sid, is_new = reg.store.put(data)
    return BuiltSplit(name, sid, snap, len(data), (), None,
                      SplitResult(rows=snap.rows, new_rows=new_rows, reused_rows=snap.rows - new_rows,
                                  new_bytes=new_bytes + (len(data) if is_new else 0)))


def _resolve_rows(resolve, keys: tuple[str, ...]) -> dict[tuple, pa.Table]:
    """{key: one-row table} of the chosen rows (Parquet or CSV file, or a table)."""
    if not keys:
        raise UsageError("resolving conflicts by rows needs key columns")
    if isinstance(resolve, pa.Table):
        table = resolve
    elif str(resolve).endswith((".csv", ".tsv")):
        import pyarrow.csv as pacsv
        table = pacsv.read_csv(str(resolve))
    else:
        import pyarrow.parquet as pq
        table = pq.read_table(str(resolve))
    missing = [k for k in keys if k not in table.column_names]
    if missing:
        raise UsageError(f"the resolve rows lack key column {missing[0]!r}")
    cols = [table[k].to_pylist() for k in keys]
    return {key: table.slice(i, 1) for i, key in enumerate(zip(*cols))}


__all__ = ["merge", "combine", "MergeResult", "STRATEGIES"]
