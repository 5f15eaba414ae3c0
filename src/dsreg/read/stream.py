"""Streaming: a background thread reads ahead into a bounded queue, so that fetching and
decoding the next read units overlaps the consumer's work, and memory holds at most
`depth` pieces beyond the one being consumed.

The consumer may stop early (break, close, garbage collection): the thread is told to stop
and is joined, so no reader outlives its stream. An error in the thread is raised in the
consumer, in order, after everything read before it.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

import pyarrow as pa

from dsreg.rows.pipeline import ahead

T = TypeVar("T")


def prefetched(items: Callable[[], Iterable[T]], depth: int = 4) -> Iterator[T]:
    """Iterate `items()` in a background thread, at most `depth` items ahead (the thread
    and its stopping are rows/pipeline.py's `ahead`, which commits use too)."""
    if depth <= 0:
        yield from items()
        return

    def lazily() -> Iterator[T]:        # so that items() itself runs in the thread
        yield from items()
    yield from ahead(lazily(), _same, depth)


def _same(x: T) -> T:
    return x


def rebatch(tables: Iterable[pa.Table], batch_size: int, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    """Record batches of exactly `batch_size` rows (the last one may be shorter), whatever
    sizes the tables come in; at most one batch's rows are held back."""
    if batch_size <= 0:
        from dsreg.errors import UsageError
        raise UsageError("batch_size must be positive")
    held: list[pa.Table] = []
    n = 0
    for t in tables:
        if t.num_rows == 0:
            continue
        held.append(t)
        n += t.num_rows
        while n >= batch_size:
            whole = pa.concat_tables(held) if len(held) > 1 else held[0]
            yield _one_batch(whole.slice(0, batch_size), schema)
            rest = whole.slice(batch_size)
            held, n = ([rest] if rest.num_rows else []), rest.num_rows
    if n:
        yield _one_batch(pa.concat_tables(held) if len(held) > 1 else held[0], schema)


def _one_batch(t: pa.Table, schema: pa.Schema) -> pa.RecordBatch:
    batches = t.combine_chunks().to_batches()
    if not batches:
        return pa.RecordBatch.from_pylist([], schema=schema)
    return batches[0].replace_schema_metadata(schema.metadata) if len(batches) == 1 else \
        pa.Table.from_batches(batches).combine_chunks().to_batches()[0]
