"""Row-level diff: counts and rows against known edits, schema changes, splits, uncommitted
files, multiset semantics, and the promise of reading only what differs."""
from __future__ import annotations

import collections
import hashlib
import itertools
import json
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dsreg
from dsreg.diff.compare import DiffResult, render
from dsreg.errors import UnknownDataset, UnknownRevision, UsageError
from dsreg.model.objects import get_commit, get_snapshot
from helpers.tables import edit_table, make_table

BIG = 1_000_000
KINDS = ("edit", "delete", "insert", "append")


def ids_of(result: DiffResult, op: str) -> list[int]:
    return sorted(r.row["id"] if r.row is not None else r.key["id"] for r in result.rows if r.op == op)


def counts(result: DiffResult, split: str = "train") -> tuple[int, int, int, int]:
    s = result.splits[split]
    return s.added, s.removed, s.modified, s.unchanged


# -- one 1M-row base and one branch per kind of 1% change, built once ---------------
@pytest.fixture(scope="module")
def big(tmp_path_factory):
    root = tmp_path_factory.mktemp("big")
    reg = dsreg.Registry.init(root)
    table = make_table(BIG)
    reg.commit("big", table, message="base", author="t")
    edits = {}
    for kind in KINDS:
        edits[kind] = edit_table(table, kind)
        reg.commit("big", edits[kind].table, message=kind, branch=kind, author="t")
    yield reg, table, edits
    reg.close()


def test_big_diff_of_a_version_with_itself_is_empty(big):
    reg, _, _ = big
    for spec in ("big@main", "big@edit"):
        result = reg.diff(spec, spec, rows=True)
        assert not result
        assert result.rows == ()
        n = get_snapshot(reg, get_commit(reg, reg.resolve(spec)).splits["train"]).rows
        assert counts(result) == (0, 0, 0, n)


@pytest.mark.parametrize("kind", KINDS)
def test_big_diff_without_keys_reports_exactly_the_changed_rows(big, kind):
    reg, table, edits = big
    e = edits[kind]
    t0 = time.perf_counter()
    stat = reg.diff("big@main", f"big@{kind}")
    elapsed = time.perf_counter() - t0
    print(f"\n[diff] 1M rows, 1% {kind}, no keys, counts only: {elapsed:.3f} s")
    # an edited row is one removed and one added row
    assert counts(stat) == (len(e.added_ids), len(e.removed_ids), 0, BIG - len(e.removed_ids))
    assert stat.splits["train"].status == "changed" and bool(stat)
    listed = reg.diff("big@main", f"big@{kind}", rows=True)
    assert counts(listed) == counts(stat)
    assert ids_of(listed, "added") == sorted(e.added_ids)
    assert ids_of(listed, "removed") == sorted(e.removed_ids)
    assert not listed.rows_truncated
    # listed values are the real rows of each side
    for r in listed.rows[:20]:
        source = table if r.op == "removed" else e.table
        expected = source.slice(r.index, 1).to_pylist()[0]
        assert r.row["id"] == expected["id"] and r.row["score"] == expected["score"]
        assert r.row["text"] == expected["text"]


