"""What a card shows of a column's statistics: JSON-ready, values in the column's own terms."""
from __future__ import annotations

import datetime as dt
import decimal
import math
from typing import Any

import numpy as np
import pyarrow as pa

from dsreg.stats.columns import ColumnStats
from dsreg.stats.distinct import hll_estimate
from dsreg.stats.numbers import HIST_BINS, QUANTILES, NumberStats


def finalize(s: ColumnStats, t: pa.DataType) -> dict:
    """What a card shows of a column: JSON-ready, values in the column's own terms."""
    if pa.types.is_dictionary(t):
        t = t.value_type
    nonnull = s.rows - s.nulls
    out: dict[str, Any] = {"kind": s.kind, "rows": s.rows, "nulls": s.nulls,
                           "null_fraction": s.nulls / s.rows if s.rows else 0.0}
    if s.error:
        out["error"] = s.error
        return out
    if s.nan:
        out["nan"] = s.nan
    fmt = _formatter(t)
    if s.values is not None and s.values.n:
        v = s.values
        exact_q = s.top is not None and s.kind in ("number", "temporal") and not v.decimal
        qs = _exact_quantiles(s.top, v.n) if exact_q and s.top is not None else v.quantiles()
        # quantiles are values of the column: decimals as exact strings (as min and max), dates as ISO
        qfmt = _decimal_text(t) if v.decimal else fmt
        out.update({"min": fmt(v.min), "max": fmt(v.max), "mean": _mean_out(v, t, fmt),
                    "std": v.std() if s.kind == "number" else None,
                    "quantiles": {_pct(q): qfmt(x) for q, x in zip(QUANTILES, qs)}, "quantiles_exact": exact_q})
        if s.kind in ("number", "temporal") and not (s.top is not None and len(s.top) <= HIST_BINS):
            hist = _exact_histogram(s.top) if exact_q and s.top is not None else v.histogram()
            if hist is not None:     # bins over the stored numbers; dates and times label them in ISO
                edges = hist[0]
                if s.kind == "temporal":   # the ends exactly (float64 rounds nanoseconds)
                    edges = [fmt(v.min)] + [fmt(e) for e in edges[1:-1]] + [fmt(v.max)]
                out["histogram"] = {"edges": edges, "counts": hist[1], "exact": exact_q}
    if s.lengths is not None and s.lengths.n:
        ln = s.lengths
        out["lengths"] = {"min": ln.min, "max": ln.max, "mean": ln.mean(), "std": ln.std(),
                          "quantiles": {_pct(q): x for q, x in zip(QUANTILES, ln.quantiles())}}
    if s.top is not None:
        out["distinct"], out["distinct_exact"] = len(s.top), True
        ordered = sorted(s.top.items(), key=lambda kc: (-kc[1], _sort_key(kc[0])))
        out["top"] = [[fmt(k) if s.kind != "bool" else k, c] for k, c in ordered]
    elif s.hll is not None and nonnull:
        out["distinct"] = int(min(max(round(hll_estimate(s.hll)), 1), nonnull - s.nan + (1 if s.nan else 0)))
        out["distinct_exact"] = False
    return out


def _pct(q: float) -> str:
    return f"{q * 100:g}%"


def _sort_key(k):
    return (0, k, "") if isinstance(k, (int, float)) and not isinstance(k, bool) else (1, 0, str(k))


def _exact_quantiles(top: dict, n: int) -> list:
    items = sorted(((k, c) for k, c in top.items() if isinstance(k, (int, float)) and not isinstance(k, bool)
                    and not (isinstance(k, float) and math.isnan(k))), key=lambda kc: kc[0])
    if not items:
        return []
    keys = [k for k, _ in items]
    cum = np.cumsum([c for _, c in items])
    total = int(cum[-1])
    return [keys[min(int(np.searchsorted(cum, q * (total - 1), side="right")), len(keys) - 1)] for q in QUANTILES]


def _exact_histogram(top: dict):
    items = [(float(k), c) for k, c in top.items() if isinstance(k, (int, float)) and math.isfinite(k)]
    if not items:
        return None
    v = np.array([k for k, _ in items])
    w = np.array([c for _, c in items], dtype=np.float64)
    lo, hi = float(v.min()), float(v.max())
    if lo == hi:
        return [lo, hi], [int(w.sum())]
    counts, edges = np.histogram(v, bins=HIST_BINS, range=(lo, hi), weights=w)
    return edges.tolist(), [int(c) for c in counts]


def _mean_out(v: NumberStats, t: pa.DataType, fmt):
    m = v.mean()
    if m is None or not math.isfinite(m):
        return m
    if pa.types.is_temporal(t):
        return fmt(int(round(m)))
    return m


def _formatter(t: pa.DataType):
    """Turn stored numbers (temporal ones are integers) back into the column's values, as JSON."""
    if pa.types.is_dictionary(t):
        t = t.value_type
    if pa.types.is_temporal(t) and not pa.types.is_interval(t):
        storage = pa.int64() if t.bit_width == 64 else pa.int32()

        def temporal(v):
            if v is None or (isinstance(v, float) and not math.isfinite(v)):
                return v
            try:      # floats (estimates, histogram edges) to the nearest value the column can hold
                value = pa.scalar(int(round(v)), storage).cast(t).as_py()
            except (pa.ArrowException, OverflowError, ValueError):
                return int(round(v))
            return _iso(value)
        return temporal
    if pa.types.is_float16(t) or pa.types.is_floating(t):
        return lambda v: v if not isinstance(v, float) or math.isfinite(v) else repr(v)
    return lambda v: v


def _decimal_text(t: pa.DataType):
    """A decimal column's value estimated in float64, as a decimal string at the column's scale."""
    exponent = decimal.Decimal(1).scaleb(-t.scale)

    def text(v):
        if not isinstance(v, float):
            return v if v is None or isinstance(v, str) else str(v)
        if not math.isfinite(v):
            return repr(v)
        return str(decimal.Decimal(v).quantize(exponent, rounding=decimal.ROUND_HALF_EVEN,
                                               context=decimal.Context(prec=max(t.precision, 28) + 2)))
    return text


def _iso(value) -> Any:
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return str(value)
    if hasattr(value, "isoformat"):       # pandas Timestamp and friends
        return value.isoformat()
    return value if isinstance(value, (int, float, str)) else str(value)
