"""Typed boundaries: verbs and manifest rows return frozen dataclasses, and their --json
shapes (keys and key order) are the contract's, rendered by one `to_json`."""
from __future__ import annotations

import dataclasses
import json

import pytest

from dsreg.cli.assignments import parse_assignments
from dsreg.jsonvalues import JsonFields
from dsreg.manifest.rows import RemoteInfo, SnapshotInfo
from dsreg.versions.describe import ColumnInfo, VersionInfo
from dsreg.versions.refs import CreatedRef, DatasetRefs, DeletedRef
from helpers.cli import run
from helpers.tables import make_table


@dataclasses.dataclass(frozen=True)
class _Inner(JsonFields):
    a: int

    def to_json(self) -> dict:
        return {"renamed": self.a}


@dataclasses.dataclass(frozen=True)
class _Outer(JsonFields):
    _json_skip = ("hidden",)
    _json_optional = ("maybe",)

    name: str
    parts: tuple[int, ...]
    inner: _Inner
    plain: SnapshotInfo
    nested: dict[str, tuple[_Inner, ...]]
    maybe: str | None = None
    hidden: int = 0


def test_to_json_keeps_field_order_and_lets_values_render_themselves():
    value = _Outer("x", (1, 2), _Inner(3), SnapshotInfo(1, 2, 3, 4), {"k": (_Inner(5),)}, hidden=9)
    doc = value.to_json()
    assert list(doc) == ["name", "parts", "inner", "plain", "nested"]       # skipped, and None left out
    assert doc == {"name": "x", "parts": [1, 2], "inner": {"renamed": 3},
                   "plain": {"rows": 1, "bytes": 2, "shards": 3, "runs": 4}, "nested": {"k": [{"renamed": 5}]}}
    assert dataclasses.replace(value, maybe="y").to_json()["maybe"] == "y"


def test_verbs_return_frozen_values(registry):
    registry.commit("ds", make_table(5), message="one")
    head = registry.resolve("ds")
    shown = registry.show("ds")
    assert isinstance(shown, VersionInfo) and shown.id == head and shown.parents == ()
    assert shown.splits["train"].rows == 5 and shown.schema["train"][0] == ColumnInfo("id", "int64")
    assert registry.tag("ds", "v1") == CreatedRef("v1", head)
    assert registry.datasets() == [DatasetRefs("ds", {"main": head}, {"v1": head})]
    assert registry.tag("ds", delete="v1") == DeletedRef("v1", head)
    with pytest.raises(dataclasses.FrozenInstanceError):
        shown.message = "changed"       # type: ignore[misc]


def test_show_ls_and_ref_json_shapes_are_the_contract(registry):
    run("commit", "ds", "-m", "first", f"train={_parquet(registry)}")
    show = json.loads(run("show", "ds", "--json").stdout)
    assert list(show) == ["id", "dataset", "parents", "message", "author", "timestamp", "splits", "schema",
                          "metadata"]
    assert list(show["splits"]["train"]) == ["rows", "bytes", "shards", "runs"]
    assert show["schema"]["train"][0] == {"name": "id", "type": "int64"} and show["parents"] == []
    created = json.loads(run("branch", "ds", "dev", "--json").stdout)
    assert created == {"name": "dev", "commit": show["id"]}
    assert json.loads(run("branch", "ds", "--json").stdout) == {"dev": show["id"], "main": show["id"]}
    assert json.loads(run("ls", "--json").stdout) == [
        {"name": "ds", "branches": {"dev": show["id"], "main": show["id"]}, "tags": {}}]
    assert json.loads(run("branch", "ds", "-d", "dev", "--json").stdout) == {"deleted": "dev", "was": show["id"]}


def test_remote_rows_say_whether_conditional_writes_were_probed(registry, tmp_path):
    folder = tmp_path / "remote"
    folder.mkdir()
    run("remote", "add", "origin", f"file://{folder}")
    assert registry.manifest.remote("origin") == RemoteInfo("origin", f"file://{folder}", None, True)
    doc = json.loads(run("remote", "list", "--json").stdout)
    assert doc == [{"name": "origin", "url": f"file://{folder}", "endpoint_url": None, "conditional_writes": True}]


def test_card_fields_read_a_value_from_a_file(tmp_path):
    # `Path` was never imported there: every --set KEY=@FILE failed with a NameError
    (tmp_path / "about.md").write_text("A dataset.\n", encoding="utf-8")
    assert parse_assignments(["description=@about.md"], base=tmp_path) == {"description": "A dataset."}


def _parquet(registry):
    import pyarrow.parquet as pq
    path = registry.root / "t.parquet"
    pq.write_table(make_table(4), path)
    return path
