"""Numbers of a block, mergeable: exact moments (integer sums exactly, squared deviations by
Chan's method) and a quantile summary (evenly spaced order statistics), which also subtract."""
from __future__ import annotations

import collections
import decimal
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

SUMMARY_POINTS = 101        # order statistics kept per block and column
HIST_BINS = 20
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
_U = np.uint64


@dataclass
class NumberStats:
    """Moments of a multiset of numbers, plus order statistics of each block it merged."""
    n: int = 0                       # values counted (NaN excluded, infinities included)
    min: Any = None
    max: Any = None
    sum: Any = 0                     # of the finite values; an int for integer columns
    m2: float = 0.0                  # sum of squared deviations of the finite values
    finite: int = 0
    pinf: int = 0
    ninf: int = 0
    # per block: (n, order statistics) at evenly spaced ranks, or (n, values, their ranks)
    points: list[tuple] = field(default_factory=list)
    decimal: bool = False            # min/max are exact decimal strings

    @classmethod
    def of(cls, values: np.ndarray, exact_minmax: tuple | None = None) -> NumberStats:
        s = cls(n=len(values))
        if not len(values):
            return s
        # sorted once: infinities sit at the ends, and the order statistics are at hand
        ordered = values if len(values) < 2 or _constant(values) else np.sort(values)
        finite = ordered
        if ordered.dtype.kind == "f":
            s.ninf = int(np.searchsorted(ordered, -np.inf, side="right"))
            s.pinf = len(ordered) - int(np.searchsorted(ordered, np.inf, side="left"))
            finite = ordered[s.ninf:len(ordered) - s.pinf]
            s.sum = float(sum(float(c.sum(dtype=np.float64)) for c in _chunks(finite)))
        else:
            s.sum = sum(_exact_int_sum(c) for c in _chunks(finite))
        s.finite = len(finite)
        if s.finite:
            mean = s.sum / s.finite
            s.m2 = float(sum(float(np.square(c.astype(np.float64) - mean).sum()) for c in _chunks(finite)))
        if exact_minmax is not None:
            s.min, s.max = exact_minmax
            s.decimal = True
        else:
            s.min, s.max = ordered[0].item(), ordered[-1].item()
        if len(ordered) > SUMMARY_POINTS:
            ranks = np.round(np.linspace(0, len(ordered) - 1, SUMMARY_POINTS)).astype(np.int64)
            ordered = ordered[ranks]
        s.points = [(len(values), ordered.tolist())]
        return s

    def merge(self, o: NumberStats) -> None:
        if not o.n:
            return
        if not self.n:
            self.min, self.max = o.min, o.max
        else:
            key = decimal.Decimal if self.decimal or o.decimal else (lambda v: v)
            self.min = min(self.min, o.min, key=key)
            self.max = max(self.max, o.max, key=key)
        if self.finite and o.finite:
            delta = o.sum / o.finite - self.sum / self.finite
            self.m2 += o.m2 + delta * delta * self.finite * o.finite / (self.finite + o.finite)
        elif o.finite:
            self.m2 = o.m2
        self.n += o.n
        self.finite += o.finite
        self.sum += o.sum
        self.pinf += o.pinf
        self.ninf += o.ninf
        self.points.extend(o.points)
        self.decimal = self.decimal or o.decimal

    def to_doc(self) -> dict:
        return {"n": self.n, "min": self.min, "max": self.max, "sum": self.sum, "m2": self.m2,
                "finite": self.finite, "pinf": self.pinf, "ninf": self.ninf, "dec": self.decimal,
                "points": self.points}

    @classmethod
    def from_doc(cls, d: dict) -> NumberStats:
        return cls(d["n"], d["min"], d["max"], d["sum"], d["m2"], d["finite"], d["pinf"], d["ninf"],
                   [tuple(p) for p in d["points"]], bool(d.get("dec")))

    # -- results -----------------------------------------------------------------
    def mean(self) -> float | None:
        if self.pinf or self.ninf:
            return math.nan if self.pinf and self.ninf else (math.inf if self.pinf else -math.inf)
        return self.sum / self.finite if self.finite else None

    def std(self) -> float | None:
        """Population standard deviation (ddof=0)."""
        if self.pinf or self.ninf:
            return math.nan
        return math.sqrt(max(self.m2, 0.0) / self.finite) if self.finite else None

    def weighted_points(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every kept order statistic (as float64) with the number of values it stands for,
        sorted, and the order that sorts them (to find the kept values as they are)."""
        values, weights = [], []
        for n, pts, *ranked in self.points:
            k = len(pts)
            if k == n and not ranked:
                w = np.ones(k)
            else:   # each point stands for the ranks between its neighbours' midpoints
                ranks = _ranks(n, k, ranked)
                bounds = np.concatenate([[-0.5], (ranks[1:] + ranks[:-1]) / 2, [n - 0.5]])
                w = np.diff(bounds)
            values.append(np.asarray(pts, dtype=np.float64))
            weights.append(w)
        if not values:
            return np.zeros(0), np.zeros(0), np.zeros(0, dtype=np.intp)
        v, w = np.concatenate(values), np.concatenate(weights)
        order = np.argsort(v, kind="stable")
        return v[order], w[order], order

    def without(self, removed: np.ndarray, r: NumberStats) -> NumberStats:
        """These statistics less some of the values they count (`removed`, sorted; `r` their
        statistics): exact, but min and max are None when they may have been removed."""
        out = NumberStats(n=self.n - r.n, sum=self.sum - r.sum, finite=self.finite - r.finite,
                          pinf=self.pinf - r.pinf, ninf=self.ninf - r.ninf, decimal=self.decimal)
        if out.finite and r.finite:      # Chan's merge, undone
            delta = r.sum / r.finite - out.sum / out.finite
            out.m2 = max(self.m2 - r.m2 - delta * delta * out.finite * r.finite / self.finite, 0.0)
        elif out.finite:
            out.m2 = self.m2
        key = decimal.Decimal if self.decimal else (lambda v: v)
        gone = r.n and (key(r.min) <= key(self.min) or key(r.max) >= key(self.max))
        out.min, out.max = (None, None) if gone else (self.min, self.max)
        as_float = np.asarray(removed, dtype=np.float64)
        for n, pts, *ranked in self.points:
            if len(pts) == n and not ranked:       # every value kept: take the removed ones out
                left = collections.Counter(pts)
                left.subtract(removed.tolist())
                out.points.append((n - r.n, sorted(left.elements())))
            else:                                  # the same values, at their ranks among those left
                ranks = _ranks(n, len(pts), ranked) - np.searchsorted(as_float, np.asarray(pts, np.float64))
                out.points.append((n - r.n, pts, np.clip(ranks, 0, max(n - r.n - 1, 0)).tolist()))
        return out

    def quantiles(self, qs=QUANTILES) -> list:
        """Estimated quantiles: kept values as they were counted (integers stay exact integers,
        as temporal values need; float64 would round nanosecond timestamps)."""
        v, w, order = self.weighted_points()
        if not len(v):
            return []
        kept = [p for _, pts, *_ in self.points for p in pts]
        cum = np.cumsum(w)
        out = []
        for q in qs:
            i = min(int(np.searchsorted(cum, q * (self.n - 1), side="right")), len(v) - 1)
            out.append(kept[int(order[i])])
        return out

    def histogram(self, bins: int = HIST_BINS) -> tuple[list[float], list[int]] | None:
        """Counts in equal bins over [min, max] (finite values), read off each block's cumulative
        distribution: exact at its kept order statistics, linear between them."""
        if not self.n:
            return None
        lo, hi = float(self.min), float(self.max)      # decimals' exact strings too
        if not (math.isfinite(lo) and math.isfinite(hi)):
            finite = [p for _, pts, *_ in self.points for p in pts if math.isfinite(p)]
            if not finite:
                return None
            lo, hi = float(min(finite)), float(max(finite))
        if lo == hi:
            return [lo, hi], [self.n]
        edges = np.linspace(lo, hi, bins + 1)
        below = np.zeros(bins + 1)          # values <= each edge (none below the first)
        for n, pts, *ranked in self.points:
            v = np.asarray(pts, dtype=np.float64)
            if len(v) == n and not ranked:  # every value kept: the exact step function
                below += np.searchsorted(v, edges, side="right")
                continue
            ranks = _ranks(n, len(v), ranked)
            values = np.unique(v)
            # a value repeated among the points counts up to its last occurrence
            below += np.interp(edges, values, ranks[np.searchsorted(v, values, side="right") - 1] + 1,
                               left=0.0, right=float(n))
        below[0] = 0.0
        counts = np.diff(np.round(below))
        return edges.tolist(), [int(c) for c in counts]


_CHUNK = 1 << 13


def _ranks(n: int, k: int, ranked: list) -> np.ndarray:
    """The ranks of a block's k kept order statistics: stored, or evenly spaced over n."""
    return np.asarray(ranked[0], dtype=np.float64) if ranked else np.round(np.linspace(0, n - 1, k))


def _chunks(values: np.ndarray):
    """Slices of at most _CHUNK values: temporaries stay small whatever the block size."""
    for start in range(0, len(values), _CHUNK):
        yield values[start:start + _CHUNK]


def _constant(values: np.ndarray) -> bool:
    return bool((values == values[0]).all())


def _exact_int_sum(values: np.ndarray) -> int:
    """Sum of integers without overflow: high and low 32-bit halves summed separately."""
    if values.dtype.itemsize < 8:
        return int(values.astype(np.int64).sum())
    if values.dtype.kind == "u":
        v = values.astype(np.uint64, copy=False)
        return (int((v >> _U(32)).sum()) << 32) + int((v & _U(0xFFFFFFFF)).sum())
    v = values.astype(np.int64, copy=False)
    return (int((v >> 32).sum()) << 32) + int((v & 0xFFFFFFFF).sum())
