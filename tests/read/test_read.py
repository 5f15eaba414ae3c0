"""Reading a version as a Dataset: units, streams, filters exactly as Table.filter, remotes."""
from __future__ import annotations

import pickle

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dsreg
from dsreg.errors import UsageError
from dsreg.read.stream import prefetched
from dsreg.rows.equality import tables_equal
from dsreg.rows.settings import RowSettings
from dsreg.rows.shards import ShardSettings
from helpers.tables import make_table


@pytest.fixture
def small_groups() -> RowSettings:
    # small row groups and shards, so that small tables have many of both
    return RowSettings(ShardSettings(target_bytes=128 << 10, min_bytes=64 << 10, row_group_target_bytes=4 << 10,
                                     row_group_min_rows=64))


def _data(t: pa.Table) -> pa.Table:
    return t.replace_schema_metadata(None)


def _same(got: pa.Table, want: pa.Table) -> bool:
    """Equal schemas and values, NaNs included (Table.equals has NaN != NaN)."""
    return _data(got).schema.equals(want.schema) and tables_equal(_data(got), want)


def test_dataset_describes_the_pinned_version(registry):
    t = make_table(1000)
    c = registry.commit("d", {"train": t, "test": t.slice(0, 10)}, message="m")
    ds = dsreg.dataset("d", split="test")
    assert (ds.dataset, ds.commit, ds.split, ds.num_rows, len(ds)) == ("d", c.id, "test", 10, 10)
    assert ds.schema.names == t.schema.names
    assert ds.schema.metadata[b"dsreg.commit"] == c.id.encode()
    assert _data(ds.to_table()).equals(t.slice(0, 10))
    assert dsreg.load("d", split="test").equals(ds.to_table())


def test_units_cover_the_split_in_order_aligned_to_row_groups(registry, small_groups):
    base = make_table(20000)
    registry.commit("d", {"train": base}, message="m", settings=small_groups)
    edited = pa.concat_tables([base.slice(0, 5000), make_table(300, seed=9), base.slice(7000)])
    registry.commit("d", {"train": edited}, message="edit", settings=small_groups)
    ds = dsreg.dataset("d")
    for target in (1 << 12, 1 << 16, 1 << 30):
        units = ds.read_units(target_bytes=target)
        assert sum(u.rows for u in units) == edited.num_rows
        assert [u.first_row for u in units] == list(np.cumsum([0] + [u.rows for u in units[:-1]]))
        whole = pa.concat_tables([ds.read_unit(u) for u in units])
        assert _data(whole).equals(edited)
    assert len(ds.read_units(1 << 12)) > len(ds.read_units(1 << 16)) >= 1
    assert len(ds.read_units(1 << 30)) == 1


def test_a_unit_is_read_alone_by_another_process(registry, small_groups):
    registry.commit("d", {"train": make_table(5000)}, message="m", settings=small_groups)
    ds = dsreg.dataset("d", columns=["id", "label"])
    unit = ds.read_units(1 << 14)[1]
    again = pickle.loads(pickle.dumps(ds))
    assert again.read_unit(pickle.loads(pickle.dumps(unit))).equals(ds.read_unit(unit))


def test_batches_stream_in_order_with_exact_sizes(registry, small_groups):
    t = make_table(10007)
    registry.commit("d", {"train": t}, message="m", settings=small_groups)
    ds = dsreg.dataset("d", columns=["id", "text"])
    batches = list(ds.to_batches(1000))
    assert [b.num_rows for b in batches] == [1000] * 10 + [7]
    assert all(b.schema.metadata[b"dsreg.commit"] == ds.commit.encode() for b in batches)
    assert _data(pa.Table.from_batches(batches)).equals(t.select(["id", "text"]))
    reader = ds.to_reader(4096)
    assert isinstance(reader, pa.RecordBatchReader)
    assert reader.read_all().num_rows == 10007


def test_stopping_a_stream_early_stops_its_thread(registry, small_groups):
    import threading
    registry.commit("d", {"train": make_table(20000)}, message="m", settings=small_groups)
    stream = dsreg.dataset("d").to_batches(100)
    next(stream)
    stream.close()
    assert not [t for t in threading.enumerate() if t.name == "dsreg-read-ahead"]


def test_prefetch_reads_ahead_at_most_depth_items():
    seen = []

    def items():
        for i in range(100):
            seen.append(i)
            yield i
    it = prefetched(lambda: items(), depth=3)
    assert next(it) == 0
    import time
    time.sleep(0.2)
    assert len(seen) <= 5      # the one consumed, `depth` queued, one waiting to be put
    assert list(it) == list(range(1, 100))


