"""Polars predicates pushed down as dsreg filters: results equal polars' own filtering on
random tables and predicates, and row groups the statistics rule out are not read."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

import dsreg
from dsreg.read.files import ShardFile
from dsreg.rows.settings import RowSettings
from dsreg.rows.shards import ShardSettings

pl = pytest.importorskip("polars")
from dsreg.integrations.polars_filter import to_filter  # noqa: E402

N = 3000
SMALL_GROUPS = RowSettings(ShardSettings(row_group_target_bytes=4 << 10, row_group_min_rows=64))
DAY0 = dt.date(2020, 1, 1)


def _random_table(rng: np.random.Generator) -> pa.Table:
    def nulls(p=0.1):
        return rng.random(N) < p
    f = rng.normal(0, 10, N)
    f[rng.random(N) < 0.05] = np.nan
    return pa.table({
        "id": pa.array(np.arange(N)),                                    # sorted: prunable
        "i": pa.array(rng.integers(-50, 50, N).astype(np.int32), mask=nulls()),
        "f": pa.array(f, mask=nulls()),
        "s": pa.array(rng.choice(["a", "b", "c", "dd", "e"], N), mask=nulls()),
        "b": pa.array(rng.random(N) < 0.5, mask=nulls()),
        "d": pa.array([DAY0 + dt.timedelta(days=int(x)) for x in np.sort(rng.integers(0, 400, N))], pa.date32()),
        "t": pa.array(np.sort(rng.integers(0, 10**9, N)).astype("datetime64[ms]").astype("datetime64[us]")),
    })


def _random_predicate(rng: np.random.Generator, depth: int = 0):
    col = pl.col
    r = rng.integers(0, 14 if depth < 2 else 11)
    v = int(rng.integers(-60, 60))
    op = rng.choice(["<", "<=", ">", ">=", "==", "!="])

    def cmp(c, x):
        e = {"<": c < x, "<=": c <= x, ">": c > x, ">=": c >= x, "==": c == x, "!=": c != x}[op]
        return e if rng.random() < 0.8 else {"<": x > c, "<=": x >= c, ">": x < c, ">=": x <= c,
                                              "==": x == c, "!=": x != c}[op]   # literal on the left
    if r == 0:
        return cmp(col("id"), int(rng.integers(0, N)))
    if r == 1:
        return cmp(col("i"), v)
    if r == 2:
        return cmp(col("f"), float(v) / 3)
    if r == 3:
        return cmp(col("s"), str(rng.choice(["a", "c", "d", "z"])))
    if r == 4:
        return col("b") == bool(rng.random() < 0.5)
    if r == 5:
        return cmp(col("d"), DAY0 + dt.timedelta(days=int(rng.integers(0, 400))))
    if r == 6:
        return (col("i").is_in([v, v + 1]) if rng.random() < 0.5 else col("f").is_in([v / 3, 1.0])) if rng.random() < 0.4 else \
            col("s").is_in([str(x) for x in rng.choice(["a", "b", "dd", "q"], 2)])
    if r == 7:
        e = col(str(rng.choice(["i", "f", "s", "b"]))).is_null()
        return ~e if rng.random() < 0.5 else e
    if r == 8:
        return col("id").is_between(int(rng.integers(0, N)), int(rng.integers(0, N)),
                                    closed=str(rng.choice(["both", "left", "right", "none"])))
    if r == 9:
        return (col("i") * 2 + 1) > v              # not translated: polars filters alone
    if r == 10:
        return ~(col("i") > v)                      # not translated: a negated comparison
    if r == 11:
        return _random_predicate(rng, depth + 1) & _random_predicate(rng, depth + 1)
    if r == 12:
        return _random_predicate(rng, depth + 1) | _random_predicate(rng, depth + 1)
    return cmp(col("t"), dt.datetime(1970, 1, 1) + dt.timedelta(seconds=int(rng.integers(0, 10**6))))


@pytest.mark.parametrize("seed", range(6))
def test_results_equal_polars_filtering_on_random_tables(registry, seed):
    rng = np.random.default_rng(seed)
    table = _random_table(rng)
    registry.commit("d", {"train": table}, message="m", settings=SMALL_GROUPS)
    lf = dsreg.dataset("d").to_polars()
    expected_frame = pl.from_arrow(table)
    for _ in range(25):
        pred = _random_predicate(rng)
        cols = ["id", str(rng.choice(["i", "f", "s", "t"]))]
        got = lf.filter(pred).select(cols).collect()
        want = expected_frame.filter(pred).select(cols)
        assert got.equals(want), str(pred)


def _row_groups_read(monkeypatch) -> list[int]:
    calls: list[int] = []
    original = ShardFile.read_row_group

    def spy(self, i, columns):
        calls.append(i)
        return original(self, i, columns)
    monkeypatch.setattr(ShardFile, "read_row_group", spy)
    return calls


def test_simple_predicates_skip_row_groups(registry, monkeypatch):
    table = _random_table(np.random.default_rng(1))
    registry.commit("d", {"train": table}, message="m", settings=SMALL_GROUPS)
    lf = dsreg.dataset("d").to_polars()
    calls = _row_groups_read(monkeypatch)
    everything = lf.collect()
    assert everything.height == N
    total = len(calls)
    assert total >= 10
    for pred in (pl.col("id") < 100, pl.col("id").is_between(1000, 1100), pl.col("id").is_in([5, 2900]),
                 (pl.col("id") >= 2900) & ((pl.col("i") * 2) > 0),        # the translatable half is pushed
                 (pl.col("id") < 50) | (pl.col("id") > 2950),
                 pl.col("d") < DAY0 + dt.timedelta(days=10)):
        calls.clear()
        got = lf.filter(pred).collect()
        assert got.equals(pl.from_arrow(table).filter(pred)), str(pred)
        assert 0 < len(calls) <= total // 3, (str(pred), len(calls), total)
    calls.clear()
    lf.filter(pl.col("f") > 1e9).collect()     # NaN sorts above every number in polars: not pushed
    assert len(calls) == total


def test_translation():
    schema = pa.schema([("a", pa.int64()), ("f", pa.float64()), ("s", pa.string())])
    assert to_filter(pl.col("a") > 3, schema).equals(pc.field("a") > pc.scalar(3))
    assert to_filter(pl.lit(3) > pl.col("a"), schema).equals(pc.field("a") < pc.scalar(3))
    assert to_filter((pl.col("a") > 3) & (pl.col("a") * 2 > 1), schema).equals(pc.field("a") > pc.scalar(3))
    assert to_filter((pl.col("a") > 3) | (pl.col("a") * 2 > 1), schema) is None
    assert to_filter(pl.col("f") >= 1.0, schema) is None and to_filter(pl.col("f") != 1.0, schema) is None
    assert to_filter(pl.col("f") < 1.0, schema) is not None
    assert to_filter(pl.col("a") == 2.5, schema) is None         # does not fit the column's type
    assert to_filter(pl.col("s").is_in(["x", "y"]), schema).equals(pc.field("s").isin(["x", "y"]))
    assert to_filter(~pl.col("s").is_null(), schema).equals(pc.field("s").is_valid())
    assert to_filter(pl.col("missing") > 1, schema) is None
