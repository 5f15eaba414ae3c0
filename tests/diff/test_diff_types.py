"""Diff across a column's type change: old values are compared as the new type where they
convert exactly, columns that cannot convert are left out and said so; which keys a diff
used; `rows_truncated` only when rows were asked for."""
from __future__ import annotations

import pyarrow as pa
import pytest

from dsreg.diff.compare import render
from dsreg.errors import UsageError
from helpers.cli import run, run_json


def counts(result, split: str = "train") -> tuple[int, int, int, int]:
    s = result.splits[split]
    return s.added, s.removed, s.modified, s.unchanged


def table(x: pa.Array, **more) -> pa.Table:
    return pa.table({"id": pa.array(range(len(x)), pa.int64()), "x": x, **more})


def test_an_edit_in_a_retyped_column_is_a_change(registry):
    """The audit's case: int32 -> int64 with one value edited."""
    registry.commit("tc", table(pa.array([10, 20, 30, 40, 50], pa.int32())))
    registry.commit("tc", table(pa.array([10, 20, 999, 40, 50], pa.int64())))
    keyed = registry.diff("tc", keys=["id"], rows=True)
    assert counts(keyed) == (0, 0, 1, 4)
    (row,) = keyed.rows
    assert row.op == "modified" and row.key == {"id": 2} and row.changes == {"x": (30, 999)}
    plain = registry.diff("tc", rows=True)
    assert counts(plain) == (1, 1, 0, 4)
    assert [(r.op, r.row) for r in plain.rows] == [("removed", {"id": 2, "x": 30}), ("added", {"id": 2, "x": 999})]
    out = run("diff", "tc", "--rows", "--key", "id").stdout
    assert "train: +0 -0 ~1 =4" in out and "~ id=2: x 30 -> 999" in out


def test_string_to_large_string_compares_text(registry):
    """Parquet `string` then pandas-3 `large_string`, one text edited."""
    texts = ["good", "bad", "great", None, "slow"]
    registry.commit("tc", table(pa.array(texts)))
    edited = texts[:2] + ["GREAT"] + texts[3:]
    registry.commit("tc", table(pa.array(edited, pa.large_string())))
    result = registry.diff("tc", keys=["id"], rows=True)
    assert counts(result) == (0, 0, 1, 4)
    assert result.rows[0].changes == {"x": ("great", "GREAT")}
    assert result.to_json()["schema"]["changed"] == [{"name": "x", "from": "string", "to": "large_string"}]


@pytest.mark.parametrize("old, new, changed", [
    # values that do not survive the conversion differ from every new value
    (pa.array([1, 2**40, 3, None], pa.int64()), pa.array([1, 0, 3, None], pa.int32()), [1]),
    (pa.array([0.5, 0.1, 2.0]), pa.array([0.5, 0.1, 2.0], pa.float32()), [1]),
    (pa.array(["10", "010", "x", None]), pa.array([10, 10, None, None]), [1, 2]),
    (pa.array([f"t{i}" for i in range(5000)]), pa.array(range(5000)), list(range(5000))),
    (pa.array([b"a", b"\xff", b"c"]), pa.array(["a", "\ufffd", "C"]), [1, 2]),
    (pa.array([1.5, 2.0, float("nan")]), pa.array([1, 2, None]), [0, 2]),
    (pa.array([1, 2, 3], pa.timestamp("ns")), pa.array([0, 0, 0], pa.timestamp("s")), [0, 1, 2]),
    (pa.array([{"a": 1}, {"a": None}]), pa.array([{"b": None}, {"b": None}], pa.struct([("b", pa.int64())])), [0]),
    # lists convert value by value (linear in the values, however many fail)
    (pa.array([["1", "2"], ["x"], None, [], ["3", None]]), pa.array([[1, 2], [0], None, [], [3, None]]), [1]),
    (pa.array([["a", str(i)] for i in range(3000)]), pa.array([[0, i] for i in range(3000)]), list(range(3000))),
    # and those that do compare equal
    (pa.array(["pos", "neg", "pos"]).dictionary_encode(), pa.array(["pos", "neg", "neg"], pa.large_string()), [2]),
    (pa.array([1, 2, None], pa.int8()), pa.array(["1", "2", None]), []),
])
def test_values_compare_where_they_convert_exactly(registry, old, new, changed):
    registry.commit("tc", table(old))
    registry.commit("tc", table(new))
    n = len(old)
    result = registry.diff("tc", keys=["id"], rows=True)
    assert counts(result) == (0, 0, len(changed), n - len(changed))
    assert sorted(r.key["id"] for r in result.rows) == changed
    assert result.to_json()["schema"]["not_compared"] == []
    assert counts(registry.diff("tc")) == (len(changed), len(changed), 0, n - len(changed))


