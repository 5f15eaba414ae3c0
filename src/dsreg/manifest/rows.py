"""The manifest's rows as typed, frozen values (what `Manifest` methods return)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from dsreg.ids import CommitId, ObjectId, ShardId
from dsreg.jsonvalues import JsonFields

RefKind = Literal["branch", "tag"]


def ref_kind(text: str) -> RefKind | None:
    """`text` as a ref kind; None if it is none."""
    return "branch" if text == "branch" else "tag" if text == "tag" else None


@dataclass(frozen=True)
class Ref:
    dataset: str
    kind: RefKind
    name: str
    commit: CommitId

    @property
    def full(self) -> str:
        return f"{self.dataset}@{self.name}"


@dataclass(frozen=True)
class RemoteInfo:
    name: str
    url: str
    endpoint_url: str | None
    cas_ok: bool | None         # honours conditional writes (None: not probed yet)


@dataclass(frozen=True)
class ReflogEntry(JsonFields):
    ref: str                    # "KIND:NAME", e.g. "branch:main"
    old: CommitId | None        # None: the ref was created
    new: CommitId | None        # None: the ref was deleted
    at: float                   # seconds since the epoch
    message: str


@dataclass(frozen=True)
class ShardRow:
    id: ShardId
    rows: int
    bytes: int
    fingerprints: ObjectId
    fp_bytes: int
    stats: dict


@dataclass(frozen=True)
class ShardObjects:
    id: ShardId
    fingerprints: ObjectId


@dataclass(frozen=True)
class SnapshotInfo:
    rows: int
    bytes: int
    shards: int
    runs: int


__all__ = ["RefKind", "ref_kind", "Ref", "RemoteInfo", "ReflogEntry", "ShardRow", "ShardObjects", "SnapshotInfo"]
