"""CPU seconds of each phase of a commit, each run alone on the same file (process_time:
every thread, pyarrow's pools included), so the profile depends little on the machine's load.

    ARROW_DEFAULT_MEMORY_POOL=jemalloc PYTHONPATH=src python -m bench.commit_phases DATA/base.parquet

(jemalloc: the pool the command line uses, see cli/util.py tune_process)

prints a Markdown table (docs/benchmarks.md, "Commit speed").
"""
import sys
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from dsreg.rows import fingerprint
from dsreg.rows.equality import tables_equal
from dsreg.rows.fingerprint import row_fingerprints, row_nbytes
from dsreg.rows.shards import ShardReader, write_shard
from dsreg.rows.sorting import stable_argsort
from dsreg.stats import shard_stats
from dsreg.store.memory import MemoryStore

path = sys.argv[1]
def cpu(label, fn):
    c, t = time.process_time(), time.perf_counter()
    r = fn()
    print(f"| {label} | {time.process_time() - c:.2f} s | {time.perf_counter() - t:.2f} s |", flush=True)
    return r
print("| phase | CPU | wall |\n|---|---:|---:|")
batches = cpu("decode the input (iter_batches of 65,536 rows)", lambda: list(pq.ParquetFile(path).iter_batches(batch_size=65536)))
table = pa.Table.from_batches(batches)
cpu("decode the input (pyarrow.parquet.read_table)", lambda: pq.read_table(path))
nat = fingerprint.native
fps = cpu("row fingerprints, native kernel", lambda: np.concatenate([row_fingerprints(b) for b in batches]))
fingerprint.native = None
cpu("row fingerprints, numpy (before)", lambda: np.concatenate([row_fingerprints(b) for b in batches]))
fingerprint.native = nat
cpu("row sizes", lambda: [row_nbytes(b) for b in batches])
store = MemoryStore()
step = 120_000          # about one 32 MiB shard of these rows
pieces = [table.slice(i, step).combine_chunks() for i in range(0, table.num_rows, step)]
refs = cpu("write shards (zstd Parquet, hashes, chunk index)", lambda: [write_shard(store, p, fps[i * step:(i + 1) * step])[0] for i, p in enumerate(pieces)])
cpu("card statistics of those shards (before: at commit)", lambda: [shard_stats(p, 8192) for p in pieces])
reader = ShardReader(store, cache_size=1)
cpu("decode the base shards whole, Arrow's threads (before)", lambda: [reader.table(r.id) for r in refs])
reader = ShardReader(store, cache_size=1, by_row_group=True)
base = cpu("decode the base shards by row group (verification)", lambda: [reader.table(r.id) for r in refs])
cpu("compare reused rows (tables_equal, 65,536-row spans)", lambda: [tables_equal(b, p) for b, p in zip(base, pieces)])
cpu("base index: numpy's stable argsort (before)", lambda: np.argsort(fps, kind="stable"))
cpu("base index: stable_argsort", lambda: stable_argsort(fps))
