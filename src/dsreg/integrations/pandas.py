"""A version as a pandas DataFrame, its commit in `df.attrs`."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dsreg.integrations import need

if TYPE_CHECKING:
    from dsreg.read.dataset import Dataset


def to_pandas(ds: Dataset, **kw: Any) -> Any:
    need("pandas", "pandas")
    df = ds.to_table().to_pandas(**kw)
    df.attrs.update({"dsreg.dataset": ds.dataset, "dsreg.commit": ds.commit, "dsreg.split": ds.split})
    return df
