"""versions/commit.py: a commit as plan -> build -> record, each step usable on its own."""
from __future__ import annotations

import pyarrow as pa
import pytest

from dsreg.errors import NoRows, SplitNotOnBranch, TagNotBranch, UnknownKeyColumn
from dsreg.rows.shards import ShardReader
from dsreg.store.staged import staged
from dsreg.versions import commit as steps
from helpers.tables import make_table


def _store_files(reg) -> set[str]:
    return {str(p.relative_to(reg.dir)) for p in reg.dir.rglob("*") if p.is_file() and "tmp" not in p.parts}


def test_plan_resolves_parent_base_and_a_new_branch(registry):
    first = registry.commit("ds", make_table(100), message="one")
    plan = steps.plan_commit(registry, "ds", {"train": make_table(50, seed=2)}, "two", branch="dev")
    # a new branch starts from main's head, and its ref must not exist when it moves
    assert (plan.parent_id, plan.new_branch, plan.branch) == (first.id, True, "dev")
    assert plan.base is plan.parent and [s.name for s in plan.splits] == ["train"]
    on_main = steps.plan_commit(registry, "ds", make_table(10), base=f"ds@{first.id}")
    assert (on_main.parent_id, on_main.new_branch) == (first.id, False)
    assert on_main.base == registry.manifest.commit(first.id)


def test_plan_checks_every_split_before_a_row_is_built(registry, monkeypatch, tmp_path):
    registry.commit("ds", make_table(100))
    built = []
    monkeypatch.setattr(steps, "build_split", lambda *a, **k: built.append(a) or pytest.fail("built"))
    before = _store_files(registry)
    # split "a" is fine, split "b" lacks the key: refused before "a" is read
    with pytest.raises(UnknownKeyColumn) as e:
        registry.commit("ds", {"a": make_table(10), "b": make_table(10).drop_columns(["id"])}, keys=["id"])
    assert (e.value.column, e.value.split) == ("id", "b") and "--" not in str(e.value)
    with pytest.raises(TagNotBranch) as t:
        registry.tag("ds", "v1")
        registry.commit("ds", make_table(10), branch="v1")
    assert (t.value.dataset, t.value.name) == ("ds", "v1")
    with pytest.raises(SplitNotOnBranch) as s:
        registry.commit("ds", {"test": make_table(10)}, append=True)
    assert (s.value.split, s.value.append) == ("test", True) and "append=True" in str(s.value)
    assert built == [] and _store_files(registry) - before == set()


def test_steps_by_hand_make_the_commit_that_commit_makes(registry):
    base = registry.commit("ds", {"train": make_table(300), "test": make_table(50, seed=9)})
    table = make_table(300).slice(0, 280)
    with staged(registry):
        plan = steps.plan_commit(registry, "ds", {"train": table}, "by hand", keys=["id"])
        reader = ShardReader(registry.store, cache_size=3)
        built = [steps.build_split(registry, plan, s, reader) for s in plan.splits]
        # all rows are reused from the base: nothing new but the snapshot
        assert [(b.name, b.result.rows, b.result.new_rows, b.result.reused_rows) for b in built] == \
            [("train", 280, 0, 280)]
        result = steps.record_commit(registry, plan, built)
    head = registry.manifest.commit(registry.resolve("ds"))
    assert result.id == registry.resolve("ds") and head.parents == (base.id,)
    assert head.metadata["keys"] == ["id"] and head.message == "by hand"
    assert head.splits["test"] == registry.manifest.commit(base.id).splits["test"]    # carried over
    assert registry.load("ds").replace_schema_metadata(None).equals(table)


def test_record_of_no_change_moves_nothing(registry):
    first = registry.commit("ds", make_table(100))
    again = registry.commit("ds", make_table(100))
    assert again.unchanged and again.id == first.id
    assert [e.id for e in registry.log("ds")] == [first.id]


def test_no_rows_names_the_split_and_the_files(registry, tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("a,b\n")
    with pytest.raises(NoRows) as e:
        registry.commit("ds", {"test": str(empty)}, empty_files=False)
    assert (e.value.split, e.value.files) == ("test", [str(empty)])
    assert "empty_files=True" in str(e.value) and "--" not in str(e.value)
    assert registry.commit("ds", {"test": str(empty)}).splits["test"].rows == 0    # the API's default
    assert isinstance(registry.load("ds", split="test"), pa.Table)
