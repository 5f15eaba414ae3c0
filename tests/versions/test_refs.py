"""versions/refs.py: branches and tags, listed, created, moved with force, deleted."""
from __future__ import annotations

import pytest

from dsreg.errors import CreateAndDelete, RefAlreadyExists, UnknownDataset, UsageError
from dsreg.versions import refs
from helpers.tables import make_table


def test_create_list_move_delete(registry):
    one = registry.commit("ds", make_table(10)).id
    two = registry.commit("ds", make_table(20)).id
    assert refs.create_ref(registry, "tag", "ds", "v1", one[:8]) == refs.CreatedRef("v1", one)
    assert refs.create_ref(registry, "branch", "ds", "dev", "v1").to_json() == {"name": "dev", "commit": one}
    assert refs.list_refs(registry, "branch", "ds") == {"dev": one, "main": two}
    with pytest.raises(RefAlreadyExists) as e:
        refs.create_ref(registry, "tag", "ds", "v1", "main")
    assert (e.value.kind, e.value.dataset, e.value.name, e.value.commit) == ("tag", "ds", "v1", one)
    assert "force=True" in str(e.value) and "--" not in str(e.value)
    assert refs.create_ref(registry, "tag", "ds", "v1", "main", force=True).commit == two
    assert refs.delete_ref(registry, "branch", "ds", "dev").to_json() == {"deleted": "dev", "was": one}
    assert refs.datasets(registry) == [refs.DatasetRefs("ds", branches={"main": two}, tags={"v1": two})]
    # every move is in the reflog
    assert [(e.old, e.new, e.message) for e in registry.manifest.reflog("ds", "tag:v1")] == \
        [(one, two, "tag: create from main"), (None, one, f"tag: create from {one[:8]}")]


def test_refusals(registry):
    registry.commit("ds", make_table(10))
    with pytest.raises(UnknownDataset):
        refs.ref_verb(registry, "branch", "nope", "x", delete="y")     # the dataset is checked first
    with pytest.raises(CreateAndDelete) as e:
        refs.ref_verb(registry, "branch", "ds", "x", delete="y")
    assert e.value.kind == "branch" and "-d" not in str(e.value)
    with pytest.raises(UsageError, match="main branch cannot be deleted"):
        refs.delete_ref(registry, "branch", "ds", "main")
    with pytest.raises(UsageError, match="cannot point into dataset 'other'"):
        refs.create_ref(registry, "tag", "ds", "v1", "other@main")
