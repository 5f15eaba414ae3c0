"""Column statistics: computed per shard block at write time, merged per version, checked
against values computed independently (pyarrow compute over the loaded table)."""
from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from dsreg import stats
from dsreg.model.objects import get_commit, get_snapshot
from dsreg.registry import Registry
from dsreg.remote import transfer
from dsreg.rows.arrowtypes import storage_schema
from dsreg.rows.settings import RowSettings, ShardSettings
from dsreg.stats.split import merge_split, shard_stats_from_data, split_stats

LOW_CARD = ("label", "small", "flag")
RANK_SLACK = 0.01          # quantiles are promised within half a percentile of rank; test at one


@pytest.fixture
def small_blocks() -> RowSettings:
    """Many shards of many row groups from small tables, so versions reuse parts of blocks."""
    return RowSettings(ShardSettings(row_group_target_bytes=16 << 10, min_bytes=64 << 10, target_bytes=256 << 10,
                                     max_bytes=1 << 20))


def random_table(n: int, seed: int, start: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)

    def nulls(p):
        return rng.random(n) < p
    words = np.array(["alpha", "beta", "gamma", "delta", "épsilon", "zeta🦄", ""])
    text = ["".join(rng.choice(words, k)) for k in rng.integers(0, 6, n)]
    return pa.table({
        "id": pa.array(np.arange(start, start + n, dtype=np.int64)),
        "count": pa.array(rng.integers(-10**12, 10**12, n), mask=nulls(0.1)),
        "big": pa.array(rng.integers(2**63, 2**64 - 1, n, dtype=np.uint64, endpoint=True)),
        "score": pa.array(rng.standard_normal(n) * 1e3, mask=nulls(0.5)),
        "small": pa.array(rng.integers(0, 7, n).astype(np.int8), mask=nulls(0.02)),
        "label": pa.array(rng.choice(["pos", "neg", "neutral"], n), mask=nulls(0.3)),
        "text": pa.array(text, mask=nulls(0.05)),
        "flag": pa.array(rng.random(n) < 0.3, mask=nulls(0.01)),
        "day": pa.array(rng.integers(0, 20_000, n).astype(np.int32), pa.int32()).cast(pa.date32()),
        "tokens": pa.array([list(range(k)) if k % 5 else None for k in rng.integers(0, 9, n)],
                           pa.list_(pa.int32())),
        "blob": pa.array([bytes(rng.integers(0, 256, k, dtype=np.uint8)) for k in rng.integers(0, 12, n)]),
        "at": pa.array(rng.integers(16 * 10**17, 18 * 10**17, n), mask=nulls(0.1)).cast(pa.timestamp("ns", "UTC")),
    })


def iso(value) -> str:
    """A date or time as docs/cards.md promises it: ISO 8601 text."""
    return value.isoformat()


def temporal_ints(col: pa.ChunkedArray) -> tuple[np.ndarray, dict[str, int]]:
    """The sorted integers Arrow stores for a date or time column, and each value's ISO text -> integer."""
    ints = col.cast(pa.int64() if col.type.bit_width == 64 else pa.int32())
    lookup = {iso(v): i for v, i in zip(col.to_pylist(), ints.to_pylist()) if v is not None}
    return np.sort(ints.drop_null().to_numpy()), lookup


def expected(table: pa.Table, name: str) -> dict:
    """Statistics of one column computed independently, with pyarrow compute."""
    col = table[name]
    out = {"rows": len(col), "nulls": col.null_count}
    t = col.type
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_date(t) or pa.types.is_timestamp(t):
        mm = pc.min_max(col)
        out["min"], out["max"] = mm["min"].as_py(), mm["max"].as_py()
        if pa.types.is_date(t) or pa.types.is_timestamp(t):
            out["min"], out["max"] = iso(out["min"]), iso(out["max"])
            out["temporal"] = temporal_ints(col)
        else:
            out["mean"] = pc.mean(col).as_py()
            out["std"] = pc.stddev(col, ddof=0).as_py()
            out["values"] = np.sort(col.drop_null().to_numpy().astype(np.float64))
    if pa.types.is_string(t) or pa.types.is_binary(t) or pa.types.is_list(t):
        lengths = pc.utf8_length(col) if pa.types.is_string(t) else \
            pc.binary_length(col) if pa.types.is_binary(t) else pc.list_value_length(col)
        mm = pc.min_max(lengths)
        out["lengths"] = (mm["min"].as_py(), mm["max"].as_py(), pc.mean(lengths).as_py())
    if name in LOW_CARD:
        vc = pc.value_counts(col.drop_null())
        out["top"] = {v: c for v, c in zip(vc.field("values").to_pylist(), vc.field("counts").to_pylist())}
    if not pa.types.is_list(t):
        out["distinct"] = pc.count_distinct(col.drop_null()).as_py()
    return out


