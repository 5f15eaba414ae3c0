"""A version as a DuckDB relation, streamed from a RecordBatchReader (DuckDB pushes its
projection and filters into Arrow scans). The relation is named after the commit."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dsreg.integrations import need

if TYPE_CHECKING:
    from dsreg.read.dataset import Dataset


def to_duckdb(ds: Dataset, connection: Any = None) -> Any:
    duckdb = need("duckdb", "duckdb")
    con = connection if connection is not None else duckdb.connect()
    rel = con.from_arrow(ds.to_reader())
    return rel.set_alias(f"{ds.dataset.replace('/', '_')}_{ds.commit[:12]}")
