"""`log`: a version's history as entries, newest first."""
from __future__ import annotations

from dataclasses import dataclass
from itertools import islice
from typing import TYPE_CHECKING

from dsreg.ids import CommitId
from dsreg.jsonvalues import JsonFields
from dsreg.model.history import newest_first
from dsreg.model.objects import get_commit

if TYPE_CHECKING:
    from dsreg.registry import Registry


@dataclass(frozen=True)
class LogEntry(JsonFields):
    id: CommitId
    parents: tuple[CommitId, ...]
    message: str
    author: str
    timestamp: int


def log_entries(reg: Registry, start: CommitId, n: int | None = None) -> list[LogEntry]:
    """`start` and its history (all parents), newest first by time; the first `n`."""
    walk = newest_first(lambda cid: get_commit(reg, cid), start)
    return [LogEntry(CommitId(cid), c.parents, c.message, c.author, c.timestamp)
            for cid, c in islice(walk, n)]


__all__ = ["LogEntry", "log_entries"]