def check_split(got: dict, table: pa.Table) -> None:
    assert got["rows"] == table.num_rows
    for name in table.column_names:
        st, want = got["columns"][name], expected(table, name)
        assert "error" not in st, st
        assert (st["rows"], st["nulls"]) == (want["rows"], want["nulls"]), name
        if "min" in want:
            assert (st["min"], st["max"]) == (want["min"], want["max"]), name
        if "temporal" in want:      # quantiles and histogram in the column's terms: ISO text
            values, lookup = want["temporal"]
            for q, label in zip(stats.QUANTILES, ("5%", "25%", "50%", "75%", "95%")):
                lo = np.quantile(values, max(q - RANK_SLACK, 0), method="lower")
                hi = np.quantile(values, min(q + RANK_SLACK, 1), method="higher")
                assert lo <= lookup[st["quantiles"][label]] <= hi, (name, label, lo, st["quantiles"][label], hi)
            hist = st["histogram"]
            assert (hist["edges"][0], hist["edges"][-1]) == (st["min"], st["max"]), name
            assert all(isinstance(e, str) for e in hist["edges"]) and sum(hist["counts"]) == len(values), name
        if "mean" in want:
            assert st["mean"] == pytest.approx(want["mean"], rel=1e-9, abs=1e-9), name
            assert st["std"] == pytest.approx(want["std"], rel=1e-6), name
            values = want["values"]
            for q, label in zip(stats.QUANTILES, ("5%", "25%", "50%", "75%", "95%")):
                lo = np.quantile(values, max(q - RANK_SLACK, 0), method="lower")
                hi = np.quantile(values, min(q + RANK_SLACK, 1), method="higher")
                assert lo <= st["quantiles"][label] <= hi, (name, label, lo, st["quantiles"][label], hi)
        if "lengths" in want:
            ln = st["lengths"]
            assert (ln["min"], ln["max"]) == want["lengths"][:2], name
            assert ln["mean"] == pytest.approx(want["lengths"][2], rel=1e-9), name
        if "top" in want:
            assert st["distinct_exact"] and st["distinct"] == len(want["top"]), name
            assert {k: c for k, c in st["top"]} == want["top"], name
        elif name != "tokens":
            tolerance = 0.08 * want["distinct"] + 3
            assert abs(st["distinct"] - want["distinct"]) <= tolerance, (name, st["distinct"], want["distinct"])


def versions(reg, n: int, seed: int, settings: RowSettings):
    """A first version, then edits that reuse parts of its shards: scattered edits, deletes, an insert."""
    rng = np.random.default_rng(seed)
    t = random_table(n, seed)
    yield reg.commit("ds", {"train": t}, settings=settings).id, t
    edited = t.set_column(3, "score", pc.if_else(pa.array(rng.random(n) < 0.01), pa.scalar(-1.5), t["score"]))
    yield reg.commit("ds", {"train": edited}, settings=settings).id, edited
    keep = rng.random(n) >= 0.01
    deleted = edited.filter(pa.array(keep))
    yield reg.commit("ds", {"train": deleted}, settings=settings).id, deleted
    mid = deleted.num_rows // 3
    inserted = pa.concat_tables([deleted.slice(0, mid), random_table(300, seed + 1, start=n), deleted.slice(mid)])
    yield reg.commit("ds", {"train": inserted}, settings=settings).id, inserted


