"""Every adapter gives, for a table of every type family dsreg stores, exactly what the
library itself makes of the same Arrow table, and carries the commit id along."""
from __future__ import annotations

import pyarrow as pa
import pytest

import dsreg
from dsreg.errors import UsageError
from dsreg.rows.equality import tables_equal
from helpers.typecases import CASES, assert_exact


def _table(arr: pa.Array) -> pa.Table:
    return pa.table({"v": arr, "k": pa.array(range(len(arr)), pa.int64())})


@pytest.fixture
def committed(registry, request):
    t = _table(CASES[request.param])
    c = registry.commit("d", {"train": t}, message="m")
    return dsreg.dataset("d"), t, c.id


def _native(convert, t):
    """The library's own conversion of the table, or a skip where it has none for the type."""
    try:
        return convert(t)
    except BaseException as e:    # each library refuses in its own way (polars: a Rust panic)
        if isinstance(e, (KeyboardInterrupt, SystemExit)):
            raise
        pytest.skip(f"the library itself cannot convert this type: {type(e).__name__}")


@pytest.mark.parametrize("committed", sorted(CASES), indirect=True)
def test_streams_and_tables_are_exact(committed):
    ds, t, cid = committed
    assert_exact(ds.to_table(), t)
    got = pa.Table.from_batches(list(ds.to_batches(2)), schema=ds.schema)
    assert_exact(got, t)
    assert_exact(ds.to_reader().read_all(), t)
    assert ds.to_reader().schema.metadata[b"dsreg.commit"] == cid.encode()


@pytest.mark.parametrize("committed", sorted(CASES), indirect=True)
def test_pandas(committed):
    import pandas.testing
    ds, t, cid = committed
    want = _native(lambda x: x.to_pandas(), t)
    df = ds.to_pandas()
    pandas.testing.assert_frame_equal(df, want)
    assert df.attrs["dsreg.commit"] == cid


@pytest.mark.parametrize("committed", sorted(CASES), indirect=True)
def test_polars(committed):
    pl = pytest.importorskip("polars")
    ds, t, cid = committed
    want = _native(pl.from_arrow, t)
    lf = ds.to_polars()
    assert lf.collect().equals(want)
    assert lf.select("k").collect()["k"].to_list() == list(range(t.num_rows))
    assert cid in lf.explain()


@pytest.mark.parametrize("committed", sorted(CASES), indirect=True)
def test_duckdb(committed):
    duckdb = pytest.importorskip("duckdb")
    ds, t, cid = committed
    con = duckdb.connect()
    want = _native(lambda x: con.from_arrow(x).order("k").fetchall(), t)
    rel = ds.to_duckdb(con)
    assert repr(rel.order("k").fetchall()) == repr(want)      # repr: NaN equals NaN
    assert cid[:12] in rel.alias


@pytest.mark.parametrize("committed", sorted(CASES), indirect=True)
def test_hf(committed):
    datasets = pytest.importorskip("datasets")
    ds, t, cid = committed
    want = _native(lambda x: datasets.Dataset(datasets.table.InMemoryTable(x)).data.table, t)
    h = ds.to_hf()
    assert tables_equal(h.data.table.replace_schema_metadata(None), want.replace_schema_metadata(None))
    assert cid in h.info.description
    _native(lambda x: x.to_pylist(), t)          # streaming goes through Python values
    streamed = ds.to_hf(streaming=True)
    assert cid in streamed.info.description
    assert [r["k"] for r in streamed] == list(range(t.num_rows))


def test_a_missing_library_is_named_with_its_extra(monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "polars", None)      # as if not installed
    from dsreg.integrations import need
    with pytest.raises(UsageError, match=r"polars is not installed") as e:
        need("polars", "polars")
    assert "dsreg[polars]" in e.value.hint
