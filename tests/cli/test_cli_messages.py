"""Library errors speak the Python API's language and carry their facts; the command line
names its flags (src/dsreg/cli/messages.py), so its output stays as it was."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pyarrow as pa
import pytest

import dsreg
from dsreg.errors import DsregError
from helpers.cli import fails, run, write

SRC = Path(dsreg.__file__).parent


@pytest.fixture
def ds(registry, tmp_path):
    """Dataset `ds` (columns a, b) with tag v1 on its first commit, in `registry`."""
    registry.commit("ds", pa.table({"a": [1, 2, 3], "b": ["x", "y", "z"]}))
    registry.tag("ds", "v1")
    registry.commit("ds", pa.table({"a": [1, 2], "b": ["x", "y"]}))
    return registry


def test_the_command_line_names_the_flags(ds, tmp_path):
    v1 = ds.resolve("ds@v1")[:12]
    data = write(tmp_path / "d.parquet", pa.table({"a": [4], "b": ["w"]}))
    empty = tmp_path / "empty.csv"
    empty.write_text("a,b\n")
    assert fails("commit", "ds", str(empty)) == \
        f"Error: split 'train': {empty} holds no rows; pass --allow-empty to commit it anyway"
    assert fails("tag", "ds", "v1", "main") == \
        f"Error: tag 'v1' already exists in dataset 'ds' (at {v1}); use --force to move it"
    run("branch", "ds", "dev", "v1")
    assert fails("branch", "ds", "dev") == \
        f"Error: branch 'dev' already exists in dataset 'ds' (at {v1}); use --force to reset it"
    assert fails("commit", "ds", data, "--branch", "v1") == ("Error: ds@v1 is a tag, not a branch: tags never "
                                                             "move; commit to a branch, e.g. 'dsreg branch ds NEW "
                                                             "v1' then --branch NEW")
    assert fails("commit", "ds", f"test={data}", "--append") == \
        "Error: cannot append to split 'test': ds@main has no such split; commit it without --append first"
    assert fails("commit", "ds", "--drop-split", "test") == \
        "Error: cannot drop split 'test': ds@main has no such split"
    assert fails("commit", "ds", data, "--key", "id", code=2) == \
        "Error: --key column 'id' is not in split 'train'; columns: a, b"
    assert fails("diff", "ds@v1", "ds", "--key", "a", "--key", "a", code=2) == \
        "Error: a --key column is given twice"
    assert fails("diff", "ds@v1", "ds", "--key", "id", code=2) == \
        "Error: --key column 'id' is not in split 'train' of ds@v1; columns: a, b"
    assert fails("branch", "ds", "x", "-d", "dev", code=2) == \
        "Error: give either a branch to create or -d BRANCH, not both"
    assert fails("tag", "ds", "x", "-d", "v1", code=2) == "Error: give either a tag to create or -d TAG, not both"
    assert fails("card", "ds@v1", "--set", "license=mit", code=2) == \
        "Error: --set records a commit on a branch; 'ds@v1' is not one; use ds or ds@BRANCH"
    assert fails("remote", "add", "o", f"file://{tmp_path}", "--endpoint-url", "http://x", code=2) == \
        "Error: --endpoint-url only applies to s3:// remotes"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert fails("--registry", str(elsewhere), "ls").endswith("; run 'dsreg init' or pass --registry DIR")


def test_push_of_a_moved_tag_names_force(ds, tmp_path):
    (tmp_path / "remote").mkdir()
    run("remote", "add", "origin", f"file://{tmp_path / 'remote'}")
    run("push")
    run("tag", "ds", "v1", "main", "--force")
    assert fails("push") == "Error: tag ds@v1 already exists on origin with another commit; use --force to replace it"
    from dsreg.remote import transfer
    with pytest.raises(DsregError) as e:
        transfer.push(ds)
    assert "force=True" in str(e.value) and "--" not in str(e.value)


def test_the_python_api_names_no_flag(ds, tmp_path):
    from dsreg.card import set_fields
    empty = tmp_path / "empty.csv"
    empty.write_text("a,b\n")
    calls = [
        lambda: ds.commit("ds", str(empty), empty_files=False),
        lambda: ds.tag("ds", "v1"),
        lambda: ds.commit("ds", pa.table({"a": [1], "b": ["x"]}), branch="v1"),
        lambda: ds.commit("ds", {"test": pa.table({"a": [1]})}, append=True),
        lambda: ds.commit("ds", pa.table({"a": [1], "b": ["x"]}), keys=["id"]),
        lambda: ds.diff("ds@v1", "ds", keys=["a", "a"]),
        lambda: ds.diff("ds@v1", "ds", keys=["id"]),
        lambda: ds.diff("ds@v1", "ds", limit=-1),
        lambda: ds.branch("ds", "x", delete="y"),
        lambda: set_fields(ds, "ds@v1", {"license": "mit"}),
        lambda: dsreg.Registry(tmp_path / "nowhere"),
    ]
    (tmp_path / "nowhere").mkdir()
    for call in calls:
        with pytest.raises(DsregError) as e:
            call()
        assert not re.search(r"(?<![\w-])--?[a-z]", str(e.value).replace("dsreg init", "")), str(e.value)


FLAG = re.compile(r"(?<![\w-])--[a-z][a-z-]*|(?<![\w-])-[a-z] [A-Z]+\b")


def _error_texts(tree: ast.AST):
    """The text of every string in a raise, an error's super().__init__, or a returned error."""
    parts = []
    for n in ast.walk(tree):
        if isinstance(n, ast.Raise) and n.exc is not None:
            parts.append(n.exc)
        elif isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "__init__" and \
                isinstance(n.func.value, ast.Call) and getattr(n.func.value.func, "id", None) == "super":
            parts.append(n)
        elif isinstance(n, ast.Return) and isinstance(n.value, ast.Call) and \
                isinstance(n.value.func, ast.Name) and n.value.func.id[:1].isupper():
            parts.append(n.value)
    for part in parts:
        inner = {id(v) for n in ast.walk(part) if isinstance(n, ast.JoinedStr) for v in n.values}
        for n in ast.walk(part):
            if isinstance(n, ast.JoinedStr):
                yield n.lineno, "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in n.values)
            elif isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in inner:
                yield n.lineno, n.value


def test_no_library_error_names_a_flag():
    """Outside cli/, an error may suggest a whole command ('dsreg fsck --repair'), which
    works whoever called; it never names an option of the call that failed."""
    found = []
    for path in sorted(SRC.rglob("*.py")):
        if "cli" in path.relative_to(SRC).parts:
            continue
        for line, text in _error_texts(ast.parse(path.read_text())):
            if FLAG.search(text) and "dsreg " not in text:
                found.append(f"{path.relative_to(SRC)}:{line}: {text}")
    assert found == []
