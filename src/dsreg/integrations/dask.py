"""Dask: a version as a dask DataFrame (one partition per read unit, with column
projection), and a dask DataFrame committed from its workers in two phases
(versions/distributed.py). Dask is imported only here, when these are called."""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from dsreg.integrations import need
from dsreg.integrations.engines import commit_engine, open_version
from dsreg.read.units import DEFAULT_TARGET_BYTES, ReadUnit
from dsreg.versions.commit import DEFAULT_SPLIT, CommitResult

if TYPE_CHECKING:
    import pyarrow.compute as pc

    from dsreg.read.dataset import Dataset


class UnitReader:
    """Reads one read unit as a pandas DataFrame: of the `columns` dask asks for when a
    query uses fewer (its projection pushdown), read by the units' column chunks."""

    def __init__(self, ds: Dataset):
        self.ds = ds

    def __dask_tokenize__(self) -> tuple:
        # a pinned version: the same view reads the same rows
        return ("dsreg", self.ds.commit, self.ds.split, self.ds.columns, str(self.ds.filter))

    def __call__(self, unit: ReadUnit, columns: Sequence[str] | None = None) -> Any:
        ds = self.ds
        if columns is not None and list(columns) != ds.schema.names:
            wanted = set(columns)
            ds = ds.select([c for c in ds.schema.names if c in wanted])
        return frame(ds.read_unit(unit))


def frame(table: pa.Table) -> Any:
    """A table as pandas, as dask keeps it: strings as pyarrow strings, and the kinds numpy
    has no dtype for (lists, structs, binaries, decimals) as Arrow dtypes. Left as
    `object`, dask would take them for strings and convert them into their repr."""
    import pandas as pd

    def mapper(t: pa.DataType) -> Any:
        if pa.types.is_string(t) or pa.types.is_large_string(t):
            return pd.StringDtype("pyarrow")
        if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t) or \
                pa.types.is_temporal(t) or pa.types.is_dictionary(t):
            return None
        return pd.ArrowDtype(t)
    return table.to_pandas(types_mapper=mapper)


def read(spec: Any, split: str = DEFAULT_SPLIT, columns: list[str] | None = None, filter: pc.Expression | None = None,
         *, registry: Any = None, remote: str | None = None, endpoint_url: str | None = None,
         target_bytes: int = DEFAULT_TARGET_BYTES) -> Any:
    """One split of a pinned version as a dask DataFrame, one partition per read unit of
    about `target_bytes` stored bytes, in order. `spec` is NAME[@REV] in `registry` (an
    open `dsreg.Registry`) or on `remote`, or a `dsreg.Dataset`. Workers read the units
    themselves: from the registry's folder (on a disk they share) or from the remote."""
    dd = need("dask.dataframe", "dask")
    ds = open_version(spec, split, columns, filter, registry, remote, endpoint_url)
    meta = frame(ds.schema.empty_table())
    units = ds.read_units(target_bytes)
    if not units:
        return dd.from_pandas(meta, npartitions=1)
    return dd.from_map(UnitReader(ds), units, meta=meta, label=f"dsreg-{ds.dataset}-{ds.split}",
                       enforce_metadata=False)


class DaskEngine:
    """Runs a phase over a dask DataFrame's partitions, on the current scheduler (a
    distributed Client's cluster when one is active)."""

    def __init__(self, ddf: Any):
        self.parts = ddf.to_delayed()

    def run(self, phase: Any, extra: Sequence[Any] | None) -> list[Any]:
        import dask
        tasks = [dask.delayed(phase, pure=False)(i, part, None if extra is None else extra[i])
                 for i, part in enumerate(self.parts)]
        client = _client()
        if client is None:
            return list(dask.compute(*tasks))
        from distributed import wait
        futures = client.compute(tasks)
        # every task ends (or fails) before an error is raised: none still writes into the
        # staging folder when the driver removes it
        wait(futures)
        return list(client.gather(futures))


def _client() -> Any:
    """The distributed Client in use, if any (dask's default scheduler otherwise)."""
    try:
        from distributed import default_client
        return default_client()
    except (ImportError, ValueError):
        return None


def commit(ddf: Any, name: str, *, split: str = DEFAULT_SPLIT, message: str = "", keys: Sequence[str] = (),
           registry: Any = None, remote: str | None = None, endpoint_url: str | None = None, branch: str = "main",
           append: bool = False, base: str | None = None, metadata: dict | None = None, author: str | None = None,
           schema: pa.Schema | None = None, no_verify: bool = False, **options: Any) -> CommitResult:
    """Commit a dask DataFrame's partitions, concatenated in order, as `split` of `name`:
    the version `Registry.commit` of the same rows would make. Workers fingerprint their
    partitions, then (computing them again: persist them first if that is costly, or if
    they are not deterministic) write the new rows straight into the registry, which
    they must reach on a shared disk, or with `remote=URL` straight to that remote's
    objects, with no registry; this process records one commit (on the remote: as push
    moves a branch, with its checks)."""
    need("dask.dataframe", "dask")
    return commit_engine(DaskEngine(ddf), name, registry=registry, remote=remote, endpoint_url=endpoint_url,
                         origin="<dask.DataFrame>",
                         no_verify=no_verify, split=split, message=message, keys=tuple(keys), branch=branch,
                         append=append, base=base, metadata=metadata, author=author, schema=schema, **options)


__all__ = ["read", "commit", "DaskEngine", "UnitReader"]
