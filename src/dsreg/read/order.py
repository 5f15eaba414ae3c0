"""The order a training epoch reads a split in, and each rank's share of it.

The epoch's sequence is the read units in an order drawn from (commit, seed, epoch), each
unit's rows in an order drawn from (commit, seed, epoch, unit): a shuffle that repeats
exactly for a seed and differs across epochs, yet reads each unit once, whole. Rank r of
W takes a contiguous stretch of that sequence (N // W rows, one more for the first N % W
ranks), cut into the same number of batches on every rank, so DDP never waits on a rank
with nothing left. Everything is arithmetic on row counts: the state of a reader is
(epoch, batches done), whatever the size of the split.
"""
from __future__ import annotations

import numpy as np


def _rng(commit: str, seed: int, *more: int) -> np.random.Generator:
    return np.random.default_rng([int(commit[:16], 16), seed, *more])


class EpochOrder:
    """Where each position of an epoch's sequence is: (unit, row of the unit)."""

    def __init__(self, unit_rows: list[int], *, commit: str, seed: int, epoch: int, shuffle: bool):
        self.commit, self.seed, self.epoch, self.shuffle = commit, seed, epoch, shuffle
        rows = np.asarray(unit_rows, dtype=np.int64)
        self.units = _rng(commit, seed, epoch).permutation(len(rows)) if shuffle else np.arange(len(rows))
        self.ends = np.cumsum(rows[self.units]) if len(rows) else np.zeros(0, np.int64)
        self.total = int(self.ends[-1]) if len(rows) else 0

    def rows_within(self, unit: int, count: int) -> np.ndarray:
        """The order of one unit's rows in this epoch."""
        if not self.shuffle:
            return np.arange(count)
        return _rng(self.commit, self.seed, self.epoch, unit + 1).permutation(count)

    def locate(self, positions: np.ndarray) -> list[tuple[int, np.ndarray]]:
        """Consecutive runs of `positions` as (unit, positions within the unit's order)."""
        k = np.searchsorted(self.ends, positions, side="right")
        starts = np.concatenate([[0], self.ends[:-1]])[k]
        out: list[tuple[int, np.ndarray]] = []
        brk = np.flatnonzero(np.diff(k)) + 1
        for idx in np.split(np.arange(len(positions)), brk):
            if len(idx):
                out.append((int(self.units[k[idx[0]]]), positions[idx] - starts[idx]))
        return out


def rank_share(total: int, rank: int, world: int) -> tuple[int, int]:
    """(first position, rows) of rank's stretch of the sequence."""
    q, r = divmod(total, world)
    return rank * q + min(rank, r), q + (1 if rank < r else 0)


def rank_batches(total: int, rank: int, world: int, batch_size: int, drop_last: bool) -> list[np.ndarray]:
    """The positions of each batch of this rank, as many batches on every rank.

    Without `drop_last` every row is read exactly once over the ranks: a rank with one row
    fewer makes its last batch shorter (and, where that would leave it empty, takes one row
    from the batch before). Only when there is nothing left to take (fewer rows than
    batches: batches of one row, or more ranks than rows) does a rank repeat rows from the
    start of the sequence, as torch's DistributedSampler pads. With `drop_last`, every
    batch is full and the rows beyond the last full batch of the smallest share are not read.
    """
    first, n = rank_share(total, rank, world)
    if drop_last:
        count = (total // world) // batch_size
        return [first + b * batch_size + np.arange(batch_size) for b in range(count)]
    most = -(-total // world)
    count = max(-(-most // batch_size), 1 if total else 0)
    sizes = [batch_size] * max(count - 1, 0) + ([n - batch_size * (count - 1)] if count else [])
    if count >= 2 and sizes[-1] == 0 and sizes[-2] >= 2:
        sizes[-2] -= 1
        sizes[-1] = 1
    out, at = [], first
    for s in sizes:
        if s > 0:
            out.append(at + np.arange(s))
            at += s
        else:   # padding: repeat rows from the start of the sequence
            out.append(np.arange(rank, rank + 1) % total)
    return out