@pytest.mark.parametrize("seed", [1, 2])
def test_version_stats_match_pyarrow(registry, small_blocks, seed):
    for commit_id, table in versions(registry, 10_000, seed, small_blocks):
        sid = get_commit(registry, commit_id).splits["train"]
        registry.manifest.conn.execute("DELETE FROM split_stats")     # not the commit's primed copy
        check_split(split_stats(registry, sid), table)


def test_versions_reuse_parts_of_blocks(registry, small_blocks):
    """The property the test above relies on: later versions read blocks only in part."""
    ids = [c for c, _ in versions(registry, 10_000, 1, small_blocks)]
    for commit_id in ids[1:]:
        snap = get_snapshot(registry, get_commit(registry, commit_id).splits["train"])
        split_stats(registry, get_commit(registry, commit_id).splits["train"])    # commits leave them to a card
        docs = registry.manifest.shard_stats([s.id for s in snap.shards])
        partial = 0
        for ref, start, count in snap.runs():
            edges = np.cumsum([0] + [b["rows"] for b in docs[ref.id]["blocks"]])
            partial += not (start in edges and start + count in edges)
        assert len(snap.shards) > 1 and partial > 0


def test_blocks_are_the_row_groups(registry, small_blocks):
    """Stats stored at write time equal those recomputed from the shard's row groups."""
    registry.commit("ds", {"train": random_table(6_000, 5)}, settings=small_blocks)
    snap = get_snapshot(registry, get_commit(registry, registry.resolve("ds")).splits["train"])
    split_stats(registry, get_commit(registry, registry.resolve("ds")).splits["train"])    # the first card's
    stored = registry.manifest.shard_stats([s.id for s in snap.shards])
    assert max(len(stored[ref.id]["blocks"]) for ref in snap.shards) > 1
    for ref in snap.shards:
        recomputed = shard_stats_from_data(registry.store.get(ref.id), storage_schema(snap.schema))
        assert json.dumps(recomputed, sort_keys=True) == json.dumps(stored[ref.id], sort_keys=True)


def test_missing_shard_stats_are_computed_and_cached(registry, small_blocks):
    table = random_table(5_000, 6)
    sid = get_commit(registry, registry.commit("ds", {"train": table}, settings=small_blocks).id).splits["train"]
    before = split_stats(registry, sid)
    m = registry.manifest
    m.conn.execute("UPDATE shards SET stats='{}'")
    m.conn.execute("DELETE FROM split_stats")
    assert split_stats(registry, sid) == before
    assert all(json.loads(r[0]) for r in m.conn.execute("SELECT stats FROM shards"))


def test_split_stats_kept_by_an_older_dsreg_are_recomputed(registry):
    """A manifest's finished statistics in an older form (float quantiles of dates, say) are a
    stale cache: computed again, not shown."""
    table = random_table(2_000, 13)
    sid = get_commit(registry, registry.commit("ds", {"train": table}).id).splits["train"]
    fresh = split_stats(registry, sid)
    registry.manifest.set_split_stats(sid, {**fresh, "format": stats.STATS_FORMAT, "rows": -1})
    assert split_stats(registry, sid) == fresh


def _pushed_and_cloned(registry, tmp_path):
    """A clone (metadata only, data on demand) of `registry`'s ds, through a folder remote."""
    (tmp_path / "remote").mkdir()
    transfer.add_remote(registry, "origin", f"file://{tmp_path / 'remote'}")
    transfer.push(registry, "origin", "ds")
    clone, _ = Registry.clone(f"file://{tmp_path / 'remote'}", tmp_path / "clone")
    return clone


def test_fetched_shards_get_stats_lazily(registry, small_blocks, tmp_path):
    """A clone's manifest lists shards without statistics; the first card computes and keeps them."""
    table = random_table(4_000, 7)
    registry.commit("ds", {"train": table}, settings=small_blocks)
    clone = _pushed_and_cloned(registry, tmp_path)
    try:
        rows = clone.manifest.conn.execute("SELECT stats FROM shards").fetchall()
        assert rows and all(not json.loads(r[0] or "{}") for r in rows)
        transfer.pull(clone, "origin", "ds")
        sid = get_commit(clone, clone.resolve("ds")).splits["train"]
        check_split(split_stats(clone, sid), table)
        assert all(json.loads(r[0]) for r in clone.manifest.conn.execute("SELECT stats FROM shards"))
    finally:
        clone.close()


