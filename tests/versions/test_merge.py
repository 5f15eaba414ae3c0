"""Merging branches (versions/merge.py): fast-forward, keyed cell merges, keyless multiset
merges, schema changes, conflicts refused with nothing recorded, strategies and resolve rows."""
from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dsreg.errors import MergeConflict
from dsreg.model.objects import get_commit
from dsreg.rows.settings import RowSettings

SMALL = RowSettings.small() if hasattr(RowSettings, "small") else None


def table(ids, labels, scores=None):
    scores = scores if scores is not None else [float(i) for i in ids]
    return pa.table({"id": pa.array(ids, pa.int64()), "label": pa.array(labels), "score": pa.array(scores)})


def base_table(n=50):
    return table(list(range(n)), [f"l{i}" for i in range(n)])


def edit(t: pa.Table, **changes) -> pa.Table:
    """Rows by id: {id: {col: value}}; value None in place of a dict deletes the row."""
    rows = t.to_pylist()
    out = []
    for r in rows:
        ch = changes.get(f"r{r['id']}", {})
        if ch is None:
            continue
        out.append({**r, **ch})
    return pa.Table.from_pylist(out, schema=t.schema)


def by_id(t: pa.Table) -> dict:
    return {r["id"]: r for r in t.to_pylist()}


@pytest.fixture
def branched(registry):
    t = base_table()
    registry.commit("ds", t, message="base", keys=["id"])
    registry.branch("ds", "feature")
    return registry, t


def test_fast_forward(branched):
    reg, t = branched
    reg.commit("ds", edit(t, r3={"label": "x"}), message="feature edit", branch="feature")
    head = reg.resolve("ds@feature")
    result = reg.merge("ds@feature")
    assert result.fast_forward and result.id == head
    assert reg.resolve("ds@main") == head
    again = reg.merge("ds@feature")
    assert again.up_to_date and again.id == head


def test_keyed_cells_combine(branched):
    reg, t = branched
    main_t = edit(t, r3={"label": "main"}, r5=None)
    reg.commit("ds", main_t, message="main edit")
    feat_t = edit(t, r3={"score": -1.0}, r7={"label": "feat"})
    feat_t = pa.concat_tables([feat_t, table([100], ["new"])])
    reg.commit("ds", feat_t, message="feature edit", branch="feature")
    before = reg.resolve("ds@main")
    result = reg.merge("ds@feature")
    assert not result.fast_forward
    merged = reg.load("ds")
    rows = by_id(merged)
    assert rows[3] == {"id": 3, "label": "main", "score": -1.0}
    assert rows[7]["label"] == "feat"
    assert 5 not in rows and 100 in rows
    assert merged.num_rows == 50
    c = get_commit(reg, result.id)
    assert c.parents == (before, reg.resolve("ds@feature"))
    counts = result.splits["train"]
    assert {k: counts[k] for k in ("added", "removed", "modified", "conflicts")} == \
        {"added": 1, "removed": 0, "modified": 2, "conflicts": 0}
    assert counts["new_rows"] == 1      # row 3 (cells of both sides); rows 7 and 100 are theirs, whole
    # the same change on both sides is no conflict
    log = reg.log("ds")
    assert log[0].id == result.id


def test_conflict_records_nothing(branched, tmp_path):
    reg, t = branched
    reg.commit("ds", edit(t, r3={"label": "main"}, r4=None), message="main edit")
    reg.commit("ds", edit(t, r3={"label": "feat"}, r4={"score": 9.0}), message="feature", branch="feature")
    head = reg.resolve("ds@main")
    with pytest.raises(MergeConflict) as e:
        reg.merge("ds@feature")
    assert reg.resolve("ds@main") == head
    conflicts = e.value.conflicts["train"].to_pylist()
    assert {(c["id"], c["column"]) for c in conflicts} == {(3, "label"), (4, None)}
    cell = next(c for c in conflicts if c["column"] == "label")
    assert (cell["base"], cell["ours"], cell["theirs"]) == ('"l3"', '"main"', '"feat"')
    # ours keeps main's cell and main's delete; theirs takes feature's
    ours = reg.merge("ds@feature", strategy="ours", dry_run=True)
    assert ours.conflict_count == 0 and reg.resolve("ds@main") == head
    reg.merge("ds@feature", strategy="theirs")
    rows = by_id(reg.load("ds"))
    assert rows[3]["label"] == "feat" and rows[4]["score"] == 9.0


