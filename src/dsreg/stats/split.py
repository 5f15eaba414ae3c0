"""Column statistics of one split of a version, assembled from the statistics of shard blocks.

A split reads runs of shard rows. A run that covers a block (a row group) whole takes its
stored statistics as they are; the rows a run takes from a block only in part are read
(just those row groups) and counted on the spot. So every count is exact whatever runs a
version is made of, and a version made of whole blocks is never read.

Stored statistics are a cache: a shard without them (fetched from a remote, or written by
an older dsreg) gets them computed from its data the first time they are needed, and a
split's finished statistics are kept per snapshot, so a card is computed once per version.
"""
from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from dsreg.errors import DsregError, NotLocal
from dsreg.ids import ObjectId
from dsreg.model.serialize import ShardRef, Snapshot, decode_snapshot
from dsreg.progress import NO_PROGRESS, Progress
from dsreg.rows.arrowtypes import conform, storage_schema
from dsreg.stats import STATS_FORMAT, ColumnStats, TableStats, finalize, kind_of, table_stats, without_rows

if TYPE_CHECKING:
    from dsreg.registry import Registry


# finished statistics kept per snapshot; a new value recomputes what older dsregs kept (here:
# quantiles in the column's terms, distinct-value registers of partly used blocks from the rows kept)
SPLIT_STATS_FORMAT = "dsreg-split-stats-2"
MOSTLY_USED = 0.5    # from this fraction of a block on, count what it leaves out and subtract


def split_stats(reg: Registry, snapshot_id: str, snap: Snapshot | None = None, progress: Progress = NO_PROGRESS,
                local_only: bool = False) -> dict:
    """Finished statistics of a split version: {"rows", "bytes", "columns": {name: {...}}}.
    With `local_only`, raises `NotLocal` rather than fetch shard data from a remote."""
    m = reg.manifest
    cached = m.split_stats(snapshot_id)
    if cached is not None and cached.get("format") == SPLIT_STATS_FORMAT:
        return cached
    snap = snap or decode_snapshot(reg.store.get(ObjectId(snapshot_id)))
    merged = merge_split(reg, snap, progress, local_only)
    schema = snap.schema
    out = {"format": SPLIT_STATS_FORMAT, "rows": merged.rows, "bytes": merged.nbytes,
           "columns": {f.name: finalize(merged.columns.get(f.name) or ColumnStats(kind_of(f.type)), f.type)
                       for f in schema}}
    quietly(m.set_split_stats, snapshot_id, out)
    return out


def prime(reg: Registry, splits: list[tuple[str, Snapshot]]) -> None:
    """Compute and keep the statistics of new split versions (best effort: they are a cache,
    and a card computes what is missing)."""
    for snapshot_id, snap in splits:
        try:
            split_stats(reg, snapshot_id, snap, local_only=True)    # a clone fetches no data for this
        except (NotLocal, DsregError, OSError, pa.ArrowException):
            pass




def _shard_data(reg: Registry, ref: ShardRef, local_only: bool) -> bytes:
    if local_only and not reg.store.has(ref.id):
        raise NotLocal(ref.id)
    return reg.store.get(ref.id)


def merge_split(reg: Registry, snap: Snapshot, progress: Progress = NO_PROGRESS, local_only: bool = False,
                mostly_used: float = MOSTLY_USED) -> TableStats:
    """The mergeable statistics of every row the split reads (`mostly_used`: see `_partly_used`)."""
    storage = storage_schema(snap.schema)
    docs = reg.manifest.shard_stats([s.id for s in snap.shards])
    total = TableStats()
    order = np.argsort(snap.run_shard, kind="stable")
    run_shard, run_start, run_count = snap.run_shard[order], snap.run_start[order], snap.run_count[order]
    groups = np.split(np.arange(len(order)), np.flatnonzero(np.diff(run_shard)) + 1) if len(order) else []
    progress.start("statistics", snap.rows)
    for g in groups:
        ref = snap.shards[int(run_shard[g[0]])]
        doc = docs.get(ref.id)
        if doc is None or not _usable(doc, ref, storage.names):    # fetched, or written before statistics existed
            doc = shard_stats_from_data(_shard_data(reg, ref, local_only), storage)
            quietly(reg.manifest.set_shard_stats, ref.id, doc)
        blocks = doc["blocks"]
        edges = np.concatenate([[0], np.cumsum([b["rows"] for b in blocks])]).astype(np.int64)
        block, lo, hi = _pieces(edges, run_start[g], run_count[g])
        whole = (lo == edges[block]) & (hi == edges[block + 1])
        times = np.bincount(block[whole], minlength=len(blocks))
        for b in np.flatnonzero(times).tolist():
            stats = TableStats.from_doc(blocks[b])
            for _ in range(int(times[b])):
                total.merge(stats)
        if not whole.all():
            part = ~whole
            total.merge(_partly_used(_shard_data(reg, ref, local_only), blocks, edges, block[part], lo[part],
                                     hi[part], storage, mostly_used))
        progress.advance(int(run_count[g].sum()))
    progress.finish()
    return total


