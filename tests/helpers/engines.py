"""What the Dask and Ray tests share: tables and partitions, a comparison that ignores
dsreg's pinning metadata, a partition function and a Ray engine whose write phase kills
its worker. Dask and Ray
are imported only by the functions that need them (their tests skip without the extras)."""
from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa

from helpers.tables import make_table


@contextmanager
def dask_client() -> Iterator:
    """A client of a LocalCluster of 2 worker processes (one thread each) on loopback. A task
    that kills its worker is not retried on the other: the tests of a crash end sooner."""
    import dask
    import dask.distributed as distributed
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                           dashboard_address=None)
        client = distributed.Client(cluster)
        try:
            yield client
        finally:
            client.close()
            cluster.close()


def rows(n: int, seed: int = 0) -> pa.Table:
    return make_table(n, seed).drop_columns(["embedding"])      # (pandas turns fixed-size lists into lists)


def frame_of(pieces: list):
    """A dask DataFrame whose partitions are exactly `pieces` (pandas frames), in order."""
    import dask.dataframe as dd
    return dd.from_map(lambda i: pieces[i], range(len(pieces)), meta=pieces[0].iloc[:0], enforce_metadata=False)


def cut(df, bounds: list[int]) -> list:
    """Partitions of `df` between the bounds (equal bounds: an empty partition)."""
    edges = [0, *bounds, len(df)]
    return [df.iloc[a:b].reset_index(drop=True) for a, b in zip(edges[:-1], edges[1:])]


def same(a: pa.Table, b: pa.Table) -> bool:
    return a.replace_schema_metadata(None).equals(b.replace_schema_metadata(None))


def dies_when_written(seen_dir: str, rows_per_part: int):
    """A partition function (partition i: the integers from i * rows_per_part on, as column
    x) that kills its worker the second time it computes partition 1: in the write phase
    (the first time is the fingerprint phase)."""
    import numpy as np
    import pandas as pd

    def part(i: int) -> pd.DataFrame:
        marker = os.path.join(seen_dir, f"seen-{i}")
        if os.path.exists(marker) and i == 1:
            os._exit(1)
        open(marker, "w").close()
        return pd.DataFrame({"x": np.arange(i * rows_per_part, (i + 1) * rows_per_part)})
    return part


def worker_killing_engine(dsreg_ray, ds, armed: Path):
    """A RayEngine over `ds` whose write phase (phase 2) runs the blocks through a task
    that kills its worker on the blocks from x=100 on; the fingerprint phase runs as usual."""
    import ray  # noqa: F401 - the engine's dataset is a ray.data.Dataset

    def dies_once_armed(batch):
        if armed.exists() and int(batch["x"][0]) >= 100:
            os._exit(1)
        return batch

    engine = dsreg_ray.RayEngine(ds)
    fingerprint = engine.run

    def run(phase, extra):
        if extra is not None:       # phase 2: the same blocks, through a task that kills its worker
            armed.touch()
            engine.dataset = engine.dataset.map_batches(dies_once_armed, batch_format="numpy", max_retries=0)
        return fingerprint(phase, extra)

    engine.run = run
    return engine
