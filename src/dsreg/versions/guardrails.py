"""What a commit should say even when no check is configured: mistakes that are easy to
make and silent otherwise. Notes, not refusals: the commit is recorded as asked.

- every split committed is new while the parent has splits: likely a typo'd name
  (`tran=...` adds a third split) — the closest existing split is named;
- columns removed, or a key column's type changed, against the parent's split;
- no message (it shows as "(no message)").
"""
from __future__ import annotations

from dataclasses import dataclass
from difflib import get_close_matches
from typing import TYPE_CHECKING

from dsreg.ids import ObjectId
from dsreg.model.serialize import decode_snapshot

if TYPE_CHECKING:
    from dsreg.versions.commit import BuiltSplit, CommitPlan


@dataclass(frozen=True)
class Note:
    kind: str           # "new-splits", "removed-columns", "key-type", "no-message"
    split: str | None
    message: str
    closest: str | None = None      # new-splits: the existing split the name is closest to

    def to_json(self) -> dict:
        return {"kind": self.kind, "split": self.split, "message": self.message, "closest": self.closest}


def commit_notes(reg, plan: CommitPlan, built: list[BuiltSplit]) -> tuple[Note, ...]:
    notes: list[Note] = []
    old = dict(plan.parent.splits) if plan.parent else {}
    named = [s.name for s in plan.splits]
    if old and named and not any(s in old for s in named):
        for s in named:
            close = get_close_matches(s, list(old), n=1, cutoff=0.5)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            notes.append(Note("new-splits", s, f"split {s!r} is new (the parent has {', '.join(sorted(old))}){hint}",
                              close[0] if close else None))
    keys = set(plan.keys or (plan.parent.metadata.get("keys") or () if plan.parent else ()))
    for b in built:
        if b.name not in old:
            continue
        before = decode_snapshot(reg.store.get(ObjectId(old[b.name]))).schema
        after = b.snapshot.schema if b.snapshot is not None else decode_snapshot(reg.store.get(b.snapshot_id)).schema
        gone = [n for n in before.names if n not in after.names]
        if gone:
            notes.append(Note("removed-columns", b.name, f"split {b.name!r}: column{'s' if len(gone) > 1 else ''} "
                                                         f"{', '.join(gone)} removed"))
        for k in sorted(keys):
            if k in before.names and k in after.names and not before.field(k).type.equals(after.field(k).type):
                notes.append(Note("key-type", b.name, f"split {b.name!r}: key column {k!r} changed type from "
                                                      f"{before.field(k).type} to {after.field(k).type}"))
    if not plan.message.strip():
        notes.append(Note("no-message", None, "no message: recorded as (no message)"))
    return tuple(notes)


__all__ = ["Note", "commit_notes"]