def _pieces(edges: np.ndarray, starts: np.ndarray, counts: np.ndarray):
    """Runs cut at block edges: (block, first row, end row) of every piece, in shard rows."""
    ends = starts + counts
    b0 = np.searchsorted(edges, starts, side="right") - 1
    b1 = np.searchsorted(edges, ends - 1, side="right") - 1
    n = b1 - b0 + 1
    run = np.repeat(np.arange(len(starts)), n)
    block = b0[run] + (np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n))
    return block, np.maximum(starts[run], edges[block]), np.minimum(ends[run], edges[block + 1])


def _ranges(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Every row of the ranges [lo, hi), concatenated."""
    n = hi - lo
    return np.repeat(lo - (np.cumsum(n) - n), n) + np.arange(int(n.sum()), dtype=np.int64)


def _partly_used(data: bytes, blocks: list[dict], edges: np.ndarray, block: np.ndarray, lo: np.ndarray,
                 hi: np.ndarray, storage: pa.Schema, mostly_used: float) -> TableStats:
    """Statistics of the rows taken from blocks of one shard only in part: only their row groups are read.

    A block used mostly (at least `mostly_used` of its rows, and none twice) gets its stored
    statistics less those of the rows left out, which are few: exact all the same (see
    `stats.without_rows`); its distinct-value registers, which cannot subtract, are made from
    the rows kept. Other blocks have the rows used counted directly."""
    pf = pq.ParquetFile(pa.BufferReader(data))
    md = pf.metadata
    rg_edges = np.concatenate([[0], np.cumsum([md.row_group(i).num_rows for i in range(md.num_row_groups)])])
    partial = np.unique(block)
    first = np.searchsorted(rg_edges, edges[partial], side="right") - 1
    last = np.searchsorted(rg_edges, edges[partial + 1] - 1, side="right") - 1
    wanted = np.unique(np.concatenate([np.arange(a, b + 1) for a, b in zip(first, last)]))
    table = conform(pf.read_row_groups(wanted.tolist()), storage)
    offset = np.zeros(md.num_row_groups, dtype=np.int64)
    offset[wanted] = np.concatenate([[0], np.cumsum(rg_edges[wanted + 1] - rg_edges[wanted])[:-1]])

    def at(rows: np.ndarray) -> np.ndarray:         # shard rows -> rows of `table`
        g = np.searchsorted(rg_edges, rows, side="right") - 1
        return rows - rg_edges[g] + offset[g]
    rows = _ranges(lo, hi)
    of_block = np.repeat(block, hi - lo)
    order = np.argsort(of_block, kind="stable")
    out = TableStats()
    for idx in np.split(order, np.flatnonzero(np.diff(of_block[order])) + 1):
        b = int(of_block[idx[0]])
        used = rows[idx]
        start, size = int(edges[b]), int(edges[b + 1] - edges[b])
        if len(used) >= mostly_used * size:
            times = np.bincount(used - start, minlength=size)
            if times.max() <= 1:      # the block's rows lie together in `table`
                block_rows = table.slice(int(at(np.array([start]))[0]), size)
                left = without_rows(TableStats.from_doc(blocks[b]), block_rows, times > 0)
                if left is not None:
                    out.merge(left)
                    continue
        out.merge(table_stats(table.take(at(used))))
    return out


def _usable(doc: dict | None, ref: ShardRef, names: list[str]) -> bool:
    if not doc or doc.get("format") != STATS_FORMAT:
        return False
    blocks = doc.get("blocks") or []
    return sum(b["rows"] for b in blocks) == ref.rows and all(set(names) <= set(b["columns"]) for b in blocks)


def shard_stats_from_data(data: bytes, storage: pa.Schema) -> dict:
    """A shard's statistics, one block per row group, from its bytes (as `write_shard` makes them)."""
    pf = pq.ParquetFile(pa.BufferReader(data))
    blocks = [table_stats(conform(pf.read_row_group(i), storage)).to_doc() for i in range(pf.num_row_groups)]
    return {"format": STATS_FORMAT, "blocks": blocks}


def quietly(fn, *args) -> None:
    """Caching is best effort: a read-only or busy manifest still gets its card."""
    try:
        fn(*args)
    except sqlite3.Error:
        pass


__all__ = ["SPLIT_STATS_FORMAT", "split_stats", "merge_split", "shard_stats_from_data", "quietly",
           "prime"]
