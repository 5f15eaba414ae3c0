"""Statistics of the columns of a block of rows: computed, merged, subtracted, stored as JSON."""
from __future__ import annotations

import base64
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dsreg.rows.fingerprint import hash_array, offsets_of, row_nbytes
from dsreg.stats.distinct import HLL_M, hll_registers, pack, unpack
from dsreg.stats.numbers import NumberStats

STATS_FORMAT = "dsreg-stats-1"
TOP_K = 64                  # value counts are kept while a column has at most this many values


# -- what kind of values a column holds -------------------------------------------
def kind_of(t: pa.DataType) -> str:
    if pa.types.is_dictionary(t):
        return kind_of(t.value_type)
    if pa.types.is_null(t):
        return "null"
    if pa.types.is_boolean(t):
        return "bool"
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "number"
    if pa.types.is_temporal(t) and not pa.types.is_interval(t):
        return "temporal"
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return "string"
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t) \
            or pa.types.is_binary_view(t):
        return "binary"
    if pa.types.is_struct(t):
        return "struct"
    if hasattr(t, "value_type") or pa.types.is_map(t):
        return "list"
    return "other"


# -- one column ----------------------------------------------------------------------
@dataclass
class ColumnStats:
    kind: str
    rows: int = 0
    nulls: int = 0
    nan: int = 0
    values: NumberStats | None = None        # numbers and temporal values (as integers)
    lengths: NumberStats | None = None       # characters of strings, bytes of binaries, items of lists
    top: dict | None = field(default_factory=dict)   # value -> count; None once past TOP_K values
    hll: np.ndarray | None = None
    error: str | None = None                 # why the statistics could not be computed

    def merge(self, o: ColumnStats) -> None:
        self.rows += o.rows
        self.nulls += o.nulls
        self.nan += o.nan
        self.error = self.error or o.error
        for name in ("values", "lengths"):
            mine, theirs = getattr(self, name), getattr(o, name)
            if theirs is not None:
                if mine is None:
                    setattr(self, name, NumberStats())
                    mine = getattr(self, name)
                mine.merge(theirs)
        if self.top is None or o.top is None:
            self.top = None
        else:
            for k, c in o.top.items():
                self.top[k] = self.top.get(k, 0) + c
            if len(self.top) > TOP_K:
                self.top = None
        if o.hll is not None:
            self.hll = o.hll.copy() if self.hll is None else np.maximum(self.hll, o.hll)

    def to_doc(self) -> dict:
        d: dict[str, Any] = {"kind": self.kind, "rows": self.rows, "nulls": self.nulls}
        if self.nan:
            d["nan"] = self.nan
        if self.values is not None:
            d["values"] = self.values.to_doc()
        if self.lengths is not None:
            d["lengths"] = self.lengths.to_doc()
        # JSON keys are strings: keep the values typed as pairs
        d["top"] = None if self.top is None else [[_key_out(k), c] for k, c in self.top.items()]
        d["hll"] = pack(self.hll)
        if self.error:
            d["error"] = self.error
        return d

    @classmethod
    def from_doc(cls, d: dict) -> ColumnStats:
        return cls(d["kind"], d["rows"], d["nulls"], d.get("nan", 0),
                   NumberStats.from_doc(d["values"]) if d.get("values") else None,
                   NumberStats.from_doc(d["lengths"]) if d.get("lengths") else None,
                   None if d.get("top") is None else {_key_in(k): c for k, c in d["top"]},
                   unpack(d.get("hll")), d.get("error"))


def _key_out(k):
    return {"f": repr(k)} if isinstance(k, float) and not math.isfinite(k) else k


def _key_in(k):
    return float(k["f"]) if isinstance(k, dict) else k