def test_resolve_rows(branched, tmp_path):
    reg, t = branched
    reg.commit("ds", edit(t, r3={"label": "main"}), message="main edit")
    reg.commit("ds", edit(t, r3={"label": "feat"}), message="feature", branch="feature")
    path = tmp_path / "resolve.parquet"
    pq.write_table(table([3], ["settled"], [3.5]), path)
    reg.merge("ds@feature", resolve=path)
    assert by_id(reg.load("ds"))[3] == {"id": 3, "label": "settled", "score": 3.5}


def test_keyless_multiset(registry):
    t = pa.table({"x": [1, 2, 2, 3, 4]})
    registry.commit("ds", t, message="base")
    registry.branch("ds", "feature")
    registry.commit("ds", pa.table({"x": [1, 2, 3, 4, 5]}), message="main: drop a 2, add 5")
    registry.commit("ds", pa.table({"x": [2, 2, 3, 4, 6, 6]}), message="feat: drop 1, add 6 6", branch="feature")
    registry.merge("ds@feature")
    assert sorted(registry.load("ds")["x"].to_pylist()) == [2, 3, 4, 5, 6, 6]


def test_column_added_on_one_side(branched):
    reg, t = branched
    reg.commit("ds", edit(t, r1={"label": "main"}), message="main edit")
    feat = edit(t, r2={"label": "feat"}).append_column("extra", pa.array([f"e{i}" for i in range(50)]))
    reg.commit("ds", feat, message="feature adds a column", branch="feature")
    reg.merge("ds@feature")
    merged = reg.load("ds")
    assert merged.column_names == ["id", "label", "score", "extra"]
    rows = by_id(merged)
    assert rows[1]["label"] == "main" and rows[2]["label"] == "feat" and rows[9]["extra"] == "e9"


def test_merged_version_stores_only_new_rows(registry):
    from helpers.tables import make_table
    t = make_table(5000)
    registry.commit("ds", t, message="base", keys=["id"])
    registry.branch("ds", "feature")
    labels = t["label"].to_pylist()
    main_labels = list(labels)
    main_labels[10] = "main"
    registry.commit("ds", t.set_column(3, "label", pa.array(main_labels)), message="main")
    feat = t.set_column(1, "count", pa.array([-1 if i == 10 else c for i, c in enumerate(t["count"].to_pylist())]))
    registry.commit("ds", feat, message="feature", branch="feature")
    result = registry.merge("ds@feature")
    merged = registry.load("ds")
    assert merged["label"][10].as_py() == "main" and merged["count"][10].as_py() == -1
    assert merged.num_rows == 5000
    # one row neither side had whole: the only new row
    assert result.splits["train"]["new_rows"] == 1
    assert merged.drop_columns([]).equals(merged)


def test_revert_undoes_one_commit(branched):
    reg, t = branched
    reg.commit("ds", edit(t, r3={"label": "bad"}), message="a mistake")
    reg.commit("ds", edit(edit(t, r3={"label": "bad"}), r9={"label": "later"}), message="a later fix")
    result = reg.revert("ds@main~1")
    rows = by_id(reg.load("ds"))
    assert rows[3]["label"] == "l3" and rows[9]["label"] == "later"
    assert get_commit(reg, result.id).parents == (reg.resolve("ds@main~1"),)
    assert get_commit(reg, result.id).message.startswith('Revert "a mistake"')