def test_a_column_that_cannot_convert_is_not_compared_and_said_so(registry):
    registry.commit("tc", table(pa.array([1, 2, 3]), y=pa.array(["a", "b", "c"])))
    registry.commit("tc", table(pa.array([[1], [5], [3]]), y=pa.array(["a", "b", "C"])))
    result = registry.diff("tc", keys=["id"], rows=True)
    # rows compare on the other columns: only y's edit shows
    assert counts(result) == (0, 0, 1, 2)
    assert result.rows[0].changes == {"y": ("c", "C")}
    j = result.to_json()
    assert j["schema"]["not_compared"] == ["x"] and j["splits"]["train"]["schema"]["not_compared"] == ["x"]
    assert "~ column x: int64 -> list<item: int64> (values not compared)" in render(result)
    assert run_json("diff", "tc")["schema"]["not_compared"] == ["x"]


def test_retyped_keys_pair_rows(registry):
    registry.commit("tc", pa.table({"k": pa.array([3, 1, 2], pa.int32()), "v": ["c", "a", "b"]}), keys=["k"])
    registry.commit("tc", pa.table({"k": pa.array([1, 2, 3, 4], pa.int64()), "v": ["a", "B", "C", "d"]}))
    result = registry.diff("tc", rows=True)
    assert result.keys == ("k",) and counts(result) == (1, 0, 2, 1)
    assert [(r.op, r.key) for r in result.rows] == [("modified", {"k": 2}), ("modified", {"k": 3}),
                                                    ("added", {"k": 4})]


def test_keys_that_cannot_convert(registry):
    registry.commit("tc", pa.table({"k": [1, 2], "v": ["a", "b"]}), keys=["k"])
    registry.commit("tc", pa.table({"k": pa.array([[1], [2]]), "v": ["a", "B"]}))
    with pytest.raises(UsageError, match="'k' of split 'train' changed type"):
        registry.diff("tc", keys=["k"])
    # recorded keys apply only where they can
    result = registry.diff("tc")
    assert result.keys == () and result.splits["train"].keys == () and counts(result) == (1, 1, 0, 1)


def test_json_names_the_keys_used(registry):
    registry.commit("tc", table(pa.array([1, 2, 3])), keys=["id"])
    registry.commit("tc", table(pa.array([1, 5, 3])))
    recorded = registry.diff("tc").to_json()
    assert recorded["keys"] == ["id"] and recorded["splits"]["train"]["keys"] == ["id"]
    assert recorded["splits"]["train"]["modified"] == 1
    off = registry.diff("tc", default_keys=False).to_json()
    assert off["keys"] == [] and off["splits"]["train"]["keys"] == []
    assert (off["splits"]["train"]["added"], off["splits"]["train"]["modified"]) == (1, 0)
    given = registry.diff("tc", keys=["x"], default_keys=False).to_json()
    assert given["keys"] == ["x"] and given["splits"]["train"]["modified"] == 0
    assert run_json("diff", "tc")["keys"] == ["id"]
    # a split both versions share unchanged still says which keys apply to it
    same = registry.diff("tc@main", "tc@main").to_json()
    assert same["keys"] == ["id"] and same["splits"]["train"]["keys"] == ["id"]


def test_rows_truncated_only_when_rows_were_asked_for(registry):
    registry.commit("tc", table(pa.array([1, 2, 3])))
    registry.commit("tc", table(pa.array([4, 5, 6])))
    assert registry.diff("tc").rows_truncated is False
    assert run_json("diff", "tc")["rows_truncated"] is False
    assert registry.diff("tc", limit=1).rows_truncated is True
    assert registry.diff("tc", limit=0).rows_truncated is True          # asked for, none listed
    assert registry.diff("tc", rows=True).rows_truncated is False
    assert run_json("diff", "tc", "--limit", "2")["rows_truncated"] is True
