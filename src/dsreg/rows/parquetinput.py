"""Opening Parquet inputs so that what they hold is what is read.

- Page checksums are verified where the writer stored them: a flipped bit in a data page
  is an error, not a quietly different row.
- INT96 timestamps (Spark, Hive, Impala) are days and nanoseconds; pyarrow reads them as
  timestamp[ns] by default, which wraps silently outside 1677-2262. A file whose INT96
  values leave that range is read as timestamp[us] instead (pyarrow reads the values then
  exactly); one that also holds sub-microsecond digits fits no Arrow unit and is refused.
"""
from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from dsreg.errors import BadInput

_NS_RANGE_US = (-(2**63) // 1000 + 1, (2**63 - 1) // 1000)     # µs values whose ns form fits int64


def open_parquet(f: Path) -> pq.ParquetFile:
    pf = _open(f, None)
    columns = _int96_columns(pf)
    if not columns or _int96_unit(f, columns) == "ns":
        return pf
    return _open(f, "us")


def _open(f: Path, unit: str | None) -> pq.ParquetFile:
    # no pre-buffering: it keeps every column chunk it read ahead until the file is done,
    # so memory grew with the file (1 GB per 4M rows)
    return pq.ParquetFile(f, pre_buffer=False, page_checksum_verification=True, coerce_int96_timestamp_unit=unit)


def _int96_columns(pf: pq.ParquetFile) -> list[str]:
    schema = pf.schema
    names = []
    for i in range(len(schema)):
        col = schema.column(i)
        if col.physical_type == "INT96":
            top = col.path.split(".")[0]
            if top not in names:
                names.append(top)
    return names


def _leaves(arr: pa.Array):
    t = arr.type
    if pa.types.is_timestamp(t):
        yield arr
    elif pa.types.is_struct(t):
        for child in arr.flatten():
            yield from _leaves(child)
    elif pa.types.is_map(t):
        yield from _leaves(arr.items)
        yield from _leaves(arr.keys)
    elif pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        yield from _leaves(arr.flatten())


def _int96_unit(f: Path, columns: list[str]) -> str:
    """"ns" when every INT96 value fits nanoseconds, else "us" (refused when that would
    drop sub-microsecond digits of values that do fit)."""
    lo, hi = _NS_RANGE_US
    out_of_range = sub_us = False
    us = _open(f, "us").iter_batches(columns=columns)
    ns = _open(f, "ns").iter_batches(columns=columns)
    for b_us, b_ns in zip(us, ns):
        for c_us, c_ns in zip(b_us.columns, b_ns.columns):
            for l_us, l_ns in zip(_leaves(c_us), _leaves(c_ns)):
                v, n = l_us.cast(pa.int64()), l_ns.cast(pa.int64())
                outside = pc.fill_null(pc.or_(pc.less(v, lo), pc.greater(v, hi)), False)
                out_of_range = out_of_range or pc.any(outside).as_py()
                digits = pc.not_equal(pc.multiply(pc.divide(n, 1000), 1000), n)
                sub_us = sub_us or bool(pc.any(pc.and_(pc.invert(outside), digits)).as_py())
        if out_of_range and sub_us:
            raise BadInput(f"{f}: INT96 timestamps both outside 1677-2262 and with sub-microsecond digits: "
                           "no Arrow unit holds them all", "convert them to timestamp[us] first")
    return "us" if out_of_range else "ns"