def test_a_card_reads_no_rows_of_a_committed_version(registry, small_blocks, monkeypatch):
    """Statistics come from the manifest: a commit computes none (it never waits for them), the
    first card computes them exactly and keeps them, and every later card reads shards only
    for its sample rows."""
    from dsreg.card import build_card
    t = random_table(12_000, 8)
    registry.commit("ds", {"train": t}, settings=small_blocks)
    registry.commit("ds", {"train": pa.concat_tables([t.slice(0, 6_000), random_table(50, 9, 10**6),
                                                       t.slice(6_000)])}, settings=small_blocks)
    assert registry.manifest.conn.execute("SELECT COUNT(*) FROM split_stats").fetchone()[0] == 0
    first = build_card(registry, "ds")
    snap = get_snapshot(registry, get_commit(registry, registry.resolve("ds")).splits["train"])
    shard_ids = {s.id for s in snap.shards}
    read = []
    original = registry.store.get
    monkeypatch.setattr(registry.store, "get", lambda oid: read.append(oid) or original(oid))
    assert build_card(registry, "ds").splits["train"].stats == first.splits["train"].stats
    assert len(snap.shards) > 3
    assert len([o for o in read if o in shard_ids]) <= 1        # the shard holding the first rows


def test_a_commit_computes_no_statistics_and_the_first_card_is_exact(registry, small_blocks, monkeypatch):
    """Statistics are off the commit's path: neither block nor split statistics are computed
    while committing (an initial one, nor an edit that uses blocks in part); the first
    `split_stats` then counts every row exactly."""
    import dsreg.stats.columns
    import dsreg.stats.split
    calls: list[str] = []
    for mod, name in ((dsreg.stats.columns, "table_stats"), (dsreg.stats.split, "merge_split"),
                      (dsreg.stats.split, "table_stats")):
        original = getattr(mod, name)
        monkeypatch.setattr(mod, name, lambda *a, _o=original, _n=name, **kw: calls.append(_n) or _o(*a, **kw))
    *_, (commit_id, table) = versions(registry, 6_000, 3, small_blocks)
    assert calls == []
    assert registry.manifest.shard_stats([r[0] for r in registry.manifest.conn.execute("SELECT id FROM shards")]) == {}
    check_split(split_stats(registry, get_commit(registry, commit_id).splits["train"]), table)
    assert calls


def test_exact_integer_sums_do_not_overflow():
    big = np.array([2**64 - 1] * 1000, dtype=np.uint64)
    assert stats.NumberStats.of(big).sum == (2**64 - 1) * 1000
    neg = np.array([-(2**63)] * 1000 + [2**63 - 1] * 10, dtype=np.int64)
    assert stats.NumberStats.of(neg).sum == -(2**63) * 1000 + (2**63 - 1) * 10


def test_merged_moments_equal_direct():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(50_000) * 100 + 7
    merged = stats.NumberStats()
    for part in np.array_split(x, 13):
        merged.merge(stats.NumberStats.of(part))
    assert merged.mean() == pytest.approx(x.mean(), rel=1e-12)
    assert merged.std() == pytest.approx(x.std(), rel=1e-9)
    assert (merged.min, merged.max, merged.n) == (x.min(), x.max(), len(x))


@pytest.mark.parametrize("n", [10, 1_000, 100_000, 1_000_000])
def test_distinct_estimate(n):
    values = pa.array(np.arange(n, dtype=np.int64) * 7919)
    regs = stats.hll_registers(__import__("dsreg.rows.fingerprint", fromlist=["x"]).hash_array(values))
    assert abs(stats.hll_estimate(regs) - n) <= 0.06 * n + 1


def test_float_specials_are_counted_not_averaged():
    arr = pa.array([1.0, float("nan"), float("inf"), None, 3.0, float("nan")])
    got = stats.finalize(stats.column_stats(arr), arr.type)
    assert (got["nulls"], got["nan"], got["max"]) == (1, 2, "inf")
    assert got["mean"] == float("inf")


