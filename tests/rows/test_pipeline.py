"""The commit's read-ahead: in order, bounded, errors where they belong, stopped when left."""
from __future__ import annotations

import threading
import time

import numpy as np
import pyarrow as pa
import pytest

from dsreg.rows.pipeline import ahead
from dsreg.rows.shards import ShardReader, write_shard
from dsreg.store.memory import MemoryStore


def test_results_come_in_order_computed_by_another_thread():
    threads = set()

    def work(x):
        threads.add(threading.get_ident())
        time.sleep(0.001 * (x % 3))       # uneven work must not reorder anything
        return x * x
    assert list(ahead(range(50), work)) == [x * x for x in range(50)]
    assert threads and threading.get_ident() not in threads


def test_at_most_depth_results_wait():
    made = []

    def items():
        for i in range(100):
            made.append(i)
            yield i
    it = ahead(items(), lambda x: x, depth=2)
    assert next(it) == 0
    time.sleep(0.2)
    # one given, two waiting, one being put: never the whole input
    assert len(made) <= 5
    it.close()


def test_an_error_in_the_thread_is_raised_at_its_item():
    def work(x):
        if x == 3:
            raise ValueError("bad row 3")
        return x
    got = []
    with pytest.raises(ValueError, match="bad row 3"):
        for v in ahead(range(10), work):
            got.append(v)
    assert got == [0, 1, 2]


def test_leaving_early_stops_the_thread_and_closes_the_input():
    closed = []

    def items():
        try:
            yield from range(10**9)
        finally:
            closed.append(True)
    before = threading.active_count()
    for v in ahead(items(), lambda x: x):
        if v == 5:
            break
    assert closed == [True]
    assert threading.active_count() == before


def test_prefetched_shards_read_as_shards_read_now():
    store = MemoryStore()
    tables = [pa.table({"a": np.arange(i * 100, i * 100 + 100), "s": [f"v{j}" for j in range(100)]})
              for i in range(4)]
    refs = [write_shard(store, t, np.arange(100, dtype=np.uint64))[0] for t in tables]
    reader = ShardReader(store, cache_size=1)
    try:
        for ref, t in zip(refs, tables):
            reader.prefetch(ref.id)
            assert reader.table(ref.id).equals(t)
        reader.prefetch(refs[0].id)
        reader.prefetch(refs[2].id)     # while the first is on its way: ignored, or replaces a finished one
        assert [reader.table(r.id).equals(t) for r, t in zip(refs, tables)] == [True] * 4
    finally:
        reader.close()


def test_a_commit_whose_input_fails_midway_records_nothing_and_leaves_no_thread(registry):
    """The read-ahead thread meets the bad batch first; the commit raises it, one line, and
    nothing is recorded (and no thread of the commit's is left behind)."""
    from dsreg.errors import BadInput
    schema = pa.schema([("a", pa.int64())])

    def batches():
        for i in range(5):
            if i == 3:
                raise pa.ArrowInvalid("corrupt batch")
            yield pa.record_batch([pa.array(np.arange(i * 10, i * 10 + 10))], schema=schema)
    reader = pa.RecordBatchReader.from_batches(schema, batches())
    with pytest.raises(BadInput, match="corrupt batch"):
        registry.commit("ds", {"train": reader})
    assert not registry.manifest.has_dataset("ds")
    assert not [t for t in threading.enumerate() if t.name.startswith(("dsreg-read-ahead", "dsreg-shard-decoder"))]