def column_stats(arr: pa.Array | pa.ChunkedArray, hll: bool = True) -> ColumnStats:
    """Statistics of one block of one column (without distinct-value registers if not `hll`)."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks() if arr.num_chunks != 1 else arr.chunk(0)
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    s = ColumnStats(kind_of(arr.type), rows=len(arr), nulls=arr.null_count)
    if s.kind == "null":
        s.nulls, s.top = len(arr), {}
        return s
    try:
        _fill(s, arr.drop_null() if arr.null_count else arr, hll)
    except (pa.ArrowException, ValueError, TypeError, OverflowError, ArithmeticError) as e:
        s.values = s.lengths = s.hll = s.top = None
        s.error = f"{type(e).__name__}: {e}"
    return s


def _fill(s: ColumnStats, valid: pa.Array, hll: bool) -> None:
    t = valid.type
    if s.kind == "bool":
        true = int(pc.sum(valid).as_py() or 0)
        s.top = {k: c for k, c in ((True, true), (False, len(valid) - true)) if c}
        return
    if s.kind in ("list", "struct", "other"):
        s.top = None
        if s.kind == "list":
            s.lengths = NumberStats.of(lengths_of(valid))
        return
    # numbers, temporal values (as integers), strings, binaries: counted and hashed as `keyed`
    keyed, convert = _keyed(valid, s.kind)
    distinct = _distinct_values(keyed)
    s.top = None if distinct is None else _counts(keyed, distinct, convert)
    # the registers depend only on the set of values: hash the few distinct ones when known
    if hll:
        s.hll = _hll_of(distinct[0] if distinct is not None else keyed)
    if s.kind in ("string", "binary"):
        s.lengths = NumberStats.of(lengths_of(valid))
    elif pa.types.is_decimal(t):
        mm = pc.min_max(valid)
        exact = (str(mm["min"].as_py()), str(mm["max"].as_py())) if len(valid) else None
        s.values = NumberStats.of(numbers_of(valid, s.kind), exact)
    else:
        values = keyed.to_numpy(zero_copy_only=False)
        if values.dtype.kind == "f":
            nan = np.isnan(values)
            s.nan = int(np.count_nonzero(nan))
            if s.nan:
                values = values[~nan]
        s.values = NumberStats.of(values)


def _keyed(valid: pa.Array, kind: str):
    """The form values are counted and hashed in, and how a counted value is named."""
    t = valid.type
    if kind == "temporal":
        return valid.view(pa.int64() if t.bit_width == 64 else pa.int32()), None
    if pa.types.is_float16(t):
        return valid.cast(pa.float32()), None
    if pa.types.is_decimal(t):
        return valid, str
    if kind == "binary":
        return valid, _b64
    return valid, None


def numbers_of(valid: pa.Array, kind: str) -> np.ndarray:
    """The non-null values of a number or temporal column as numpy numbers (NaN dropped)."""
    if pa.types.is_decimal(valid.type):
        return valid.cast(pa.float64()).to_numpy(zero_copy_only=False)
    values = _keyed(valid, kind)[0].to_numpy(zero_copy_only=False)
    return values[~np.isnan(values)] if values.dtype.kind == "f" else values


def lengths_of(valid: pa.Array) -> np.ndarray:
    """Characters of strings, bytes of binaries, items of lists and maps."""
    t = valid.type
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return pc.utf8_length(valid).to_numpy(zero_copy_only=False)
    if pa.types.is_fixed_size_binary(t):
        return np.full(len(valid), t.byte_width, dtype=np.int64)
    if kind_of(t) == "binary":
        return pc.binary_length(valid).to_numpy(zero_copy_only=False)
    return _list_lengths(valid)


_PROBE_ROWS = 4096
_HASH_ROWS = 4096       # values hashed at a time: bounds the memory of hashing long strings


def _hll_of(arr: pa.Array) -> np.ndarray:
    regs = hll_registers(hash_array(arr.slice(0, _HASH_ROWS)))
    for start in range(_HASH_ROWS, len(arr), _HASH_ROWS):
        np.maximum(regs, hll_registers(hash_array(arr.slice(start, _HASH_ROWS))), out=regs)
    return regs


def distinct_registers(arr: pa.Array | pa.ChunkedArray, kind: str, keep: np.ndarray | None = None) -> np.ndarray:
    """The HyperLogLog registers of a column's non-null values, as `column_stats` makes them:
    of every row, or only of those `keep` marks (hashed in place: no copy of the rows kept)."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks() if arr.num_chunks != 1 else arr.chunk(0)
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    keyed = _keyed(arr, kind)[0]
    if keep is None:
        return _hll_of(pc.unique(keyed.drop_null() if keyed.null_count else keyed))
    mask = np.asarray(keep, dtype=bool)
    if arr.null_count:
        mask = mask & arr.is_valid().to_numpy(zero_copy_only=False)
    regs = np.zeros(HLL_M, dtype=np.uint8)
    for start in range(0, len(keyed), _HASH_ROWS):
        m = mask[start:start + _HASH_ROWS]
        if m.any():
            np.maximum(regs, hll_registers(hash_array(keyed.slice(start, _HASH_ROWS))[m]), out=regs)
    return regs


def _distinct_values(arr: pa.Array):
    """(values, counts) when `arr` has at most TOP_K distinct values, else None (found early
    on a prefix for most columns that have many)."""
    if len(arr) > 2 * _PROBE_ROWS and len(pc.value_counts(arr.slice(0, _PROBE_ROWS))) > TOP_K:
        return None
    counts = pc.value_counts(arr)
    if len(counts) > TOP_K:
        return None
    return counts.field("values"), counts.field("counts")


def _counts(keyed: pa.Array, distinct, convert) -> dict:
    values, counts = distinct[0].to_pylist(), distinct[1].to_pylist()
    out: dict = {}
    for v, c in zip(values, counts):
        v = convert(v) if convert is not None else v
        v = "NaN" if isinstance(v, float) and math.isnan(v) else v    # one key, whatever the payload
        out[v] = out.get(v, 0) + c
    return out


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode("ascii")


def _list_lengths(arr: pa.Array) -> np.ndarray:
    t = arr.type
    if pa.types.is_fixed_size_list(t):
        return np.full(len(arr), t.list_size, dtype=np.int64)
    try:
        return pc.list_value_length(arr).to_numpy(zero_copy_only=False)
    except pa.ArrowNotImplementedError:      # maps: from the offsets
        return np.diff(offsets_of(arr))


