"""A version as a polars LazyFrame, through polars' IO-plugin interface: polars pushes its
projection and predicate into the read, which streams the version's batches (only the
columns asked for and the filter needs are read; rows failing the predicate are dropped
batch by batch, before polars sees them), and `n_rows` stops reading early. The simple
parts of the predicate also become a dsreg filter (polars_filter.py), so row groups their
statistics rule out are never read. The commit is in `explain()`'s source name."""
from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from dsreg.errors import UsageError
from dsreg.integrations import need
from dsreg.integrations.polars_filter import to_filter

if TYPE_CHECKING:
    from dsreg.read.dataset import Dataset


def to_polars(ds: Dataset) -> Any:
    pl = need("polars", "polars")
    from polars.io.plugins import register_io_source
    schema = pl.from_arrow(ds.schema.empty_table()).schema

    def source(with_columns: list[str] | None, predicate: Any, n_rows: int | None,
               batch_size: int | None) -> Iterator[Any]:
        view = ds
        if with_columns is not None:
            # the predicate's columns too: polars filters before it projects
            wanted = set(with_columns) | (set(predicate.meta.root_names()) if predicate is not None else set())
            view = ds.select([c for c in ds.schema.names if c in wanted])
        pushed = to_filter(predicate, ds.schema) if predicate is not None else None
        if pushed is not None:
            try:
                view = view.where(pushed)
            except UsageError:        # Arrow cannot evaluate it on these columns: polars filters alone
                pass
        left = n_rows
        for batch in view.to_batches(batch_size or 65536):
            df = pl.from_arrow(batch)
            if predicate is not None:
                df = df.filter(predicate)
            if with_columns is not None:
                df = df.select(with_columns)
            if left is not None:
                df = df.head(left)
                left -= df.height
            yield df
            if left is not None and left <= 0:
                return

    return register_io_source(source, schema=schema, is_pure=True,
                              explain_name=f"dsreg {ds.dataset}@{ds.commit} [{ds.split}]")
