"""A split built in partitions, by several workers: the base rows each partition was
matched to, and the partitions' snapshots joined back into one.

The driver matches every partition's fingerprints against the base (`BaseIndex.match`,
the one matching a single-process commit does) and hands each worker a `Proposals`: the
base rows proposed for its partition. The worker's `SnapshotBuilder` takes it in place of
a `BaseIndex` and proves each proposal, exactly as it proves the index's own (a
fingerprint collision costs a new row, never a wrong one). `join_snapshots` then makes the
split's snapshot from the partitions' ones, in partition order.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from dsreg.errors import PartitionChanged
from dsreg.model.serialize import ShardRef, Snapshot
from dsreg.rows.shards import ShardReader


@dataclass(frozen=True)
class Proposal:
    """The base rows proposed for one partition: for each of its rows, an index into
    `shard_of`/`row_of` (-1: new), and the fingerprints the rows had when matched."""
    partition: int
    fps: np.ndarray             # uint64, one per row
    pos: np.ndarray             # int64, one per row: -1, or an index into shard_of/row_of
    shards: tuple[ShardRef, ...]
    shard_of: np.ndarray        # int32 index into `shards`
    row_of: np.ndarray          # int64 row in that shard


def propose(partition: int, fps: np.ndarray, pos: np.ndarray, base_shards: Sequence[ShardRef],
            base_shard_of: np.ndarray, base_row_of: np.ndarray) -> Proposal:
    """One partition's share of the driver's match (`pos` into the base index), carrying
    only the base shards and rows it names, so that each worker receives its own."""
    hit = pos >= 0
    shard_idx = base_shard_of[pos[hit]]
    used, local = np.unique(shard_idx, return_inverse=True)
    local_pos = np.full(len(pos), -1, dtype=np.int64)
    local_pos[hit] = np.arange(int(hit.sum()), dtype=np.int64)
    return Proposal(partition, fps, local_pos, tuple(base_shards[i] for i in used.tolist()),
                    local.astype(np.int32).reshape(-1), base_row_of[pos[hit]].astype(np.int64))


class Proposals:
    """A `BaseIndex` for `SnapshotBuilder` whose matches were decided by the driver: it
    hands out the proposal row by row, checking that the rows are the ones matched."""

    def __init__(self, reader: ShardReader, proposal: Proposal):
        self.reader = reader
        self.proposal = proposal
        self.shards = list(proposal.shards)
        # one unused entry at the end: the builder looks up every row's position, new rows'
        # (-1, read as 0) too, before it masks them out
        self.shard_of = np.append(proposal.shard_of, np.int32(0)).astype(np.int32)
        self.row_of = np.append(proposal.row_of, np.int64(0))
        self.at = 0

    def __len__(self) -> int:
        # every row passes through match, so every row's fingerprint is checked
        return len(self.proposal.fps)

    def match(self, fps: np.ndarray, previous: int) -> np.ndarray:
        end = self.at + len(fps)
        if end > len(self.proposal.fps) or not np.array_equal(fps, self.proposal.fps[self.at:end]):
            self.changed()
        pos = self.proposal.pos[self.at:end].copy()     # the builder marks failed proofs in it
        self.at = end
        return pos

    def finish(self) -> None:
        if self.at != len(self.proposal.fps):
            self.changed()

    def changed(self) -> None:
        raise PartitionChanged(self.proposal.partition)


def join_snapshots(schema: pa.Schema, parts: Iterable[Snapshot], prefix: Snapshot | None = None) -> Snapshot:
    """One snapshot reading `prefix`'s rows and then each part's, in order; runs that
    continue one another across a boundary become one, as a single build makes them."""
    shards: list[ShardRef] = []
    index: dict[str, int] = {}
    run_shard: list[int] = []
    run_start: list[int] = []
    run_count: list[int] = []
    for snap in ([prefix] if prefix is not None else []) + list(parts):
        for ref, start, count in snap.runs():
            if count <= 0:
                continue
            si = index.get(ref.id)
            if si is None:
                si = index[ref.id] = len(shards)
                shards.append(ref)
            if run_shard and run_shard[-1] == si and run_start[-1] + run_count[-1] == start:
                run_count[-1] += count
            else:
                run_shard.append(si)
                run_start.append(start)
                run_count.append(count)
    return Snapshot(schema_ipc=schema.serialize().to_pybytes(), shards=tuple(shards),
                    run_shard=np.asarray(run_shard, dtype=np.int64), run_start=np.asarray(run_start, dtype=np.int64),
                    run_count=np.asarray(run_count, dtype=np.int64))


__all__ = ["Proposal", "Proposals", "propose", "join_snapshots"]
