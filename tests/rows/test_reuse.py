"""Rows are the unit of reuse: a new version stores only rows it did not have.

The headline numbers use a 1,000,000-row table: 1% of rows edited at scattered places,
deleted at scattered places, inserted in the middle or appended must each store at most
5% of what the first commit stored (`new_bytes`, what `commit --json` reports), and
every version must load back exactly.
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

import dsreg
import dsreg.porcelain
import dsreg.rows.compaction
import dsreg.rows.ingest
import dsreg.rows.snapshots
from dsreg.model.objects import get_commit, get_snapshot
from dsreg.rows.equality import tables_equal
from dsreg.rows.settings import CompactionSettings, RowSettings, ShardSettings
from dsreg.versions.commit import SplitResult
from helpers.tables import edit_table, make_table

SCENARIOS = ["edit", "delete", "insert", "append"]
MAX_RATIO = 0.05


def snapshot_of(reg, spec: str, split: str = "train"):
    return get_snapshot(reg, get_commit(reg, reg.resolve(spec)).splits[split])


def shard_ids(reg, spec: str, split: str = "train") -> list[str]:
    return [s.id for s in snapshot_of(reg, spec, split).shards]


# -- one million rows -------------------------------------------------------------------
@pytest.fixture(scope="module")
def million():
    return make_table(1_000_000)


@pytest.fixture(scope="module")
def big_registry(tmp_path_factory, million):
    root = tmp_path_factory.mktemp("big")
    reg = dsreg.Registry.init(root)
    first = reg.commit("big", {"train": million}, message="1M rows", author="t")
    yield reg, first
    reg.close()


@pytest.fixture(scope="module")
def scenario_results(big_registry, million):
    """Each 1% change, committed from the same starting version on its own branch."""
    reg, first = big_registry
    results = {}
    for i, kind in enumerate(SCENARIOS):
        # a seed each: insert and append must not add the very same rows (whose shards
        # the other would then find already stored)
        change = edit_table(million, kind, fraction=0.01, seed=7 + 10 * i)
        results[kind] = (change, reg.commit("big", {"train": change.table}, message=kind, branch=kind, author="t"))
    return results


@pytest.mark.parametrize("kind", SCENARIOS)
def test_one_percent_change_stores_at_most_five_percent(big_registry, scenario_results, kind):
    reg, first = big_registry
    change, r = scenario_results[kind]
    base_bytes = first.to_json()["splits"]["train"]["new_bytes"]
    new_bytes = r.to_json()["splits"]["train"]["new_bytes"]
    ratio = new_bytes / base_bytes
    print(f"\n{kind}: new_bytes {new_bytes} / {base_bytes} = {ratio:.4f}")
    assert ratio <= MAX_RATIO, f"{kind}: {new_bytes} / {base_bytes} = {ratio:.3%}"
    s = r.splits["train"]
    assert s.rows == change.table.num_rows
    assert s.new_rows == len(change.added_ids)         # exactly the rows not in the base
    assert s.reused_rows == s.rows - s.new_rows
    assert r.compacted == ()
    assert not r.unchanged and r.id != first.id


@pytest.mark.parametrize("kind", SCENARIOS)
def test_one_percent_change_loads_back_exactly(big_registry, scenario_results, million, kind):
    reg, first = big_registry
    change, r = scenario_results[kind]
    got = reg.load(f"big@{kind}")
    assert got.schema.metadata[b"dsreg.commit"] == r.id.encode()
    assert tables_equal(got, change.table)
    assert got.schema.remove_metadata().equals(change.table.schema)


def test_first_version_still_loads_exactly(big_registry, scenario_results, million):
    reg, first = big_registry
    assert all(reg.resolve(f"big@{k}~1") == first.id for k in SCENARIOS)
    assert tables_equal(reg.load("big@main"), million)


def test_recommitting_a_million_identical_rows_stores_nothing(big_registry, million):
    reg, first = big_registry
    r = reg.commit("big", {"train": million}, message="again", author="t")
    assert r.unchanged and r.id == first.id
    assert r.splits["train"].new_bytes == 0 and r.splits["train"].new_rows == 0


def test_append_mode_stores_only_the_new_rows(big_registry, million):
    reg, first = big_registry
    more = make_table(10_000, seed=5)
    r = reg.commit("big", {"train": more}, message="append", append=True, branch="append-mode", author="t")
    assert r.splits["train"].rows == 1_010_000 and r.splits["train"].new_rows == 10_000
    assert r.splits["train"].new_bytes / first.splits["train"].new_bytes <= 0.02
    assert tables_equal(reg.load("big@append-mode"), pa.concat_tables([million, more]))


def test_shard_boundaries_do_not_depend_on_batching(big_registry, million):
    """The same million rows, arriving in other batches, make the very same shards."""
    reg, first = big_registry
    reader = pa.RecordBatchReader.from_batches(million.schema, million.to_batches(max_chunksize=9_973))
    reg.commit("rebatched", {"train": reader}, message="m", author="t")
    assert shard_ids(reg, "rebatched") == shard_ids(reg, "big@main")
    assert len(shard_ids(reg, "big@main")) >= 2


# -- smaller scenarios --------------------------------------------------------------------
def test_identical_recommit_is_unchanged(registry):
    t = make_table(20_000)
    first = registry.commit("ds", {"train": t, "test": make_table(500, seed=3)}, message="m")
    again = registry.commit("ds", {"train": t}, message="again")
    assert again.unchanged and again.id == first.id
    assert again.splits["train"].new_bytes == 0
    # even for a table of nothing but repeated rows
    dup = pa.table({"label": pa.array(["pos", "neg", "pos"] * 5000)})
    a = registry.commit("dups", dup, message="m")
    b = registry.commit("dups", dup, message="m")
    assert b.unchanged and b.id == a.id
    assert snapshot_of(registry, "dups").num_runs == 1


def test_base_from_another_dataset(registry):
    t = make_table(30_000)
    a = registry.commit("a", t, message="m")
    edited = edit_table(t, "edit", 0.01, seed=2).table
    r = registry.commit("b", edited, message="m", base="a")
    assert r.splits["train"].new_rows == 300
    assert r.splits["train"].new_bytes <= MAX_RATIO * a.splits["train"].new_bytes
    assert tables_equal(registry.load("b"), edited)
    # an older revision of the other dataset works as a base too
    registry.commit("a", make_table(10, seed=9), message="replaced")
    r2 = registry.commit("c", edited, message="m", base="a@main~1")
    assert r2.splits["train"].new_rows == 300
    no_base = registry.commit("d", edited, message="m")
    assert no_base.splits["train"].new_rows == 30_000
    assert tables_equal(registry.load("c"), edited) and tables_equal(registry.load("a@main~1"), t)


def test_rows_moved_between_splits_are_reused(registry):
    t = make_table(20_000)
    first = registry.commit("ds", {"train": t}, message="m")
    perm = np.random.default_rng(0).permutation(20_000)
    train, test = t.take(pa.array(np.sort(perm[:16_000]))), t.take(pa.array(np.sort(perm[16_000:])))
    r = registry.commit("ds", {"train": train, "test": test}, message="split")
    assert r.splits["test"].new_rows == 0 and r.splits["train"].new_rows == 0
    assert r.splits["train"].new_bytes + r.splits["test"].new_bytes < 0.1 * first.splits["train"].new_bytes
    # and back: test's rows return to train, the test split is dropped
    r2 = registry.commit("ds", {"train": t}, message="merge", drop_splits=["test"])
    assert r2.splits["train"].new_rows == 0
    assert tables_equal(registry.load("ds@main~1", split="test"), test)
    assert tables_equal(registry.load("ds"), t)
    assert set(registry.show("ds").splits) == {"train"}


@pytest.mark.parametrize("fingerprint", ["constant", "coarse"])
def test_fingerprint_collisions_never_cause_wrong_reuse(registry, monkeypatch, fingerprint):
    """With every row colliding, reuse is still only of rows proven equal."""
    real = dsreg.rows.snapshots.row_fingerprints
    fake = (lambda t: np.zeros(t.num_rows, dtype=np.uint64)) if fingerprint == "constant" \
        else (lambda t: real(t) & np.uint64(0x3))
    monkeypatch.setattr(dsreg.rows.snapshots, "row_fingerprints", fake)
    bits = np.array([0, 1 << 63, 0x7FF8000000000000, 0x7FF8000000000001], dtype=np.uint64)
    n = 3000
    rng = np.random.default_rng(0)
    t1 = pa.table({"f": pa.array(bits[rng.integers(0, 4, n)].view(np.float64)),
                   "s": pa.array([["a", "b", None][i % 3] for i in range(n)]),
                   "i": pa.array(rng.integers(0, 5, n))})
    v1 = registry.commit("ds", t1, message="v1")
    # every other row: the sign bit flipped (0.0 <-> -0.0, NaN <-> -NaN); every 7th: a new value
    raw = np.frombuffer(t1["f"].combine_chunks().buffers()[1], dtype=np.uint64)[:n]
    swapped = raw.copy()
    every_other = np.arange(0, n, 2)
    swapped[every_other] = raw[every_other] ^ (np.uint64(1) << np.uint64(63))
    t2 = t1.set_column(0, "f", pa.array(swapped.view(np.float64)))
    t2 = t2.set_column(2, "i", pa.array(np.where(np.arange(n) % 7 == 0, 99, t1["i"].to_numpy())))
    v2 = registry.commit("ds", t2, message="v2")
    for spec, want in [(v1.id, t1), (v2.id, t2)]:
        got = registry.load(f"ds@{spec}")
        assert tables_equal(got, want)
        got_bits = np.frombuffer(got["f"].combine_chunks().buffers()[1], dtype=np.uint64)
        want_bits = np.frombuffer(want["f"].combine_chunks().buffers()[1], dtype=np.uint64)
        assert (got_bits[:n] == want_bits[:n]).all()
    # a collision may cost reuse (a wrong proposal breaks a run), never correctness:
    # every changed row is new; with one constant fingerprint the continuation of the
    # previous match is always proposed, so exactly the changed rows are new
    changed = int(((swapped != raw) | (np.arange(n) % 7 == 0)).sum())
    assert v2.splits["train"].new_rows >= changed
    if fingerprint == "constant":
        assert v2.splits["train"].new_rows == changed


@pytest.fixture
def small_shards() -> RowSettings:
    return RowSettings(ShardSettings(target_bytes=64 << 10, min_bytes=16 << 10, max_bytes=256 << 10))


def test_same_rows_from_different_files_make_the_same_shards(registry, tmp_path, small_shards):
    t = make_table(60_000)
    pq.write_table(t, tmp_path / "one.parquet")
    folder = tmp_path / "parts"
    folder.mkdir()
    bounds = [0, 7, 5_000, 5_001, 31_337, 60_000]
    for k, (a, b) in enumerate(zip(bounds, bounds[1:])):
        pq.write_table(t.slice(a, b - a), folder / f"part-{k}.parquet", row_group_size=997)
    registry.commit("one", tmp_path / "one.parquet", message="m", settings=small_shards)
    registry.commit("many", folder, message="m", settings=small_shards)
    other_batches = dataclasses.replace(small_shards, batch_rows=1234)
    registry.commit("table", t, message="m", settings=other_batches)
    ids = shard_ids(registry, "one")
    assert len(ids) > 10
    assert shard_ids(registry, "many") == ids == shard_ids(registry, "table")
    # content-defined cuts resynchronise after an insert: most shards are shared
    mid = pa.concat_tables([t.slice(0, 30_000), make_table(100, seed=4), t.slice(30_000)])
    registry.commit("inserted", mid, message="m", settings=other_batches)
    shared = set(shard_ids(registry, "inserted")) & set(ids)
    assert len(shared) >= len(ids) - 3


def test_compaction_triggers_on_fragmentation_and_keeps_content(registry, small_shards):
    t = make_table(40_000)
    registry.commit("ds", t, message="m", settings=small_shards)
    # edit every 3rd row: ~27k runs averaging 1.5 rows -> past MIN_RUNS, below MIN_MEAN_RUN_ROWS
    score = t["score"].to_numpy().copy()
    score[::3] = -1.0
    edited = t.set_column(2, "score", pa.array(score))
    r = registry.commit("ds", edited, message="scattered", settings=small_shards)
    assert r.compacted == ("train",)
    snap = snapshot_of(registry, "ds")
    assert not dsreg.rows.compaction.needs_compaction(snap)
    assert snap.num_runs <= len(snap.shards)
    assert tables_equal(registry.load("ds"), edited)
    assert tables_equal(registry.load("ds@main~1"), t)
    # compacted shards are the shards a fresh commit of those rows makes
    registry.commit("fresh", edited, message="m", settings=small_shards)
    assert shard_ids(registry, "fresh") == [s.id for s in snap.shards]


def test_compaction_triggers_on_dead_weight(registry, small_shards):
    settings = dataclasses.replace(small_shards, compaction=CompactionSettings(min_dead_rows=10_000))
    t = make_table(40_000)
    registry.commit("ds", t, message="m", settings=settings)
    assert len(shard_ids(registry, "ds")) > 10
    # keep 100 rows of every 1,000: few, long runs, but ~90% of every shard unreferenced
    keep = t.filter(pa.array(np.arange(40_000) % 1000 < 100))
    r = registry.commit("ds", keep, message="small", settings=settings)
    assert r.compacted == ("train",)
    assert r.splits["train"].new_rows == 0          # the rows were reused before compacting
    mean_run, dead_fraction, dead = dsreg.rows.compaction.fragmentation(snapshot_of(registry, "ds"))
    assert dead == 0 and dead_fraction == 0
    assert tables_equal(registry.load("ds"), keep)
    assert tables_equal(registry.load("ds@main~1"), t)


def test_compaction_does_not_trigger_below_its_thresholds(registry, small_shards):
    t = make_table(40_000)
    registry.commit("ds", t, message="m", settings=small_shards)
    r = registry.commit("ds", edit_table(t, "edit", 0.01).table, message="light", settings=small_shards)
    assert r.compacted == ()
    snap = snapshot_of(registry, "ds")
    assert snap.num_runs < CompactionSettings().min_runs
    assert not dsreg.rows.compaction.needs_compaction(snap)


def test_compact_directly_preserves_every_row(registry, small_shards):
    from dsreg.rows.compaction import compact
    from dsreg.rows.snapshots import read_snapshot
    t = make_table(20_000)
    registry.commit("ds", t, message="m", settings=small_shards)
    shuffled = t.take(pa.array(np.random.default_rng(1).permutation(20_000)))
    never = CompactionSettings(min_runs=1 << 62, min_dead_rows=1 << 62)    # keep the commit itself from compacting
    registry.commit("ds", shuffled, message="shuffled",                      # 20k runs of one row
                    settings=dataclasses.replace(small_shards, compaction=never))
    snap = snapshot_of(registry, "ds")
    assert snap.num_runs > 19_000 and dsreg.rows.compaction.needs_compaction(snap)
    new_snap, written = compact(registry.store, snap, shards=small_shards.shards)
    assert new_snap.schema.equals(snap.schema, check_metadata=True)
    assert tables_equal(read_snapshot(registry.store, new_snap), shuffled)
    assert new_snap.num_runs == len(new_snap.shards) < snap.num_runs


# -- the input cache: byte-identical files are not read again ------------------------------
@pytest.fixture
def reads(monkeypatch):
    """The files whose rows a commit reads, in order."""
    real = dsreg.rows.ingest._read_file
    seen: list[str] = []

    def reading(f, *args):
        seen.append(Path(f).name)
        yield from real(f, *args)
    monkeypatch.setattr(dsreg.rows.ingest, "_read_file", reading)
    return seen


def no_input_cache(monkeypatch):
    monkeypatch.setattr(dsreg.versions.commit, "cached_snapshot", lambda *a: None)


def input_cache(reg) -> set[tuple[str, str]]:
    return set(reg.manifest.conn.execute("SELECT digest, snapshot_id FROM input_snapshots"))


def flat_table(n: int, seed: int = 0) -> pa.Table:
    """make_table without the embedding, so that it can be CSV too."""
    return make_table(n, seed).drop_columns(["embedding"])


def write(path: Path, table: pa.Table) -> Path:
    if path.suffix == ".csv":
        pcsv.write_csv(table, path)
    else:
        pq.write_table(table, path, row_group_size=1000)
    return path


def split_id(reg, spec: str, split: str = "train") -> str:
    return get_commit(reg, reg.resolve(spec)).splits[split]


@pytest.mark.parametrize("ext", [".parquet", ".csv"])
def test_recommitting_identical_files_reads_no_rows(registry, tmp_path, reads, monkeypatch, ext):
    path = write(tmp_path / f"data{ext}", flat_table(5000).replace_schema_metadata({b"origin": b"a test"}))
    first = registry.commit("ds", {"train": path}, message="v1")
    assert reads == [path.name] and len(input_cache(registry)) == 1
    reads.clear()
    again = registry.commit("ds", {"train": path}, message="v1 again")
    assert reads == []
    assert again.unchanged and again.id == first.id
    assert again.splits["train"] == SplitResult(rows=5000, new_rows=0, reused_rows=5000, new_bytes=0)
    # reading the file after all (no cache) gives exactly the same answer
    no_input_cache(monkeypatch)
    full = registry.commit("ds", {"train": path}, message="v1 again")
    assert reads == [path.name]
    assert full == again


def test_files_read_with_other_reading_settings_are_read_again(registry, tmp_path, reads):
    """The input digest names how files were read (batch and text-block sizes are settings of
    the commit now): other settings miss the cache, the same ones hit it."""
    path = write(tmp_path / "data.csv", flat_table(3000))
    registry.commit("ds", {"train": path}, message="v1")
    for settings in (RowSettings(batch_rows=700), RowSettings(text_block_bytes=1 << 20)):
        reads.clear()
        assert registry.commit("ds", {"train": path}, message="again", settings=settings).unchanged
        assert reads == [path.name]
        reads.clear()
        registry.commit("ds", {"train": path}, message="again", settings=settings)
        assert reads == []


def test_a_commit_that_changes_nothing_still_fills_the_cache(registry, tmp_path, reads):
    """As in a registry made before the cache: the first identical re-commit reads the
    file, finds nothing changed, and remembers it for the next."""
    path = write(tmp_path / "data.parquet", flat_table(2000))
    first = registry.commit("ds", path, message="v1")
    registry.manifest.conn.execute("DELETE FROM input_snapshots")
    reads.clear()
    assert registry.commit("ds", path, message="m").unchanged and reads == ["data.parquet"]
    assert {sid for _, sid in input_cache(registry)} == {split_id(registry, "ds")}
    reads.clear()
    again = registry.commit("ds", path, message="m")
    assert again.unchanged and again.id == first.id and reads == []


def test_an_unchanged_split_beside_a_changed_one_is_taken_as_it_was(registry, tmp_path, reads, monkeypatch):
    t = flat_table(4000)
    train = write(tmp_path / "train.parquet", t)
    test = write(tmp_path / "test.csv", flat_table(800, seed=1))
    registry.commit("ds", {"train": train, "test": test}, message="v1")
    text = test.read_bytes()
    test.write_bytes(text.replace(b"pos", b"neg", 1))       # one real edit, same length
    reads.clear()
    r = registry.commit("ds", {"train": train, "test": test}, message="v2")
    assert reads == ["test.csv"]
    assert not r.unchanged and r.splits["test"].new_rows == 1
    assert r.splits["train"] == SplitResult(rows=4000, new_rows=0, reused_rows=4000, new_bytes=0)
    assert split_id(registry, "ds") == split_id(registry, "ds@main~1")
    assert tables_equal(registry.load("ds", split="test").replace_schema_metadata(None), pcsv.read_csv(test))
    # the full path, from the same parent, makes the very same snapshots
    no_input_cache(monkeypatch)
    registry.branch("ds", "full", "main~1")
    reads.clear()
    f = registry.commit("ds", {"train": train, "test": test}, message="v2", branch="full")
    assert reads == ["test.csv", "train.parquet"]
    assert get_commit(registry, f.id).splits == get_commit(registry, r.id).splits
    assert f.splits["train"] == r.splits["train"]


def test_a_full_recommit_reproduces_the_snapshot_the_shortcut_reuses(registry, tmp_path, small_shards,
                                                                      monkeypatch):
    """What the shortcut rests on: files that made snapshot S, committed again onto a
    version holding S, give S again, even when S is many runs over older shards with
    duplicate rows among them."""
    no_input_cache(monkeypatch)
    t = flat_table(30_000)
    registry.commit("ds", t, message="v1", settings=small_shards)
    edited = edit_table(t, "edit", 0.02, seed=3).table
    dups = pa.concat_tables([edited.slice(0, 10_000), edited.slice(5_000, 5_000), edited.slice(20_000)])
    path = write(tmp_path / "v2.parquet", dups)
    v2 = registry.commit("ds", path, message="v2", settings=small_shards)
    assert v2.splits["train"].reused_rows > 0 and snapshot_of(registry, "ds").num_runs > 50
    again = registry.commit("ds", path, message="v2 again", settings=small_shards)
    assert again.unchanged and again.id == v2.id
    # and when the snapshot was compacted as it was committed
    score = edited["score"].to_numpy().copy()
    score[::3] = -1.0
    path = write(tmp_path / "v3.parquet", edited.set_column(2, "score", pa.array(score)))
    v3 = registry.commit("ds", path, message="v3", settings=small_shards)
    assert v3.compacted == ("train",)
    again = registry.commit("ds", path, message="v3 again", settings=small_shards)
    assert again.unchanged and again.id == v3.id


def test_a_one_byte_edit_is_read_but_a_touch_or_a_copy_is_not(registry, tmp_path, reads):
    path = write(tmp_path / "data.csv", flat_table(3000))
    first = registry.commit("ds", path, message="v1")
    os.utime(path, (1, 1))                                   # another time, the same bytes
    copy = tmp_path / "elsewhere" / "copy.csv"
    copy.parent.mkdir()
    copy.write_bytes(path.read_bytes())
    reads.clear()
    assert registry.commit("ds", path, message="m").unchanged
    assert registry.commit("ds", copy, message="m").unchanged
    assert reads == []
    text = bytearray(path.read_bytes())
    at = text.index(b"\n") + 1                               # the first digit of the first id
    text[at:at + 1] = b"7"
    path.write_bytes(bytes(text))
    r = registry.commit("ds", path, message="edited")
    assert reads == ["data.csv"]
    assert not r.unchanged and r.id != first.id and r.splits["train"].new_rows == 1
    assert tables_equal(registry.load("ds").replace_schema_metadata(None), pcsv.read_csv(path))


def test_a_moved_folder_hits_but_files_read_in_another_order_do_not(registry, tmp_path, reads):
    t = flat_table(6000)
    folder = tmp_path / "parts"
    folder.mkdir()
    parts = [t.slice(0, 1000), t.slice(1000, 2000), t.slice(3000)]
    for k, part in enumerate(parts):
        write(folder / f"part-{k}.parquet", part)
    first = registry.commit("ds", folder, message="v1")
    moved = tmp_path / "moved" / "renamed"
    moved.parent.mkdir()
    folder.rename(moved)
    reads.clear()
    r = registry.commit("ds", moved, message="moved")
    assert reads == [] and r.unchanged and r.id == first.id
    (moved / "part-0.parquet").rename(moved / "part-9.parquet")     # same bytes, now read last
    r2 = registry.commit("ds", moved, message="reordered")
    assert reads == ["part-1.parquet", "part-2.parquet", "part-9.parquet"]
    assert not r2.unchanged and r2.splits["train"].new_rows == 0
    want = pa.concat_tables([parts[1], parts[2], parts[0]])
    assert tables_equal(registry.load("ds").replace_schema_metadata(None), want)


def test_the_same_bytes_under_another_format_are_read(registry, tmp_path, reads):
    """A suffix picks the reader, so it is part of what the digest covers."""
    (tmp_path / "x.csv").write_bytes(b"a\tb\n1\t2\n")
    (tmp_path / "x.tsv").write_bytes(b"a\tb\n1\t2\n")
    registry.commit("ds", tmp_path / "x.csv", message="one column")
    assert registry.load("ds").column_names == ["a\tb"]
    reads.clear()
    r = registry.commit("ds", tmp_path / "x.tsv", message="two columns")
    assert reads == ["x.tsv"] and not r.unchanged
    assert registry.load("ds").column_names == ["a", "b"]


def test_another_split_or_a_branch_holding_other_rows_is_read(registry, tmp_path, reads):
    a = write(tmp_path / "a.parquet", flat_table(3000))
    b = write(tmp_path / "b.parquet", flat_table(3000, seed=1))
    registry.commit("ds", {"train": a}, message="a")
    reads.clear()
    r = registry.commit("ds", {"test": a}, message="a as test")     # test had no snapshot to reuse
    assert reads == ["a.parquet"]
    assert r.splits["test"] == SplitResult(rows=3000, new_rows=0, reused_rows=3000, new_bytes=0)
    reads.clear()
    assert registry.commit("ds", {"test": a}, message="again").unchanged and reads == []
    # a branch whose head holds other rows for train: a must be read there
    registry.commit("ds", {"train": b}, message="b", branch="other")
    reads.clear()
    r = registry.commit("ds", {"train": a}, message="a on other", branch="other")
    assert reads == ["a.parquet"] and not r.unchanged
    assert split_id(registry, "ds@other") == split_id(registry, "ds@main")
    assert tables_equal(registry.load("ds@other").replace_schema_metadata(None), pq.read_table(a))
    reads.clear()
    assert registry.commit("ds", {"train": a}, message="again", branch="other").unchanged and reads == []
    # a version of another dataset as --base takes the shortcut only where it holds the snapshot
    assert registry.commit("copy", {"train": a}, message="m", base="ds@main").splits["train"].new_rows == 0
    assert reads == []
    assert split_id(registry, "copy") == split_id(registry, "ds@main")


def test_tables_and_appends_never_take_the_shortcut(registry, tmp_path, reads):
    path = write(tmp_path / "data.parquet", flat_table(2000))
    registry.commit("ds", path, message="m")
    cached = input_cache(registry)
    reads.clear()
    r = registry.commit("ds", path, message="twice", append=True)
    assert reads == ["data.parquet"] and r.splits["train"].rows == 4000
    registry.commit("t", pq.read_table(path), message="a table")
    assert input_cache(registry) == cached


def test_hashing_reports_progress_in_bytes(registry, tmp_path):
    from dsreg.progress import Progress
    path = write(tmp_path / "data.parquet", flat_table(2000))

    class Recorder(Progress):
        def __init__(self):
            self.events = []

        def start(self, label, total, unit="rows"):
            self.events.append([label, total, unit, 0])

        def advance(self, n):
            self.events[-1][3] += n
    rec = Recorder()
    registry.commit("ds", path, message="m", progress=rec)
    # a first commit has no base to take a snapshot from: it hashes while it reads, unshown
    assert [e[0] for e in rec.events] == ["commit train"]
    write(path, flat_table(2000, seed=7))
    rec = Recorder()
    registry.commit("ds", path, message="m", progress=rec)
    assert ["hash train", path.stat().st_size, "bytes", path.stat().st_size] in rec.events
    assert [e[0] for e in rec.events] == ["hash train", "commit train"]


def test_a_file_rewritten_while_it_is_read_is_not_remembered(registry, tmp_path, monkeypatch):
    path = write(tmp_path / "data.csv", flat_table(2000))
    real = dsreg.rows.ingest._read_file

    def rewritten_meanwhile(f, *args):
        yield from real(f, *args)
        write(path, flat_table(2000, seed=5))
    monkeypatch.setattr(dsreg.rows.ingest, "_read_file", rewritten_meanwhile)
    registry.commit("ds", path, message="m")
    assert input_cache(registry) == set()


def test_gc_leaves_no_cache_entry_for_a_snapshot_it_deleted(registry, tmp_path, reads):
    a = write(tmp_path / "a.parquet", flat_table(3000))
    b = write(tmp_path / "b.parquet", flat_table(3000, seed=1))
    registry.commit("ds", a, message="a")
    registry.commit("ds", b, message="b", branch="exp")
    doomed = split_id(registry, "ds@exp")
    assert doomed in {sid for _, sid in input_cache(registry)}
    registry.branch("ds", delete="exp")
    # an entry the manifest's snapshot rows never knew of goes as well
    registry.manifest.add_input_snapshot("0" * 32, "f" * 32)
    registry.gc(grace_seconds=0)
    assert not registry.store.has(doomed)
    live = set(registry.manifest.all_snapshot_ids())
    assert input_cache(registry) and all(sid in live and registry.store.has(sid)
                                         for _, sid in input_cache(registry))
    # b again, on a branch from main: read in full, its snapshot written anew, all there
    reads.clear()
    r = registry.commit("ds", b, message="b again", branch="exp2")
    assert reads == ["b.parquet"] and r.splits["train"].new_rows == 3000
    assert split_id(registry, "ds@exp2") == doomed and registry.store.has(doomed)
    assert tables_equal(registry.load("ds@exp2").replace_schema_metadata(None), pq.read_table(b))
    assert registry.fsck().ok
