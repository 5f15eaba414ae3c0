"""The reading suite's steps, each run as its own process (`python -m bench.readsteps STEP
...`), printing one JSON document: what it read and how long the reading took inside the
process (`seconds`, imports excluded), beside the wall time and peak RSS the parent measures.

    shards REG SPEC                    the shard files of a version in the local store
    stream REG SPEC                    dsreg.dataset(...).to_batches(), every batch
    load REG SPEC                      dsreg.load(...), the whole table
    pyarrow LIST                       pyarrow.dataset over the files named in LIST
    torch REG SPEC BATCH WORKERS COLS LIMIT   a DataLoader over Dataset.to_torch(batch_size=BATCH)
    hf LIST BATCH WORKERS COLS MODE LIMIT     a DataLoader over datasets' streaming Parquet loader
                                       (the loaders stop after LIMIT rows)
    remote URL ENDPOINT SPEC           time to the first batch, and to the last, from a remote
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

from bench.procs import answer

BATCH_ROWS = 65536          # the same batch size for dsreg's stream and pyarrow's scan


def _counted(batches) -> dict:
    rows = nbytes = count = 0
    for b in batches:
        rows += b.num_rows
        nbytes += b.nbytes
        count += 1
    return {"rows": rows, "arrow_bytes": nbytes, "batches": count}


def shards(reg: str, spec: str) -> dict:
    import dsreg
    ds = dsreg.dataset(spec, registry=reg)
    ids = list(dict.fromkeys(s.id for s in ds.snapshot.shards))
    paths = [str(ds.store.local_path(i)) for i in ids]
    return {"commit": ds.commit, "rows": ds.num_rows, "paths": paths,
            "stored_bytes": sum(Path(p).stat().st_size for p in paths)}


def _opened(reg: str, spec: str, **kw):
    """The version opened (dsreg's lazy imports done), and how long opening took."""
    import dsreg
    t0 = time.perf_counter()
    ds = dsreg.dataset(spec, registry=reg, **kw)
    return ds, time.perf_counter() - t0


def stream(reg: str, spec: str) -> dict:
    ds, opening = _opened(reg, spec)
    t0 = time.perf_counter()
    out = _counted(ds.to_batches(BATCH_ROWS))
    return {**out, "seconds": time.perf_counter() - t0, "open_seconds": opening}


def load(reg: str, spec: str) -> dict:
    ds, opening = _opened(reg, spec)
    t0 = time.perf_counter()
    table = ds.to_table()         # what dsreg.load does
    return {"rows": table.num_rows, "arrow_bytes": table.nbytes, "seconds": time.perf_counter() - t0,
            "open_seconds": opening}


def scan(listing: str) -> dict:
    import pyarrow.dataset as pads
    paths = Path(listing).read_text().split()
    t0 = time.perf_counter()
    out = _counted(pads.dataset(paths, format="parquet").to_batches(batch_size=BATCH_ROWS))
    return {**out, "seconds": time.perf_counter() - t0}


def _drain(loader, limit: int) -> dict:
    rows = batches = 0
    t0 = time.perf_counter()
    for batch in loader:
        rows += len(next(iter(batch.values())))
        batches += 1
        if rows >= limit:
            break
    return {"rows": rows, "batches": batches, "seconds": time.perf_counter() - t0}


def torch_loader(reg: str, spec: str, batch: str, workers: str, cols: str, limit: str) -> dict:
    import pyarrow.parquet  # noqa: F401 - imported before the clock starts, as datasets imports it
    from torch.utils.data import DataLoader
    t0 = time.perf_counter()
    view, _ = _opened(reg, spec, columns=cols.split(","))
    ds = view.to_torch(batch_size=int(batch))
    out = _drain(DataLoader(ds, batch_size=None, num_workers=int(workers)), int(limit))
    return {**out, "seconds": time.perf_counter() - t0}


def hf_loader(listing: str, batch: str, workers: str, cols: str, mode: str, limit: str) -> dict:
    """`rows`: what datasets' docs show (rows collated by the DataLoader); `batched`:
    `IterableDataset.batch`, whole batches handed over (DataLoader(batch_size=None))."""
    import datasets
    from torch.utils.data import DataLoader
    datasets.disable_progress_bars()
    t0 = time.perf_counter()
    ds = datasets.load_dataset("parquet", data_files=Path(listing).read_text().split(), split="train",
                               streaming=True, columns=cols.split(","))
    if mode == "batched":
        loader = DataLoader(ds.batch(int(batch)).with_format("torch"), batch_size=None, num_workers=int(workers))
    else:
        loader = DataLoader(ds.with_format("torch"), batch_size=int(batch), num_workers=int(workers))
    out = _drain(loader, int(limit))
    return {**out, "seconds": time.perf_counter() - t0, "n_shards": ds.num_shards}


def remote(url: str, endpoint: str, spec: str) -> dict:
    t0 = time.perf_counter()
    import boto3  # noqa: F401 - what any reader of S3 imports; dsreg imports lazily
    import pyarrow.parquet  # noqa: F401

    import dsreg
    imported = time.perf_counter()
    batches = dsreg.dataset(spec, remote=url, endpoint_url=endpoint).to_batches(BATCH_ROWS)
    first = next(batches)
    t_first = time.perf_counter()
    rest = _counted(batches)
    done = time.perf_counter()
    return {"import_seconds": imported - t0, "first_batch_seconds": t_first - imported,
            "seconds": done - imported, "rows": first.num_rows + rest["rows"],
            "arrow_bytes": first.nbytes + rest["arrow_bytes"]}


STEPS = {"shards": shards, "stream": stream, "load": load, "pyarrow": scan, "torch": torch_loader,
         "hf": hf_loader, "remote": remote}

if __name__ == "__main__":
    answer(STEPS[sys.argv[1]](*sys.argv[2:]))
