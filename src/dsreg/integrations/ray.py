"""Ray Data: a version as a `ray.data.Dataset` (a `Datasource` whose read tasks are read
units, with their sizes), and a `ray.data.Dataset` committed from its workers in two
phases (versions/distributed.py), each phase a `Datasink`: `write` runs the phase on the
workers, `on_write_complete` gathers the partitions' results on the driver, which then
matches (after the first) or records the commit (after the second). Ray is imported only
here, when these are called."""
from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from dsreg.errors import DsregError
from dsreg.integrations import need
from dsreg.integrations.engines import commit_engine, open_version
from dsreg.read.units import DEFAULT_TARGET_BYTES, ReadUnit
from dsreg.versions.commit import DEFAULT_SPLIT, CommitResult

if TYPE_CHECKING:
    import pyarrow.compute as pc

    from dsreg.read.dataset import Dataset


def _read(ds: Dataset, unit: ReadUnit) -> list[pa.Table]:
    return [ds.read_unit(unit)]


@functools.cache
def _classes() -> tuple[type, type]:
    """The Datasource and Datasink classes: defined once Ray is imported."""
    need("ray.data", "ray")
    from ray.data.block import BlockAccessor, BlockMetadata
    from ray.data.datasource import Datasink, Datasource, ReadTask

    class VersionDatasource(Datasource):
        """One split of a pinned version; a read task per read unit."""

        def __init__(self, ds: Dataset, target_bytes: int):
            super().__init__()
            self.ds, self.target_bytes = ds, target_bytes
            self._projection_map: dict[str, str] | None = None     # (Datasource leaves it unset)

        def get_name(self) -> str:
            return f"dsreg({self.ds.dataset}@{self.ds.commit[:12]}:{self.ds.split})"

        def estimate_inmemory_data_size(self) -> int | None:
            return sum(u.bytes for u in self.ds.read_units(self.target_bytes))

        def supports_projection_pushdown(self) -> bool:
            return True

        def projected(self) -> Dataset:
            """The view with the columns Ray's optimizer pushed down (`select_columns`)."""
            wanted = self._get_data_columns()
            if not wanted:              # None: every column (and none asked: keep them, for the row count)
                return self.ds
            return self.ds.select([c for c in wanted if c in self.ds.schema.names])

        def get_read_tasks(self, parallelism: int, per_task_row_limit: int | None = None,
                           data_context: Any = None) -> list[Any]:
            ds = self.projected()
            schema = ds.schema
            exact = ds.filter is None      # a filter's rows are known only once read
            return [ReadTask(functools.partial(_read, ds, u),
                             BlockMetadata(num_rows=u.rows if exact else None, size_bytes=u.bytes,
                                           input_files=None, exec_stats=None),
                             schema=schema, per_task_row_limit=per_task_row_limit)
                    for u in ds.read_units(self.target_bytes)]

    class PhaseDatasink(Datasink):
        """Runs one phase of a distributed commit: each write task is one partition
        (`ctx.task_idx`), its blocks concatenated; the results, in partition order, are
        `results` on the driver once the write completes."""

        def __init__(self, phase: Any, extra: Sequence[Any] | None):
            self.phase, self.extra = phase, extra
            self.results: list[Any] = []

        def write(self, blocks: Iterable[Any], ctx: Any) -> Any:
            import ray
            tables = [BlockAccessor.for_block(b).to_arrow() for b in blocks]
            table = pa.concat_tables(tables) if tables else pa.table({})
            i = ctx.task_idx
            if self.extra is not None and i >= len(self.extra):
                raise DsregError(f"the dataset has more partitions ({i + 1}) than when it was fingerprinted "
                                 f"({len(self.extra)})", "materialize the dataset first")
            extra = ray.get(self.extra[i]) if self.extra is not None else None
            return self.phase(i, table, extra)

        def on_write_complete(self, write_result: Any) -> None:
            self.results = sorted(write_result.write_returns, key=lambda r: r.index)

    return VersionDatasource, PhaseDatasink


def read(spec: Any, split: str = DEFAULT_SPLIT, columns: list[str] | None = None, filter: pc.Expression | None = None,
         *, registry: Any = None, remote: str | None = None, endpoint_url: str | None = None,
         target_bytes: int = DEFAULT_TARGET_BYTES) -> Any:
    """One split of a pinned version as a `ray.data.Dataset`, one read task per read unit
    of about `target_bytes` stored bytes, in the split's order (which Ray keeps only with
    `DataContext.get_current().execution_options.preserve_order = True`). `spec` is NAME[@REV] in `registry` (an
    open `dsreg.Registry`) or on `remote`, or a `dsreg.Dataset`. Workers read the units
    themselves: from the registry's folder (on a disk they share) or from the remote."""
    ray_data = need("ray.data", "ray")
    ds = open_version(spec, split, columns, filter, registry, remote, endpoint_url)
    source_class, _ = _classes()
    units = ds.read_units(target_bytes)
    return ray_data.read_datasource(source_class(ds, target_bytes), override_num_blocks=max(len(units), 1))


class RayEngine:
    """Runs a phase over a Ray dataset's blocks, one write task per partition, keeping
    their order (`preserve_order`); each partition receives only its own extra (through
    the object store)."""

    def __init__(self, dataset: Any, materialize: bool = True):
        # both phases must see the same partitions: computed once and kept in the object
        # store, or (materialize=False) computed again, which must then give the same rows
        self.dataset = dataset.materialize() if materialize else dataset

    def run(self, phase: Any, extra: Sequence[Any] | None) -> list[Any]:
        import ray
        from ray.data import DataContext
        _, sink_class = _classes()
        refs = [ray.put(x) for x in extra] if extra is not None else None
        sink = sink_class(phase, refs)
        options = DataContext.get_current().execution_options
        kept = options.preserve_order
        options.preserve_order = True
        try:
            self.dataset.write_datasink(sink)
        finally:
            options.preserve_order = kept
        results = sink.results
        if extra is not None and [r.index for r in results] != list(range(len(extra))):
            raise DsregError(f"the dataset gave {len(results)} partitions when written, {len(extra)} when "
                             "fingerprinted", "materialize the dataset first")
        return results


def commit(dataset: Any, name: str, *, split: str = DEFAULT_SPLIT, message: str = "", keys: Sequence[str] = (),
           registry: Any = None, remote: str | None = None, endpoint_url: str | None = None, branch: str = "main",
           append: bool = False, base: str | None = None, metadata: dict | None = None, author: str | None = None,
           schema: pa.Schema | None = None, no_verify: bool = False, materialize: bool = True,
           **options: Any) -> CommitResult:
    """Commit a `ray.data.Dataset`'s rows, in order, as `split` of `name`: the version
    `Registry.commit` of the same rows would make. Workers fingerprint their blocks, then
    write the new rows straight into the registry (which they must reach on a shared
    disk), or with `remote=URL` straight to that remote's objects, with no registry;
    this process matches and records one commit (on the remote: as push moves a
    branch, with its checks). The dataset is materialized so
    that both phases see the same blocks (`materialize=False`: computed twice)."""
    need("ray.data", "ray")
    return commit_engine(RayEngine(dataset, materialize), name, registry=registry, remote=remote,
                         endpoint_url=endpoint_url, origin="<ray.data.Dataset>", no_verify=no_verify, split=split, message=message,
                         keys=tuple(keys), branch=branch, append=append, base=base, metadata=metadata, author=author,
                         schema=schema, **options)


__all__ = ["read", "commit", "RayEngine"]
