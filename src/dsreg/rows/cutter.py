"""Where new shards end: content-defined cut points over row fingerprints.

Cut points depend only on the rows themselves (their fingerprints and sizes) and the
shard settings, so the same rows give the same shards whatever files or batches they
arrived in.
"""
from __future__ import annotations

import os
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np
import pyarrow as pa

from dsreg.model.serialize import ShardRef
from dsreg.rows.fingerprint import mix
from dsreg.rows.shards import DEFAULT_SHARD_SETTINGS, ShardSettings, ShardStats, write_shard
from dsreg.store import ObjectStore

_CUT_SALT = np.uint64(0x5851F42D4C957F2D)     # part of the format, as the shard settings are


def cut_candidates(fps: np.ndarray, nbytes: np.ndarray, target_bytes: int) -> np.ndarray:
    """Rows after which a shard may end: each row is a candidate with probability
    nbytes/target_bytes, decided by its fingerprint, so shards average the target size."""
    threshold = np.minimum(nbytes.astype(np.float64) / target_bytes, 1.0) * 2.0**64
    return mix(fps ^ _CUT_SALT).astype(np.float64) < threshold


class ShardCutter:
    """Accumulates new rows and emits shards at content-defined cut points.

    Shards are encoded and stored by background threads, so that writing them overlaps
    reading and fingerprinting the next rows (Parquet encoding, hashing and file I/O
    release the GIL); at most `MAX_PENDING` shards wait, which bounds memory. They are
    collected in emission order, so the result does not depend on the threads."""

    WRITERS = min(2, os.cpu_count() or 1)
    MAX_PENDING = 3

    def __init__(self, store: ObjectStore, on_shard=None, settings: ShardSettings = DEFAULT_SHARD_SETTINGS,
                 shard_stats: ShardStats | None = None):
        self.store = store
        self.on_shard = on_shard
        self.settings = settings
        self.shard_stats = shard_stats
        self._writer: ThreadPoolExecutor | None = None
        self._writing: deque[Future] = deque()
        self._batches: list[pa.RecordBatch | pa.Table] = []
        self._fps: list[np.ndarray] = []
        self._sizes: list[np.ndarray] = []
        self._pending_bytes = 0
        self.shards: list[ShardRef] = []        # in emission order
        self.bounds: list[int] = [0]            # new-row index where each shard starts
        self.new_bytes = 0
        self.rows = 0

    def add(self, rows: pa.Table, fps: np.ndarray, sizes: np.ndarray) -> None:
        if rows.num_rows == 0:
            return
        self._batches.append(rows)
        self._fps.append(fps)
        self._sizes.append(sizes)
        self._pending_bytes += int(sizes.sum())
        self.rows += rows.num_rows
        if self._pending_bytes >= self.settings.min_bytes:
            self._cut(final=False)

    def finish(self) -> None:
        self._cut(final=True)
        while self._writing:
            self._collect()
        if self._writer is not None:
            self._writer.shutdown()
            self._writer = None

    def _emit(self, table: pa.Table, fps: np.ndarray) -> None:
        if self._writer is None:
            self._writer = ThreadPoolExecutor(self.WRITERS, thread_name_prefix="dsreg-shard-writer")
        self._writing.append(self._writer.submit(write_shard, self.store, table, fps, self.settings,
                                                  self.shard_stats))
        self.bounds.append(self.bounds[-1] + table.num_rows)
        while len(self._writing) > self.MAX_PENDING:
            self._collect()

    def _collect(self) -> None:
        """The oldest shard being written, once it is (shards stay in emission order)."""
        ref, written, _ = self._writing.popleft().result()
        self.shards.append(ref)
        self.new_bytes += written
        if self.on_shard:
            self.on_shard(ref, written)

    def _cut(self, final: bool) -> None:
        if not self._batches:
            return
        fps = np.concatenate(self._fps)
        sizes = np.concatenate(self._sizes)
        cum = np.cumsum(sizes)
        cand = np.flatnonzero(cut_candidates(fps, sizes, self.settings.target_bytes))
        start, start_bytes, cuts = 0, 0, []
        n = len(fps)
        while start < n:
            # first candidate whose shard would reach the minimum size, else the maximum
            lo = int(np.searchsorted(cum, start_bytes + self.settings.min_bytes, side="left"))
            hi = int(np.searchsorted(cum, start_bytes + self.settings.max_bytes, side="left"))
            k = int(np.searchsorted(cand, max(lo, start), side="left"))
            end = int(cand[k]) + 1 if k < len(cand) and cand[k] <= hi else hi + 1
            if end > n:
                if not final:
                    break
                end = n
            cuts.append(end)
            start, start_bytes = end, int(cum[end - 1])
        if not cuts:
            return
        table = pa.concat_tables([pa.Table.from_batches([b]) if isinstance(b, pa.RecordBatch) else b
                                  for b in self._batches])
        prev = 0
        for end in cuts:
            # contiguous, whatever batches the rows came in: Parquet's page boundaries follow
            # the input's chunks, and equal rows must give equal bytes. Each shard's rows are
            # copied once; the rows after the last cut wait as they are.
            self._emit(table.slice(prev, end - prev).combine_chunks(), fps[prev:end])
            prev = end
        rest = table.slice(prev)
        self._batches = [rest] if rest.num_rows else []
        self._fps = [fps[prev:]] if rest.num_rows else []
        self._sizes = [sizes[prev:]] if rest.num_rows else []
        self._pending_bytes = int(sizes[prev:].sum())
