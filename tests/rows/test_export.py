"""Checkout as CSV or JSON Lines, then commit of what it wrote: the same values, or a
refusal before anything is written that names the column and suggests Parquet.

CSV and JSON carry no types, so a round trip may widen them (int32 -> int64); what it
must never do is change a value, or lose a row.
"""
from __future__ import annotations

import datetime as dt
import decimal

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dsreg.errors import DsregError
from dsreg.rows.equality import tables_equal


def _checkout_and_back(reg, table: pa.Table, fmt: str, tmp_path) -> pa.Table:
    reg.commit("src", table, message="m")
    out = tmp_path / f"out-{fmt}"
    reg.checkout("src", out, format=fmt)
    reg.commit("back", out / "train", message="m", allow_empty=True)
    return reg.load("back").replace_schema_metadata(None)


def _same_values(got: pa.Table, want: pa.Table) -> bool:
    assert got.column_names == want.column_names
    cast = pa.table([c.cast(f.type) for c, f in zip(got.columns, want.schema)], schema=want.schema)
    return tables_equal(cast, want)


ROUND_TRIPS = {
    "ints_and_strings": pa.table({"id": pa.array([1, 2, 3], pa.int32()), "s": ["a", "", "x,\"y\"\nz"]}),
    "floats": pa.table({"f": [1.5, -0.0, 1e300, None], "k": [1, 2, 3, 4]}),
    "dates_and_times": pa.table({"d": [dt.date(2020, 1, 2), None], "ts": pa.array([0, 1_700_000_000_000_001],
                                                                               pa.timestamp("us", "UTC"))}),
    "decimal": pa.table({"x": pa.array([decimal.Decimal("1.50"), None], pa.decimal128(5, 2)), "k": [1, 2]}),
    "dictionary": pa.table({"d": pa.array(["a", "b", "a"]).dictionary_encode(), "k": [1, 2, 3]}),
    "string_view": pa.table({"s": pa.array(["a", "b"], pa.string_view()), "k": [1, 2]}),
    "bool": pa.table({"b": [True, None, False], "k": [1, 2, 3]}),
}


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
@pytest.mark.parametrize("name", sorted(ROUND_TRIPS))
def test_what_a_text_checkout_holds_commits_back_to_the_same_values(registry, tmp_path, fmt, name):
    want = ROUND_TRIPS[name]
    try:
        got = _checkout_and_back(registry, want, fmt, tmp_path)
    except DsregError as e:          # refused: then before anything was written, naming a column
        assert "column" in str(e) and "parquet" in str(e), str(e)
        assert not (tmp_path / f"out-{fmt}").exists()
        return
    assert _same_values(got, want), (got, want)


@pytest.mark.parametrize("fmt,table,column,says", [
    # a null in a one-column CSV is an empty line, which readers skip: rows were lost
    ("csv", pa.table({"s": ["a", None, "b"]}), "s", "empty line"),
    ("csv", pa.table({"n": pa.array([1, None, 3], pa.int64())}), "n", "empty line"),
    # string nulls came back as ""
    ("csv", pa.table({"k": [1, 2], "s": ["a", None]}), "s", "read back"),
    # text that looks like a number came back as one ("007" -> 7)
    ("csv", pa.table({"k": [1, 2], "zip": ["007", "01234"]}), "zip", "read back"),
    # NaN came back as null
    ("csv", pa.table({"k": [1, 2], "f": [1.5, float("nan")]}), "f", "read back"),
    # list, struct, binary columns crashed the writer
    ("csv", pa.table({"k": [1], "l": [[1, 2]]}), "l", "CSV"),
    ("csv", pa.table({"k": [1], "st": [{"a": 1}]}), "st", "CSV"),
    ("csv", pa.table({"k": [1], "b": pa.array([b"\x00\xff"], pa.binary())}), "b", "CSV"),
    # JSON has no NaN or infinity: they were written as strings
    ("jsonl", pa.table({"k": [1, 2], "f": [1.5, float("nan")]}), "f", "NaN"),
    ("jsonl", pa.table({"k": [1, 2], "l": [[1.5], [float("inf")]]}), "l", "NaN"),
    ("jsonl", pa.table({"k": [1], "b": pa.array([b"\x00\xff"], pa.binary())}), "b", "JSON"),
    ("jsonl", pa.table({"k": [1], "d": pa.array([1_000_000_001], pa.duration("ns"))}), "d", "read back"),
])
def test_a_text_checkout_that_would_not_read_back_is_refused(registry, tmp_path, fmt, table, column, says):
    registry.commit("ds", table, message="m")
    out = tmp_path / "out"
    with pytest.raises(DsregError) as e:
        registry.checkout("ds", out, format=fmt)
    msg = str(e.value)
    assert f"column {column}" in msg and says in msg and "--format parquet" in msg, msg
    assert "\n" not in msg
    assert not out.exists()
    registry.checkout("ds", out, format="parquet")          # Parquet holds every type
    assert tables_equal(pq.read_table(out / "train" / "part-00000.parquet"), table)


def test_a_refusal_deep_in_a_split_leaves_nothing_behind(registry, tmp_path, monkeypatch):
    import dsreg.rows.export as export
    n = 5000
    t = pa.table({"k": list(range(n)), "s": ["x"] * (n - 1) + [None]})
    registry.commit("ds", t, message="m")
    out = tmp_path / "out"
    monkeypatch.setattr(export, "ROWS_PER_FILE", 1000)       # the bad row lands in the fifth file
    with pytest.raises(DsregError, match=r"column s.*row 5000"):
        registry.checkout("ds", out, format="csv")
    assert not out.exists()