def test_reset_and_reflog(branched):
    reg, t = branched
    first = reg.resolve("ds")
    reg.commit("ds", edit(t, r3={"label": "x"}), message="second")
    second = reg.resolve("ds")
    moved = reg.reset("ds", "main", first[:12])
    assert moved == {"branch": "main", "was": second, "now": first}
    assert reg.resolve("ds") == first
    log = reg.reflog("ds", "main")
    assert [e.new for e in log[:2]] == [first, second]
    assert log[0].message.startswith("reset")
    reg.reset("ds", "main", second)        # undone from the reflog
    assert reg.resolve("ds") == second


def test_cli_merge_conflicts_file_and_strategy(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from dsreg.cli import cli
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DSREG_AUTHOR", "T <t@example.com>")
    monkeypatch.delenv("DSREG_DIR", raising=False)
    files = {"v1": "id,label\n1,a\n2,b\n3,c\n", "m": "id,label\n1,A\n2,b\n3,c\n", "f": "id,label\n1,Z\n2,b\n3,c\n4,d\n"}
    for name, text in files.items():
        (tmp_path / f"{name}.csv").write_text(text)
    run = CliRunner().invoke
    for args in (["init"], ["commit", "ds", "v1.csv", "--key", "id"], ["branch", "ds", "feat"],
                 ["commit", "ds", "m.csv"], ["commit", "ds", "f.csv", "--branch", "feat"]):
        assert run(cli, args).exit_code == 0
    head = run(cli, ["log", "ds", "--json"]).output
    r = run(cli, ["merge", "ds@feat", "--conflicts", "c.parquet"])
    assert r.exit_code == 1
    assert "1 conflict (in train); nothing was recorded" in r.output and "--strategy ours|theirs" in r.output
    assert run(cli, ["log", "ds", "--json"]).output == head
    assert pq.read_table(tmp_path / "c.parquet").to_pylist() == [
        {"split": "train", "id": 1, "column": "label", "base": '"a"', "ours": '"A"', "theirs": '"Z"'}]
    r = run(cli, ["merge", "ds@feat", "--strategy", "ours", "--json"])
    assert r.exit_code == 0, r.output
    import json
    out = json.loads(r.output)
    assert out["splits"]["train"]["added"] == 1 and out["conflicts"] == 0 and not out["fast_forward"]
    graph = run(cli, ["log", "ds", "--graph"]).output.splitlines()
    assert graph[0].startswith("* ") and any(line.startswith("| * ") for line in graph), graph
    assert len(graph) == 4                 # v1, main's edit, feat's edit, the merge
    r = run(cli, ["log", "ds@feat~1", "--all", "--oneline"])
    assert len(r.output.splitlines()) == 4
    r = run(cli, ["reflog", "ds@main"])
    assert r.output.splitlines()[0].endswith("merge: Merge ds@feat into main")
    r = run(cli, ["reset", "ds", "main~1"])
    assert r.exit_code == 0 and "->" in r.output


def test_sharing_verbs_from_python(branched, tmp_path):
    """push, clone, merge on the clone, push back, fetch and pull: the Python API alone."""
    import dsreg
    from dsreg.remote import transfer
    reg, t = branched
    (tmp_path / "remote").mkdir()
    url = (tmp_path / "remote").as_uri()
    transfer.add_remote(reg, "origin", url)
    pushed = reg.push()
    assert pushed.uploaded_objects > 0 and pushed.to_json()["remote"] == "origin"
    other, _ = dsreg.Registry.clone(url, tmp_path / "other")
    with other:
        other.commit("ds", edit(t, r3={"label": "theirs"}), message="on feature", branch="feature")
        other.merge("ds@feature")
        other.push()
    fetched = reg.fetch()
    assert fetched.commits == 1          # the merge fast-forwarded main to feature
    pulled = reg.pull("ds")
    assert pulled.status == "fast-forward"
    assert by_id(reg.load("ds"))[3]["label"] == "theirs"