@pytest.mark.parametrize("kind", KINDS)
def test_big_diff_with_keys_pairs_edits_as_modified(big, kind):
    reg, table, edits = big
    e = edits[kind]
    t0 = time.perf_counter()
    stat = reg.diff("big@main", f"big@{kind}", keys=("id",))
    elapsed = time.perf_counter() - t0
    print(f"\n[diff] 1M rows, 1% {kind}, --key id, counts only: {elapsed:.3f} s")
    modified = len(e.modified_ids)
    added, removed = len(e.added_ids) - modified, len(e.removed_ids) - modified
    assert counts(stat) == (added, removed, modified, BIG - len(e.removed_ids))
    assert stat.splits["train"].keys == ("id",)

    listed = reg.diff("big@main", f"big@{kind}", keys=("id",), rows=True)
    assert ids_of(listed, "modified") == sorted(e.modified_ids)
    assert ids_of(listed, "added") == sorted(set(e.added_ids) - set(e.modified_ids))
    assert ids_of(listed, "removed") == sorted(set(e.removed_ids) - set(e.modified_ids))
    if kind == "edit":
        old_score = table["score"].to_numpy()
        new_score = e.table["score"].to_numpy()
        mods = [r for r in listed.rows if r.op == "modified"]
        assert [r.key["id"] for r in mods] == sorted(e.modified_ids)     # listed in key order
        for r in mods[:: len(mods) // 7]:
            i = r.key["id"]
            assert r.changes == {"score": (old_score[i], new_score[i])}
            assert new_score[i] < -1 <= old_score[i] - 1


def test_big_diff_timing_and_reads_only_what_differs(big, monkeypatch):
    """Counting a 1% edit reads fingerprints, never a shard; with keys, it reads only the
    key column of the shards holding changed rows."""
    reg, _, _ = big
    snaps = [get_snapshot(reg, get_commit(reg, reg.resolve(s)).splits["train"]) for s in ("big@main", "big@edit")]
    shard_ids = {ref.id for s in snaps for ref in s.shards}
    fetched: list[str] = []
    real_get = reg.store.get
    monkeypatch.setattr(reg.store, "get", lambda oid: fetched.append(oid) or real_get(oid))
    t0 = time.perf_counter()
    result = reg.diff("big@main", "big@edit")
    elapsed = time.perf_counter() - t0
    print(f"\n[diff] 1M rows, 1% edit (counts, no keys): {elapsed:.3f} s, runs {snaps[0].num_runs} vs "
          f"{snaps[1].num_runs}, objects read {len(fetched)}")
    assert result.splits["train"].removed == BIG // 100
    assert not shard_ids & set(fetched), "a counts-only diff must not read shards"
    fp_bytes = sum(len(real_get(o)) for o in set(fetched))
    assert fp_bytes < 8 * 2 * BIG + (1 << 20)       # fingerprints, and the snapshots


# -- small tables ------------------------------------------------------------------
def small(n: int = 2000, seed: int = 0) -> pa.Table:
    return make_table(n, seed=seed)


def test_diff_of_a_version_with_itself_is_empty(registry):
    registry.commit("ds", {"train": small(), "test": small(300, seed=3)})
    result = registry.diff("ds", "ds@main", keys=("id",), rows=True)
    assert not result
    assert result.stats == {"added": 0, "removed": 0, "modified": 0, "unchanged": 2300}
    assert render(result).endswith("no changes\n")


def test_one_argument_diffs_against_the_first_parent(registry):
    t = small()
    first = registry.commit("ds", t, message="first").id
    e = edit_table(t, "delete", fraction=0.05)
    second = registry.commit("ds", e.table, message="second").id
    one = registry.diff("ds@main")
    two = registry.diff(f"ds@{first[:8]}", f"ds@{second[:8]}")
    assert one.to_json()["splits"] == two.to_json()["splits"]
    assert (one.from_id, one.to_id) == (first, second)
    assert counts(one) == (0, 100, 0, 1900)
    # the first commit has no parent: everything is added
    initial = registry.diff("ds@main~1", limit=3)
    assert initial.from_id is None and initial.to_id == first
    assert initial.splits_added == ["train"]
    assert counts(initial) == (2000, 0, 0, 0)
    assert [r.row["id"] for r in initial.rows] == [0, 1, 2] and initial.rows_truncated
    # "@REV" names another revision of the same dataset
    assert registry.diff("ds@main~1", "@main").to_json()["splits"] == two.to_json()["splits"]


def test_default_keys_come_from_the_commit(registry):
    t = small()
    registry.commit("ds", t, keys=["id"])
    e = edit_table(t, "edit")
    registry.commit("ds", e.table)          # keys carry over in the commit metadata
    result = registry.diff("ds@main~1", "ds@main")
    assert counts(result) == (0, 0, 20, 1980)
    assert result.splits["train"].keys == ("id",)
    plain = registry.diff("ds@main~1", "ds@main", default_keys=False)
    assert counts(plain) == (20, 20, 0, 1980)


def test_schema_changes_are_reported_and_rows_compared_on_common_columns(registry):
    t = small()
    registry.commit("ds", t)
    e = edit_table(t, "edit")
    # the retyped column also has edits: 5 in rows whose score changed, 5 in others
    both, only = e.modified_ids[:5], [i for i in range(t.num_rows) if i not in e.modified_ids][:5]
    count = t["count"].to_numpy().copy()
    count[both + only] += 1
    retyped = e.table.set_column(1, "count", pa.array(count).cast(pa.int32()))
    variants = {
        "add": (e.table.append_column("extra", pa.array(np.zeros(t.num_rows))),
                {"added": [{"name": "extra", "type": "double"}], "removed": [], "changed": []}),
        "drop": (e.table.drop_columns(["label"]),
                 {"added": [], "removed": [{"name": "label", "type": "string"}], "changed": []}),
        "retype": (retyped,
                   {"added": [], "removed": [], "changed": [{"name": "count", "from": "int64", "to": "int32"}]}),
        "reorder": (e.table.select(["score", "id", "count", "label", "text", "embedding"]),
                    {"added": [], "removed": [], "changed": []}),
    }
    for name, (table, expected) in variants.items():
        registry.commit("ds", table, branch=name)
        result = registry.diff("ds@main", f"ds@{name}")
        schema = result.to_json()["schema"]
        assert {k: schema[k] for k in expected} == expected, name
        assert schema["reordered"] == (name == "reorder")
        assert schema["not_compared"] == []           # int64 -> int32 compares as int32 values
        assert result.splits["train"].schema.to_json() == schema
        # the 1% edit shows through whatever the schema did, and so do edits of a retyped column
        extra = len(only) if name == "retype" else 0
        assert counts(result) == (20 + extra, 20 + extra, 0, 1980 - extra), name
        keyed = registry.diff("ds@main", f"ds@{name}", keys=["id"], rows=True)
        assert counts(keyed) == (0, 0, 20 + extra, 1980 - extra), name
        assert ids_of(keyed, "modified") == sorted(e.modified_ids + (only if name == "retype" else []))
        changed = {r.key["id"]: r.changes for r in keyed.rows}
        for i, ch in changed.items():
            cols = {"score"} if i in e.modified_ids else set()
            if name == "retype" and i in both + only:
                cols.add("count")
                assert ch["count"] == (int(t["count"][i].as_py()), int(count[i]))
            assert set(ch) == cols, (name, i)
    text = render(registry.diff("ds@main", "ds@retype"))
    assert "~ column count: int64 -> int32\n" in text and "train: +25 -25 ~0 =1975" in text
    assert "+ column extra: double" in render(registry.diff("ds@main", "ds@add"))
    assert "- column label" in render(registry.diff("ds@main", "ds@drop"), schema_only=True)
    # a schema change alone is a change, with every row unchanged
    registry.commit("ds", t.append_column("extra", pa.array(np.ones(t.num_rows))), branch="only-schema")
    only_schema = registry.diff("ds@main", "ds@only-schema")
    assert bool(only_schema) and counts(only_schema) == (0, 0, 0, 2000)
    # and so is a type change whose values all convert exactly
    registry.commit("ds", t.set_column(1, "count", t["count"].cast(pa.int32())), branch="only-type")
    assert counts(registry.diff("ds@main", "ds@only-type")) == (0, 0, 0, 2000)


def test_schema_change_fingerprints_stream_not_load(registry, monkeypatch):
    """With a type change, rows are fingerprinted again batch by batch, never read whole,
    and the retyped column's values are compared."""
    t = small(20_000)
    registry.commit("ds", t)
    count = t["count"].to_numpy().copy()
    count[[7, 15_000, 19_999]] = 5000
    registry.commit("ds", t.set_column(1, "count", pa.array(count, pa.int32())), branch="retype")
    import dsreg.diff.compare as diff_module
    real = diff_module.iter_snapshot
    sizes = []
    monkeypatch.setattr(diff_module, "iter_snapshot",
                        lambda *a, **kw: (sizes.append(x.num_rows) or x for x in real(*a, **kw)))
    result = registry.diff("ds@main", "ds@retype", keys=("id",), rows=True)
    assert counts(result) == (0, 0, 3, 19_997)
    assert [r.key["id"] for r in result.rows] == [7, 15_000, 19_999]
    assert sizes and max(sizes) <= 1 << 17
    assert counts(registry.diff("ds@main", "ds@retype")) == (3, 3, 0, 19_997)


def test_split_added_and_dropped(registry):
    registry.commit("ds", {"train": small(), "test": small(300, seed=5)})
    registry.commit("ds", {"valid": small(100, seed=6)}, drop_splits=["test"])
    result = registry.diff("ds@main~1", "ds@main", limit=5)
    j = result.to_json()
    assert j["splits_added"] == ["valid"] and j["splits_removed"] == ["test"]
    assert j["splits"]["valid"]["added"] == 100 and j["splits"]["test"]["removed"] == 300
    assert j["splits"]["train"] == {**j["splits"]["train"], "added": 0, "removed": 0, "unchanged": 2000}
    assert j["schema"] == {"added": [], "removed": [], "changed": [], "reordered": False, "not_compared": []}
    assert len(j["rows"]) == 5 and {r["split"] for r in j["rows"]} == {"test"}
    assert [r["op"] for r in j["rows"]] == ["removed"] * 5
    text = render(result)
    assert "test (dropped split): +0 -300 ~0 =0" in text and "valid (new split): +100 -0 ~0 =0" in text


def test_limit_and_rows(registry):
    t = small()
    registry.commit("ds", t)
    registry.commit("ds", edit_table(t, "edit", fraction=0.05).table)
    assert registry.diff("ds@main~1", "ds@main").rows == ()
    limited = registry.diff("ds@main~1", "ds@main", limit=7)
    assert len(limited.rows) == 7 and limited.rows_truncated
    assert counts(limited) == (100, 100, 0, 1900)           # counts never depend on the limit
    assert registry.diff("ds@main~1", "ds@main", limit=0).rows == ()
    everything = registry.diff("ds@main~1", "ds@main", rows=True)
    assert len(everything.rows) == 200 and not everything.rows_truncated
    # without keys, each removed row comes right before the row added in its place
    ops = [r.op for r in everything.rows]
    assert ops == ["removed", "added"] * 100
    keyed = registry.diff("ds@main~1", "ds@main", keys=["id"], limit=3)
    assert len(keyed.rows) == 3 and all(r.op == "modified" for r in keyed.rows)
    text = render(keyed)
    assert text.count("\n  ~ id=") == 3 and "more rows changed" in text
    assert render(keyed, stat=True).count("\n") == 3      # header, header, counts


def test_to_json_shape(registry):
    t = small()
    registry.commit("ds", t)
    registry.commit("ds", edit_table(t, "edit").table.append_column("x", pa.array(np.arange(2000))))
    j = registry.diff("ds@main~1", "ds@main", keys=["id"], limit=2).to_json()
    json.dumps(j)                                   # JSON-safe all through
    assert {"schema", "splits", "rows", "from", "to"} <= set(j)
    assert set(j["schema"]) >= {"added", "removed", "changed"}
    assert set(j["splits"]["train"]) >= {"added", "removed", "modified", "unchanged"}
    row = j["rows"][0]
    assert row["op"] == "modified" and row["split"] == "train" and set(row["key"]) == {"id"}
    assert list(row["changes"]) == ["score"] and len(row["changes"]["score"]) == 2
    plain = registry.diff("ds@main~1", "ds@main", limit=2).to_json()["rows"]
    assert [r["op"] for r in plain] == ["removed", "added"]
    assert set(plain[1]["row"]) == {"id", "count", "score", "label", "text", "embedding", "x"}
    assert isinstance(plain[1]["row"]["embedding"], list)


def test_types_parquet_and_arrow_treat_specially(registry):
    """NaNs compare by bit pattern, view types are read in a form `take` supports, and a
    dictionary-encoded column compares by value with its decoded form."""
    n = 40
    t = pa.table({
        "id": pa.array([f"k{i}" for i in range(n)], pa.string_view()),
        "label": pa.array(["a", "b"] * (n // 2)).dictionary_encode(),
        "at": pa.array(range(n), pa.time32("s")),
        "f": pa.array([float("nan") if i % 7 == 0 else i / 2 for i in range(n)]),
        "nested": pa.array([{"x": i, "y": [i, None]} for i in range(n)]),
        "m": pa.array([[(str(i), i)] for i in range(n)], pa.map_(pa.string(), pa.int64())),
    })
    registry.commit("ds", t)
    edited = t.set_column(3, "f", pa.array([-1.0 if i == 5 else v for i, v in enumerate(t["f"].to_pylist())]))
    edited = edited.set_column(1, "label", pa.array(["a", "b"] * (n // 2)))
    registry.commit("ds", edited.slice(1))
    result = registry.diff("ds@main~1", "ds@main", keys=["id"], rows=True)
    assert counts(result) == (0, 1, 1, 38)
    assert [c["name"] for c in result.to_json()["schema"]["changed"]] == ["label"]
    modified, removed = sorted(result.rows, key=lambda r: r.op)
    assert removed.row == {"id": "k0", "label": "a", "at": "00:00:00", "f": "nan",
                           "nested": {"x": 0, "y": [0, None]}, "m": [["0", 0]]}
    assert modified.key == {"id": "k5"} and modified.changes == {"f": (2.5, -1.0)}
    assert not registry.diff("ds@main~1", "ds@main~1", rows=True)


# -- uncommitted files ---------------------------------------------------------------
def registry_state(reg) -> dict[str, str]:
    out = {}
    for p in sorted(reg.dir.rglob("*")):
        if p.is_file() and not p.name.endswith(("-wal", "-shm")):
            out[str(p.relative_to(reg.dir))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def test_diff_against_parquet_files_leaves_the_registry_unchanged(registry, tmp_path):
    t = small(5000)
    registry.commit("ds", {"train": t, "test": small(100, seed=9)})
    before = registry_state(registry)
    e = edit_table(t, "edit")
    path = tmp_path / "edited.parquet"
    pq.write_table(e.table.append_column("new", pa.array(np.arange(5000))), path)
    result = registry.diff("ds@main", paths={"train": [str(path)]}, keys=["id"], rows=True)
    assert counts(result) == (0, 0, 50, 4950)
    assert counts(result, "test") == (0, 0, 0, 100)           # splits not named keep A's content
    assert result.to_id is None and str(path) in result.to_spec
    assert [c["name"] for c in result.to_json()["schema"]["added"]] == ["new"]
    assert ids_of(result, "modified") == sorted(e.modified_ids)
    # a file equal to the committed rows shows no change, schema included
    same = tmp_path / "same.parquet"
    pq.write_table(t, same)
    assert not registry.diff("ds@main", paths={"train": [str(same)]})
    # a new split from files: everything added
    assert counts(registry.diff("ds@main", paths={"valid": [str(same)]}), "valid") == (5000, 0, 0, 0)
    assert registry_state(registry) == before
    assert list(registry.tmp_dir.iterdir()) == []


def test_diff_against_csv_files(registry, tmp_path):
    t = small(3000).select(["id", "count", "score", "label", "text"])
    original = tmp_path / "v1.csv"
    pcsv.write_csv(t, original)
    registry.commit("ds", str(original))
    before = registry_state(registry)
    e = edit_table(t, "delete")
    edited = tmp_path / "v2" / "part.csv"
    edited.parent.mkdir()
    pcsv.write_csv(e.table, edited)
    result = registry.diff("ds@main", paths={"train": [str(edited.parent)]}, rows=True)
    assert counts(result) == (0, 30, 0, 2970)
    assert ids_of(result, "removed") == sorted(e.removed_ids)
    assert registry_state(registry) == before
    assert list(registry.tmp_dir.iterdir()) == []


# -- multiset semantics ----------------------------------------------------------------
def rows_table(values: list[tuple[int, str]]) -> pa.Table:
    return pa.table({"k": pa.array([v[0] for v in values], pa.int64()),
                     "v": pa.array([v[1] for v in values], pa.string())})


def expected_counts(old, new, keyed: bool):
    a, b = collections.Counter(old), collections.Counter(new)
    unchanged = sum((a & b).values())
    removed, added = a - b, b - a
    modified = 0
    if keyed:
        ka = collections.Counter(k for k, _ in removed.elements())
        kb = collections.Counter(k for k, _ in added.elements())
        modified = sum((ka & kb).values())
    return sum(added.values()) - modified, sum(removed.values()) - modified, modified, unchanged


def test_duplicate_rows_count_as_a_multiset(registry):
    x, y, z = (1, "x"), (2, "y"), (3, "z")
    registry.commit("ds", rows_table([x, x, y]))
    registry.commit("ds", rows_table([x, y, y, z]))
    result = registry.diff("ds@main~1", "ds@main", rows=True)
    assert counts(result) == (2, 1, 0, 2)
    assert sorted((r.op, r.row["k"]) for r in result.rows) == [("added", 2), ("added", 3), ("removed", 1)]
    # the same rows in a dataset committed on its own share no shard: fingerprints decide
    registry.commit("other", rows_table([y, x, y, z]))
    assert counts(registry.diff("ds@main~1", "other@main")) == (2, 1, 0, 2)
    registry.commit("ds", rows_table([x, x, x, x]))
    assert counts(registry.diff("ds@main~2", "ds@main")) == (2, 1, 0, 2)


_ROW = st.tuples(st.integers(0, 4), st.sampled_from("abc"))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(old=st.lists(_ROW, max_size=25), new=st.lists(_ROW, max_size=25), keyed=st.booleans(),
       shared_base=st.booleans())
def test_counts_match_a_multiset_model(tmp_path_factory, old, new, keyed, shared_base):
    reg = _property_registry(tmp_path_factory)
    name = f"p{next(_counter)}"
    reg.commit(name, rows_table(old), author="t", allow_empty=True)
    if shared_base:       # built from the old version: shares its shards
        reg.commit(name, rows_table(new), author="t", allow_empty=True)
        a, b = f"{name}@main~1", f"{name}@main"
        if reg.resolve(a) == reg.resolve(b):
            return
    else:                 # built on its own: only fingerprints can match rows
        reg.commit(name + "-b", rows_table(new), author="t")
        a, b = f"{name}@main", f"{name}-b@main"
    result = reg.diff(a, b, keys=("k",) if keyed else (), rows=True)
    assert counts(result) == expected_counts(old, new, keyed)
    listed = collections.Counter(r.op for r in result.rows)
    s = result.splits["train"]
    assert (listed["added"], listed["removed"], listed["modified"]) == (s.added, s.removed, s.modified)
    assert not reg.diff(b, b)


_counter = itertools.count()
_registries: dict[str, dsreg.Registry] = {}


def _property_registry(factory) -> dsreg.Registry:
    if "reg" not in _registries:
        _registries["reg"] = dsreg.Registry.init(factory.mktemp("property"))
    return _registries["reg"]


# -- errors ---------------------------------------------------------------------------
def test_errors(registry, tmp_path):
    registry.commit("ds", small(100))
    with pytest.raises(UsageError) as info:
        registry.diff("ds@main", "ds@main", keys=["nope"])
    assert "nope" in str(info.value) and "columns: id, count, score, label, text, embedding" in str(info.value)
    with pytest.raises(UnknownRevision):
        registry.diff("ds@nosuch")
    with pytest.raises(UnknownRevision):
        registry.diff("ds@main", "ds@main~5")
    with pytest.raises(UnknownDataset):
        registry.diff("ds@main", "other@main")
    with pytest.raises(UsageError):
        registry.diff("ds@main", limit=-1)
    with pytest.raises(UsageError):
        registry.diff("ds@main", "ds@main", paths={"train": [str(tmp_path)]})
    assert isinstance(registry.diff("ds@main"), DiffResult)
    assert Path(registry.tmp_dir).is_dir()