def test_prefetch_raises_the_reader_s_error_in_order():
    def items():
        yield 1
        raise ValueError("bad shard")
    it = prefetched(lambda: items(), depth=2)
    assert next(it) == 1
    with pytest.raises(ValueError, match="bad shard"):
        next(it)


def test_filter_skips_row_groups_by_statistics(registry, small_groups):
    t = make_table(20000)     # id ascending: row groups hold disjoint id ranges
    registry.commit("d", {"train": t}, message="m", settings=small_groups)
    expr = (pc.field("id") >= 12000) & (pc.field("id") < 12100)
    ds = dsreg.dataset("d", filter=expr)
    everything = dsreg.dataset("d")
    assert sum(u.rows for u in ds.read_units(1 << 12)) < everything.num_rows // 10
    assert _data(ds.to_table()).equals(t.filter(expr))
    assert ds.num_rows == 100
    none = dsreg.dataset("d", filter=pc.field("id") > 10**9)
    assert none.read_units() == [] and none.to_table().num_rows == 0


def _random_table(rng: np.random.Generator, n: int) -> pa.Table:
    ints = rng.integers(-50, 50, n)
    floats = rng.normal(size=n)
    floats[rng.random(n) < 0.05] = np.nan
    words = np.array(["a", "b", "c", "dd", "é"])[rng.integers(0, 5, n)]
    return pa.table({
        "i": pa.array(ints, mask=rng.random(n) < 0.1),
        "f": pa.array(floats, mask=rng.random(n) < 0.1),
        "s": pa.array(words.tolist(), mask=rng.random(n) < 0.1),
        "b": pa.array(rng.random(n) < 0.5),
        "sorted": pa.array(np.sort(rng.integers(0, 10**6, n))),
    })


def _random_expr(rng: np.random.Generator, depth: int = 0) -> pc.Expression:
    k = int(rng.integers(0, 9 if depth < 2 else 6))
    v = int(rng.integers(-60, 60))
    if k == 0:
        return pc.field("i") > v
    if k == 1:
        return pc.field("f") <= float(rng.normal())
    if k == 2:
        return pc.field("s") == str(rng.choice(["a", "b", "dd", "zz"]))
    if k == 3:
        return pc.field("sorted") < int(rng.integers(0, 10**6))
    if k == 4:
        return pc.field("i").is_null() | pc.field("b")
    if k == 5:
        return pc.field("s").isin(["a", "é"])
    if k == 6:
        return _random_expr(rng, depth + 1) & _random_expr(rng, depth + 1)
    if k == 7:
        return _random_expr(rng, depth + 1) | _random_expr(rng, depth + 1)
    return ~_random_expr(rng, depth + 1)


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_filters_give_exactly_what_table_filter_gives(tmp_path_factory, seed):
    rng = np.random.default_rng(seed)
    root = tmp_path_factory.mktemp("reg")
    with dsreg.Registry.init(root) as reg:
        t = _random_table(rng, int(rng.integers(0, 3000)))
        reg.commit("d", {"train": t}, message="m",
                   settings=RowSettings(ShardSettings(row_group_target_bytes=1 << 10, row_group_min_rows=16)))
        for _ in range(4):
            expr = _random_expr(rng)
            cols = [c for c in t.column_names if rng.random() < 0.6] or None
            want = t.filter(expr)
            if cols is not None:
                want = want.select(cols)
            ds = reg.dataset("d", columns=cols, filter=expr)
            assert _same(ds.to_table(), want), str(expr)
            assert ds.num_rows == want.num_rows
            streamed = list(ds.to_batches(97))
            got = pa.Table.from_batches(streamed, schema=ds.schema) if streamed else ds.schema.empty_table()
            assert _same(got, want), str(expr)


def test_bad_filters_and_columns_are_refused_in_one_line(registry):
    registry.commit("d", {"train": make_table(10)}, message="m")
    with pytest.raises(UsageError, match="no column 'nope'"):
        dsreg.dataset("d", columns=["nope"])
    with pytest.raises(UsageError, match="does not apply"):
        dsreg.dataset("d", filter=pc.field("nope") > 1)
    with pytest.raises(UsageError, match="must be a pyarrow.compute.Expression"):
        dsreg.dataset("d", filter="id > 1")
    with pytest.raises(UsageError, match="batch_size"):
        next(dsreg.dataset("d").to_batches(0))