# -- a table (a block, or a whole version) ------------------------------------------
@dataclass
class TableStats:
    rows: int = 0
    nbytes: int = 0
    columns: dict[str, ColumnStats] = field(default_factory=dict)

    def merge(self, o: TableStats) -> None:
        self.rows += o.rows
        self.nbytes += o.nbytes
        for name, c in o.columns.items():
            if name in self.columns:
                self.columns[name].merge(c)
            else:
                self.columns[name] = ColumnStats(c.kind)
                self.columns[name].merge(c)

    def to_doc(self) -> dict:
        return {"rows": self.rows, "bytes": self.nbytes, "columns": {k: c.to_doc() for k, c in self.columns.items()}}

    @classmethod
    def from_doc(cls, d: dict) -> TableStats:
        return cls(d["rows"], d["bytes"], {k: ColumnStats.from_doc(c) for k, c in d["columns"].items()})


def without_rows(block: TableStats, rows: pa.Table, keep: np.ndarray) -> TableStats | None:
    """A block's statistics less some of its rows, computed from those rows alone; None when
    that cannot be exact (then count the rows kept directly). `rows` are the block's rows and
    `keep` marks those kept. Min and max that may have left with the removed rows are looked
    up again among the rows kept, and so are the distinct-value registers of columns that need
    them: registers do not subtract, and the whole block's would count values only the removed
    rows hold."""
    keep = np.asarray(keep, dtype=bool)
    removed = rows.take(np.flatnonzero(~keep))
    kept_rows = np.flatnonzero(keep)

    def kept(name: str) -> pa.ChunkedArray:
        return rows.column(name).take(kept_rows)
    gone = table_stats(removed, hll=False)
    out = TableStats(block.rows - gone.rows, block.nbytes - gone.nbytes)
    for name, c in block.columns.items():
        r = gone.columns.get(name)
        if r is None or c.error or r.error or (c.top is not None and r.top is None):
            return None
        s = ColumnStats(c.kind, c.rows - r.rows, c.nulls - r.nulls, c.nan - r.nan)
        if c.hll is not None:       # a few values: hash each once; many: hash the rows kept in place
            s.hll = distinct_registers(kept(name), c.kind) if c.top is not None else \
                distinct_registers(rows.column(name), c.kind, keep)
        if c.top is not None and r.top is not None:     # (r.top is set when c.top is: see above)
            s.top = {k: n - r.top.get(k, 0) for k, n in c.top.items() if n - r.top.get(k, 0) > 0}
        else:
            s.top = None
        valid = removed[name].drop_null() if removed[name].null_count else removed[name]
        if pa.types.is_dictionary(valid.type):
            valid = valid.combine_chunks().dictionary_decode() if isinstance(valid, pa.ChunkedArray) \
                else valid.dictionary_decode()
        valid = valid.combine_chunks() if isinstance(valid, pa.ChunkedArray) else valid
        for attr, extract in (("values", lambda a, kind=c.kind: numbers_of(a, kind)), ("lengths", lengths_of)):
            mine = getattr(c, attr)
            if mine is None:
                continue
            theirs = getattr(r, attr) or NumberStats()
            left = mine.without(np.sort(extract(valid)) if len(valid) else np.zeros(0), theirs)
            if left.n and left.min is None:
                left.min, left.max = _min_max(s, attr, c.kind, kept(name), extract)
            setattr(s, attr, left)
        out.columns[name] = s
    return out


def _min_max(s: ColumnStats, attr: str, kind: str, kept: pa.ChunkedArray, extract) -> tuple:
    if attr == "values" and s.top is not None and kind in ("number", "temporal") and not pa.types.is_decimal(kept.type):
        keys = [k for k in s.top if isinstance(k, (int, float)) and not isinstance(k, bool)]
        if keys:
            return min(keys), max(keys)
    arr = kept.combine_chunks() if isinstance(kept, pa.ChunkedArray) else kept
    arr = arr.dictionary_decode() if pa.types.is_dictionary(arr.type) else arr
    arr = arr.drop_null() if arr.null_count else arr
    if attr == "values" and pa.types.is_decimal(arr.type):
        mm = pc.min_max(arr)
        return str(mm["min"].as_py()), str(mm["max"].as_py())
    values = extract(arr)
    return values.min().item(), values.max().item()


def table_stats(table: pa.Table, hll: bool = True) -> TableStats:
    # bytes from the values (widths and lengths), not Arrow's buffers: the same rows give the
    # same count however they were sliced or read back
    return TableStats(table.num_rows, int(np.sum(row_nbytes(table))) if table.num_rows else 0,
                      {name: column_stats(col, hll) for name, col in zip(table.column_names, table.columns)})


def shard_stats(table: pa.Table, block_rows: int) -> dict:
    """The stored statistics of a shard: one entry per block of `block_rows` rows (its row groups)."""
    blocks = [table_stats(table.slice(start, block_rows)).to_doc()
              for start in range(0, table.num_rows, max(block_rows, 1))]
    return {"format": STATS_FORMAT, "blocks": blocks}
