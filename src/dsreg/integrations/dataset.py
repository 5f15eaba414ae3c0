"""`dsreg.Dataset`: the read layer's Dataset with its adapters, each importing its library
when called (and saying which extra installs it when it is missing)."""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from dsreg.read import dataset as core

if TYPE_CHECKING:
    import duckdb
    import pandas
    import polars


class Dataset(core.Dataset):
    __doc__ = core.Dataset.__doc__

    @classmethod
    def of(cls, base: core.Dataset) -> Dataset:
        """The same view, with adapters."""
        if isinstance(base, cls):
            return base
        view = cls.__new__(cls)
        view.__dict__.update(base.__dict__)
        return view

    def to_pandas(self, **kw: Any) -> pandas.DataFrame:
        """A pandas DataFrame (keywords go to `pyarrow.Table.to_pandas`); the commit is in `df.attrs`."""
        from dsreg.integrations.pandas import to_pandas
        return to_pandas(self, **kw)

    def to_polars(self) -> polars.LazyFrame:
        """A polars LazyFrame that streams the version, with projection and predicate pushdown."""
        from dsreg.integrations.polars import to_polars
        return to_polars(self)

    def to_duckdb(self, connection: duckdb.DuckDBPyConnection | None = None) -> duckdb.DuckDBPyRelation:
        """A DuckDB relation over a stream of the version (on `connection`, or a new one)."""
        from dsreg.integrations.duckdb import to_duckdb
        return to_duckdb(self, connection)

    def to_hf(self, streaming: bool = False) -> Any:
        """A `datasets.Dataset`, or with `streaming=True` a `datasets.IterableDataset`."""
        from dsreg.integrations.hf import to_hf
        return to_hf(self, streaming=streaming)

    def to_torch(self, batch_size: int | None = None, shuffle: bool = False, seed: int = 0, drop_last: bool = False,
                 columns: list[str] | None = None, transform: Callable | None = None, **kw: Any) -> Any:
        """A `torch.utils.data.IterableDataset` for training loops: see `integrations.torch`."""
        from dsreg.integrations.torch import TorchDataset
        view = self.select(columns) if columns is not None else self
        return TorchDataset(view, batch_size=batch_size, shuffle=shuffle, seed=seed, drop_last=drop_last,
                            transform=transform, **kw)