def pushed(registry, tmp_path) -> str:
    """Push dataset `d` to a new folder remote; its URL."""
    from dsreg.remote import transfer
    (tmp_path / "remote").mkdir()
    remote = f"file://{tmp_path / 'remote'}"
    transfer.add_remote(registry, "origin", remote)
    transfer.push(registry, "origin", "d")
    return remote


def test_a_clone_reads_its_data_on_demand(tmp_path, registry, small_groups):
    t = make_table(5000)
    registry.commit("d", {"train": t}, message="m", settings=small_groups)
    remote = pushed(registry, tmp_path)
    dsreg.Registry.clone(remote, tmp_path / "clone")
    clone = dsreg.Registry(tmp_path / "clone")
    ds = dsreg.dataset("d", registry=clone, filter=pc.field("id") < 100)
    assert _data(ds.to_table()).equals(t.filter(pc.field("id") < 100))


def test_reading_straight_from_a_remote_fetches_only_what_is_read(tmp_path, registry, small_groups, monkeypatch):
    t = make_table(20000)
    c = registry.commit("d", {"train": t}, message="m", settings=small_groups)
    remote = pushed(registry, tmp_path)
    monkeypatch.setenv("DSREG_CACHE", str(tmp_path / "cache"))
    expr = pc.field("id") >= 19900
    ds = dsreg.dataset("d@main", remote=remote, columns=["id", "score"], filter=expr)
    assert ds.commit == c.id
    assert _data(ds.to_table()).equals(t.filter(expr).select(["id", "score"]))
    got = pa.Table.from_batches(list(ds.to_batches(64)))
    assert _data(got).equals(t.filter(expr).select(["id", "score"]))
    # by range, verified: shards were not copied whole into the cache
    cached = list((tmp_path / "cache" / "objects").rglob("*"))
    from dsreg.model.objects import get_commit, get_snapshot
    shard_ids = {r.id for r in get_snapshot(registry, get_commit(registry, c.id).splits["train"]).shards}
    assert shard_ids
    assert not {p.parent.name + p.name for p in cached if p.is_file()} & shard_ids
    assert dsreg.load("d@main", remote=remote).equals(dsreg.dataset("d", remote=remote).to_table())


def test_a_fragmented_version_decodes_each_row_group_once(registry, monkeypatch):
    """Scattered edits make a unit of many short runs alternating between a base shard and
    the new one: each row group is decoded once, not once a run (59 s and 4 GB for 200,000
    rows before)."""
    from dsreg.read.files import ShardFile
    from helpers.tables import edit_table, make_table
    table = make_table(20_000)
    registry.commit("frag", table)
    edited = edit_table(table, "edit", 0.02).table
    registry.commit("frag", edited)
    ds = dsreg.dataset("frag", registry=registry)
    assert ds.snapshot.num_runs > 300
    reads: list[tuple[str, int]] = []
    real = ShardFile.read_row_group

    def counted(self, i, columns):
        reads.append((self.ref.id, i))
        return real(self, i, columns)
    monkeypatch.setattr(ShardFile, "read_row_group", counted)
    got = pa.Table.from_batches(list(ds.to_batches()))
    assert got.replace_schema_metadata(None).equals(edited)
    assert len(reads) == len(set(reads))


def test_the_first_batch_from_a_remote_fetches_footers_not_every_shard(tmp_path, registry, small_groups,
                                                                       monkeypatch):
    t = make_table(40000)
    c = registry.commit("d", {"train": t}, message="m", settings=small_groups)
    remote = pushed(registry, tmp_path)
    monkeypatch.setenv("DSREG_CACHE", str(tmp_path / "cache"))
    from dsreg.remote.read import CachedRemoteStore
    # as an S3 remote: whole shards when reading every column, byte ranges for footers
    monkeypatch.setattr(CachedRemoteStore, "prefers_ranges", property(lambda self: True))
    from dsreg.model.objects import get_commit, get_snapshot
    shard_ids = {r.id for r in get_snapshot(registry, get_commit(registry, c.id).splits["train"]).shards}
    assert len(shard_ids) >= 10
    ds = dsreg.dataset("d@main", remote=remote)
    units = ds.read_units(target_bytes=1)
    assert len(units) >= len(shard_ids)

    def cached() -> set[str]:
        return {p.parent.name + p.name for p in (tmp_path / "cache" / "objects").rglob("*") if p.is_file()}
    assert not cached() & shard_ids                  # planning read footers only
    batches = ds.to_batches(64, prefetch=1, units=units)
    first = next(batches)
    assert first.num_rows == 64
    assert len(cached() & shard_ids) <= 4            # the first units' shards, and the next ones prefetched
    rest = pa.Table.from_batches([first, *batches])
    assert _data(rest).equals(t)