def test_a_commit_in_a_clone_fetches_no_data_for_statistics(registry, small_blocks, tmp_path):
    """Committing primes card statistics only from local data: a clone keeps fetching on demand."""
    table = random_table(4_000, 10)
    registry.commit("ds", {"train": table}, settings=small_blocks)
    clone = _pushed_and_cloned(registry, tmp_path)
    try:
        remote_shards = [r[0] for r in clone.manifest.conn.execute("SELECT id FROM shards")]
        more = random_table(100, 11, start=10**6)
        clone.commit("ds", {"train": more}, append=True, settings=small_blocks)
        assert not any(clone.store.has(s) for s in remote_shards)
        sid = get_commit(clone, clone.resolve("ds")).splits["train"]
        check_split(split_stats(clone, sid), pa.concat_tables([table, more]))   # the card fetches what it needs
    finally:
        clone.close()


def test_subtracting_left_out_rows_equals_counting_kept_rows(registry, small_blocks, monkeypatch):
    """Blocks a version uses mostly get their stored statistics less the rows left out; that
    path must agree with counting the rows kept, and must be the one taken."""
    import dsreg.stats.split as ss
    calls = []
    original = ss.without_rows
    monkeypatch.setattr(ss, "without_rows", lambda *a: calls.append(1) or original(*a))
    *_, (commit_id, table) = versions(registry, 10_000, 12, small_blocks)
    sid = get_commit(registry, commit_id).splits["train"]
    snap = get_snapshot(registry, sid)
    subtracted = merge_split(registry, snap)
    assert calls
    counted = merge_split(registry, snap, mostly_used=2.0)     # never: count every kept row
    assert (subtracted.rows, subtracted.nbytes) == (counted.rows, counted.nbytes)
    for name, f in zip(table.column_names, table.schema):
        a, b = stats.finalize(subtracted.columns[name], f.type), stats.finalize(counted.columns[name], f.type)
        for key in ("rows", "nulls", "nan", "min", "max", "top", "distinct"):
            assert a.get(key) == b.get(key), (name, key)
        for key in ("mean", "std"):
            if isinstance(b.get(key), float):   # else None, or a rendered value such as "inf"
                assert a.get(key) == pytest.approx(b.get(key), rel=1e-9), (name, key)
            else:                               # (pytest >= 9.1 refuses approx of those)
                assert a.get(key) == b.get(key), (name, key)
        if "lengths" in b:
            assert {k: a["lengths"][k] for k in ("min", "max")} == {k: b["lengths"][k] for k in ("min", "max")}
            assert a["lengths"]["mean"] == pytest.approx(b["lengths"]["mean"], rel=1e-12)


def test_distinct_estimate_of_blocks_used_in_part(registry):
    """A version that keeps most of each block counts distinct values from the rows it keeps,
    not from the whole block: its registers are those of its own rows, and the estimate is
    within HyperLogLog's usual error (the whole block's registers overcounted by 20%)."""
    rng = np.random.default_rng(0)
    n, run = 200_000, 2_000
    table = pa.table({"id": np.arange(n), "value": rng.integers(0, 150_000, n),
                      "word": pa.array([f"w{x}" for x in rng.integers(0, 10**6, n)])})
    registry.commit("ds", {"train": table})
    keep = np.ones(n, dtype=bool)
    for r in rng.permutation(n // run)[: int(0.45 * n / run)]:      # drop 45%, in runs of 2,000 rows
        keep[r * run:(r + 1) * run] = False
    kept = table.filter(pa.array(keep))
    sid = get_commit(registry, registry.commit("ds", {"train": kept}).id).splits["train"]
    merged = merge_split(registry, get_snapshot(registry, sid))
    got = split_stats(registry, sid)
    for name in kept.column_names:
        assert np.array_equal(merged.columns[name].hll, stats.column_stats(kept[name]).hll), name
        true = pc.count_distinct(kept[name]).as_py()
        assert abs(got["columns"][name]["distinct"] - true) <= 0.05 * true, (name, got["columns"][name], true)
