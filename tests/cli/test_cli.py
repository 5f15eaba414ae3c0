"""The command line: human output, --json shapes, exit codes and one-line errors."""
from __future__ import annotations

import datetime as dt
import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

import dsreg
from dsreg.cli import commands as cli_mod
from dsreg.cli import util as cliutil
from helpers.cli import fails, misuse, on_a_terminal, run, run_json, write

HEX = re.compile(r"^[0-9a-f]{32}$")


# -- helpers --------------------------------------------------------------------
def date(ts: int) -> str:
    return dt.datetime.fromtimestamp(ts).astimezone().isoformat(timespec="seconds")


V1 = pa.table({"id": [1, 2, 3], "label": ["pos", "neg", "pos"]})
V2 = pa.table({"id": [1, 2, 3, 4], "label": ["pos", "pos", "pos", "neg"]})
TEST = pa.table({"id": [10, 11], "label": ["neg", "pos"]})


@pytest.fixture
def data(registry, tmp_path):
    """Small files beside the project: v1 and v2 of a train split, a test split as CSV."""
    d = tmp_path / "data"
    return {"v1": write(d / "v1.parquet", V1), "v2": write(d / "v2.parquet", V2),
            "test": write(d / "test.csv", TEST), "dir": d}


@pytest.fixture
def two_commits(registry, data):
    """reviews: v1 (train + test, tagged v1), then v2 of train on main."""
    run("commit", "reviews", f"train={data['v1']}", f"test={data['test']}", "-m", "first", "--key", "id")
    run("tag", "reviews", "v1")
    run("commit", "reviews", data["v2"], "-m", "second\n\nwith a body")
    log = registry.log("reviews")
    return {"v2": log[0].id, "v1": log[1].id}


@pytest.fixture
def elsewhere(tmp_path, monkeypatch):
    """A working folder with no registry above it."""
    d = tmp_path / "elsewhere"
    d.mkdir()
    monkeypatch.chdir(d)
    monkeypatch.delenv("DSREG_DIR", raising=False)
    return d


# -- the group: version, help, registry discovery, error conversion --------------
def test_version():
    assert run("--version").stdout == f"dsreg {dsreg.__version__}\n"


def test_help_lists_the_commands_in_order():
    out = run("--help").stdout
    names = re.findall(r"^  ([\w-]+)  ", out.split("Commands:")[1], flags=re.M)
    assert names == ["init", "commit", "log", "show", "ls", "diff", "branch", "tag", "checkout",
                     "merge", "revert", "reset", "reflog", "remote", "push", "fetch", "pull", "clone", "import-dvc",
                     "export-dvc", "lock", "check", "card", "fsck", "gc"]
    assert run("-h").stdout == out


def test_no_registry_found(elsewhere):
    line = fails("ls", says="no dsreg registry found in")
    assert line.endswith("run 'dsreg init' or pass --registry DIR")


def test_registry_option_and_env(elsewhere, tmp_path, data):
    project = str(tmp_path / "project")
    run("--registry", project, "commit", "reviews", data["v1"])
    assert [d["name"] for d in json.loads(run("--registry", project, "ls", "--json").stdout)] == ["reviews"]
    assert "reviews" in run("ls", env={"DSREG_DIR": project}).stdout
    # a named registry must be exactly there, not in a parent folder
    fails("--registry", str(tmp_path / "project" / "sub"), "ls", says="no dsreg registry found")
    fails("ls", env={"DSREG_DIR": str(elsewhere)}, says="no dsreg registry found")


def test_unexpected_exception_is_one_line_without_debug(registry, monkeypatch):
    from dsreg import porcelain

    def boom(reg):
        raise RuntimeError("boom\nsecond line")
    monkeypatch.setattr(porcelain, "ls", boom)
    line = fails("ls", says="internal error")
    assert line == "Error: internal error: RuntimeError: boom second line; rerun with --debug for the traceback"
    result = run("--debug", "ls", code=1)
    assert "Traceback (most recent call last)" in result.stderr
    assert 'raise RuntimeError("boom' in result.stderr
    assert result.stderr.splitlines()[-1].startswith("Error: internal error: RuntimeError: boom")


def test_debug_shows_the_traceback_of_a_user_error(elsewhere):
    result = run("--debug", "ls", code=1)
    assert "Traceback (most recent call last)" in result.stderr and "RegistryNotFound" in result.stderr
    assert result.stderr.splitlines()[-1].startswith("Error: no dsreg registry found")


def test_click_misuse_exits_2(registry):
    misuse("log", says="Missing argument 'NAME[@REV]'")
    misuse("ls", "--bogus", says="--bogus")
    misuse("nosuchcommand", says="nosuchcommand")


# -- init -----------------------------------------------------------------------------
def test_init(elsewhere):
    out = run("init", "proj").stdout
    assert out == f"Initialized empty dsreg registry in {elsewhere / 'proj' / '.dsreg'}\n"
    assert (elsewhere / "proj" / ".dsreg" / "manifest.sqlite").is_file()
    doc = json.loads(run("init", "other", "--json").stdout)
    assert doc == {"root": str(elsewhere / "other"), "registry": str(elsewhere / "other" / ".dsreg")}
    fails("init", "proj", says=f"a registry already exists in {elsewhere / 'proj'}")


def test_init_defaults_to_the_registry_option(elsewhere):
    run("--registry", "named", "init")
    assert (elsewhere / "named" / ".dsreg").is_dir()
    run("init")
    assert (elsewhere / ".dsreg").is_dir()


# -- commit ---------------------------------------------------------------------------
def test_commit_human_output(registry, data):
    out = run("commit", "reviews", data["v1"], "-m", "first version").stdout
    cid = registry.resolve("reviews")
    lines = out.splitlines()
    assert lines[0] == f"[main {cid[:12]}] first version"
    assert re.fullmatch(r"  train: 3 rows \(3 new, 0 reused\), [\d.]+ (B|KiB) new", lines[1]), lines[1]
    assert len(lines) == 2


def test_commit_json_and_splits(registry, data):
    doc = run_json("commit", "reviews", f"train={data['v1']}", f"test={data['test']}", "-m", "m")
    assert set(doc) == {"id", "dataset", "branch", "splits", "unchanged"}
    assert HEX.match(doc["id"]) and doc["id"] == registry.resolve("reviews")
    assert doc["dataset"] == "reviews" and doc["branch"] == "main" and doc["unchanged"] is False
    assert set(doc["splits"]) == {"train", "test"}
    assert doc["splits"]["train"]["rows"] == 3 and doc["splits"]["test"]["rows"] == 2
    assert set(doc["splits"]["train"]) == {"rows", "new_rows", "reused_rows", "new_bytes"}
    assert registry.load("reviews", split="test").equals(TEST)


def test_commit_several_paths_for_one_split_are_concatenated(registry, data):
    doc = run_json("commit", "reviews", f"train={data['v1']}", data["v2"])
    assert list(doc["splits"]) == ["train"] and doc["splits"]["train"]["rows"] == 7
    assert registry.load("reviews")["id"].to_pylist() == [1, 2, 3, 1, 2, 3, 4]


def test_commit_folder_and_reuse(registry, data, tmp_path):
    run("commit", "reviews", data["v1"])
    folder = tmp_path / "folder"
    write(folder / "a.parquet", V2.slice(0, 2))
    write(folder / "b.parquet", V2.slice(2))
    doc = run_json("commit", "reviews", str(folder))
    assert doc["splits"]["train"]["rows"] == 4
    assert doc["splits"]["train"]["reused_rows"] >= 1     # rows 1 and 3 are unchanged


def test_commit_unchanged(registry, data):
    run("commit", "reviews", data["v1"])
    cid = registry.resolve("reviews")
    assert run("commit", "reviews", data["v1"]).stdout == f"nothing changed; reviews@main stays at {cid[:12]}\n"
    doc = run_json("commit", "reviews", data["v1"])
    assert doc["unchanged"] is True and doc["id"] == cid


def test_commit_branch_append_drop_key_base(registry, data):
    run("commit", "reviews", f"train={data['v1']}", f"test={data['test']}")
    out = run("commit", "reviews", data["v2"], "--branch", "dev", "-m", "on dev").stdout
    assert out.startswith(f"[dev {registry.resolve('reviews@dev')[:12]}] on dev\n")
    assert registry.resolve("reviews@dev~1") == registry.resolve("reviews@main")
    doc = run_json("commit", "reviews", data["v1"], "--append")
    assert doc["splits"]["train"]["rows"] == 6
    out = run("commit", "reviews", "--drop-split", "test").stdout
    assert "  test: dropped" in out.splitlines()
    assert set(run_json("show", "reviews")["splits"]) == {"train"}
    run("commit", "other", data["v2"], "--key", "id", "--base", "reviews@main")
    assert run_json("show", "other")["metadata"]["keys"] == ["id"]


def test_commit_allow_empty(registry, data):
    run("commit", "reviews", data["v1"])
    doc = run_json("commit", "reviews", data["v1"], "--allow-empty", "-m", "again")
    assert doc["unchanged"] is False and len(registry.log("reviews")) == 2


def test_commit_errors(registry, data):
    fails("commit", "reviews", "missing.parquet", says="no such file or folder: missing.parquet")
    fails("commit", "reviews", "nodir/missing.csv", says="no such file or folder: nodir/missing.csv")
    Path("notes.txt").write_text("hello")
    fails("commit", "reviews", "notes.txt", says="unknown file type '.txt'")
    fails("commit", "reviews", code=2, says="nothing to commit")
    fails("commit", "reviews", data["v1"], "--append", says="cannot append to split 'train'")
    fails("commit", "../x", data["v1"], code=2, says="invalid dataset name '../x'")
    fails("commit", "--", "-x", data["v1"], code=2, says="invalid dataset name '-x': it starts with '-'")
    fails("commit", "a@{1}", data["v1"], code=2, says="invalid dataset name 'a@{1}'")
    fails("commit", "reviews", f"a/b={data['v1']}", says="no such file or folder: a/b=")
    fails("commit", "reviews", f"te st={data['v1']}", code=2, says="invalid split name 'te st'")
    fails("commit", "reviews", "test=", code=2, says="'test=' names no file or folder")
    fails("commit", "reviews", data["v1"], "--branch", "a..b", code=2, says="invalid branch name 'a..b'")
    fails("commit", "reviews", data["v1"], "--base", "nope@main", says="unknown dataset 'nope'")
    assert registry.datasets() == []      # nothing was committed by any of these


def test_commit_error_mid_file_is_one_line(registry, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("id,label\n1,pos\n2,neg,extra\n")
    line = fails("commit", "reviews", str(bad), says=str(bad))
    assert "cannot read it as CSV" in line


# -- log / show / ls --------------------------------------------------------------
def test_log_human(registry, two_commits):
    out = run("log", "reviews").stdout
    entries = registry.log("reviews")
    v2, v1 = two_commits["v2"], two_commits["v1"]
    assert out == (
        f"commit {v2[:12]} (main)\n"
        f"Author: Test Author <test@example.com>\n"
        f"Date:   {date(entries[0].timestamp)}\n\n"
        f"    second\n    \n    with a body\n\n"
        f"commit {v1[:12]} (tag: v1)\n"
        f"Author: Test Author <test@example.com>\n"
        f"Date:   {date(entries[1].timestamp)}\n\n"
        f"    first\n")


def test_log_oneline(registry, two_commits):
    v2, v1 = two_commits["v2"], two_commits["v1"]
    assert run("log", "reviews", "--oneline").stdout == f"{v2[:12]} (main) second\n{v1[:12]} (tag: v1) first\n"
    assert run("log", "reviews", "--oneline", "-n", "1").stdout == f"{v2[:12]} (main) second\n"


def test_log_json_and_limits(registry, two_commits):
    doc = run_json("log", "reviews")
    assert [e["id"] for e in doc] == [two_commits["v2"], two_commits["v1"]]
    assert set(doc[0]) == {"id", "parents", "message", "author", "timestamp"}
    assert doc[0]["parents"] == [two_commits["v1"]] and doc[1]["parents"] == []
    assert doc[0]["message"] == "second\n\nwith a body"
    assert [e["id"] for e in run_json("log", "reviews", "-n", "1")] == [two_commits["v2"]]
    assert [e["id"] for e in run_json("log", "reviews@v1")] == [two_commits["v1"]]
    assert [e["id"] for e in run_json("log", f"reviews@{two_commits['v2'][:8]}~1")] == [two_commits["v1"]]
    assert run_json("log", "reviews", "-n", "0") == []


def test_log_errors(registry, two_commits, monkeypatch):
    fails("log", "nope", says="unknown dataset 'nope'; run 'dsreg ls' to see the datasets")
    fails("log", "reviews@nope", says="unknown revision 'reviews@nope': no such branch, tag or commit")
    fails("log", "reviews@main~5", says="unknown revision 'reviews@main~5': history has only 1 commit(s)")
    fails("log", "reviews@{1}", code=2, says="reflog syntax")
    fails("log", "../x", code=2, says="invalid dataset name '../x'")
    fails("log", "reviews@", code=2, says="has nothing after '@'")
    misuse("log", "reviews", "-n", "-1", says="-n")
    # two commits sharing a prefix are rare, so pretend
    from dsreg.manifest.database import Manifest
    monkeypatch.setattr(Manifest, "commits_with_prefix",
                        lambda self, ds, prefix: [prefix + "0" * 26, prefix + "1" * 26])
    line = fails("log", "reviews@abcdef", says="ambiguous revision 'reviews@abcdef': matches abcdef000000, abcdef111111")
    assert line.endswith("use more characters of the commit id")


def test_show(registry, two_commits):
    v1, v2 = two_commits["v1"], two_commits["v2"]
    out = run("show", "reviews@v1").stdout
    lines = out.splitlines()
    assert lines[0] == f"commit {v1[:12]} (tag: v1)"
    assert lines[1] == "Author: Test Author <test@example.com>"
    assert "dataset: reviews" in lines and "parents: none (a first commit)" in lines
    assert "    first" in lines
    assert re.search(r"^split +rows +bytes +shards +runs$", out, flags=re.M)
    assert re.search(r"^test +2 +\d+ B +1 +1$", out, flags=re.M)
    assert re.search(r"^train +3 +\d+ B +1 +1$", out, flags=re.M)
    assert "schema of test, train:\n  id     int64\n  label  string\n" in out
    assert '  keys: ["id"]' in lines
    assert f"parents: {v1[:12]}" in run("show", "reviews").stdout.splitlines()
    assert v2 not in out and v1 not in out     # ids are shortened


def test_show_json(registry, two_commits):
    doc = run_json("show", "reviews")
    assert {"id", "dataset", "parents", "message", "splits", "schema"} <= set(doc)
    assert doc["id"] == two_commits["v2"] and doc["parents"] == [two_commits["v1"]]
    assert doc["splits"]["train"]["rows"] == 4 and doc["splits"]["test"]["rows"] == 2
    assert {"rows", "bytes", "shards"} <= set(doc["splits"]["train"])
    assert doc["schema"]["train"] == [{"name": "id", "type": "int64"}, {"name": "label", "type": "string"}]


def test_show_errors(registry, two_commits):
    fails("show", "nope@v1", says="unknown dataset 'nope'")
    fails("show", "reviews@v9", says="unknown revision 'reviews@v9'")
    fails("show", "reviews@a..b", code=2, says="invalid revision 'reviews@a..b'")


def test_ls(registry, two_commits):
    assert run("ls").stdout == (f"reviews\n  branches: main {two_commits['v2'][:12]}\n"
                                f"  tags:     v1 {two_commits['v1'][:12]}\n")
    assert run_json("ls") == [{"name": "reviews", "branches": {"main": two_commits["v2"]},
                               "tags": {"v1": two_commits["v1"]}}]


def test_ls_empty(registry):
    assert run("ls").stdout == "no datasets yet; add one with 'dsreg commit NAME PATH'\n"
    assert run_json("ls") == []


# -- branch / tag -------------------------------------------------------------------
def test_branch(registry, two_commits):
    v1, v2 = two_commits["v1"], two_commits["v2"]
    assert run("branch", "reviews", "dev", "v1").stdout == f"branch dev -> {v1[:12]}\n"
    assert run("branch", "reviews").stdout == f"dev   {v1[:12]}\nmain  {v2[:12]}\n"
    assert run_json("branch", "reviews") == {"dev": v1, "main": v2}
    assert run_json("branch", "reviews", "exp") == {"name": "exp", "commit": v2}
    assert run("branch", "reviews", "-d", "exp").stdout == f"deleted branch exp (was {v2[:12]})\n"
    assert run_json("branch", "reviews", "-d", "dev") == {"deleted": "dev", "was": v1}
    assert run_json("branch", "reviews") == {"main": v2}


def test_branch_errors(registry, two_commits):
    fails("branch", "reviews", "-d", "main", code=2, says="the main branch cannot be deleted")
    run("branch", "reviews", "dev")
    fails("branch", "reviews", "dev", "v1", says="branch 'dev' already exists in dataset 'reviews'")
    assert run_json("branch", "reviews", "dev", "v1", "--force")["commit"] == two_commits["v1"]
    fails("branch", "reviews", "-d", "gone", says="no branch 'gone' in dataset 'reviews'")
    fails("branch", "reviews", "../x", code=2, says="invalid branch name '../x'")
    fails("branch", "reviews", "--", "-x", code=2, says="invalid branch name '-x'")
    fails("branch", "reviews", "a@{1}", code=2, says="invalid branch name 'a@{1}'")
    fails("branch", "nope", says="unknown dataset 'nope'")
    fails("branch", "reviews", "x", "nope", says="unknown revision 'reviews@nope'")
    fails("branch", "reviews", "x", "-d", "dev", code=2, says="not both")


def test_tag(registry, two_commits):
    v1, v2 = two_commits["v1"], two_commits["v2"]
    assert run("tag", "reviews").stdout == f"v1  {v1[:12]}\n"
    assert run("tag", "reviews", "v2", v2[:7]).stdout == f"tag v2 -> {v2[:12]}\n"
    assert run_json("tag", "reviews") == {"v1": v1, "v2": v2}
    assert run_json("tag", "reviews", "-d", "v2") == {"deleted": "v2", "was": v2}
    assert run("tag", "reviews", "-d", "v1").stdout == f"deleted tag v1 (was {v1[:12]})\n"
    assert run("tag", "reviews").stdout == ""
    assert run_json("tag", "reviews") == {}


def test_tag_errors(registry, two_commits):
    line = fails("tag", "reviews", "v1", "main", says="tag 'v1' already exists in dataset 'reviews'")
    assert line.endswith("use --force to move it")
    assert registry.resolve("reviews@v1") == two_commits["v1"]
    assert run_json("tag", "reviews", "v1", "main", "--force") == {"name": "v1", "commit": two_commits["v2"]}
    fails("tag", "reviews", "-d", "nope", says="no tag 'nope' in dataset 'reviews'")
    fails("tag", "reviews", "v1.lock", code=2, says="invalid tag name 'v1.lock'")
    fails("tag", "reviews", "a@{1}", code=2, says="invalid tag name 'a@{1}'")



def test_a_branch_and_a_tag_never_share_a_name(registry, two_commits, data):
    """NAME@REV looks at branches first: a branch named like a tag would silently change
    what a pinned NAME@TAG reads, so neither may take the other's name."""
    v1 = two_commits["v1"]
    fails("branch", "reviews", "v1", "main", says="a tag named 'v1' already exists in dataset 'reviews'")
    fails("branch", "reviews", "v1", "main", "--force", says="a tag named 'v1' already exists")
    fails("commit", "reviews", data["v2"], "--branch", "v1", says="reviews@v1 is a tag, not a branch")
    fails("tag", "reviews", "main", says="a branch named 'main' already exists in dataset 'reviews'")
    assert registry.resolve("reviews@v1") == v1
    assert run_json("branch", "reviews") == {"main": two_commits["v2"]}
    assert run_json("tag", "reviews") == {"v1": v1}


def test_ref_target_may_repeat_the_dataset_name(registry, two_commits):
    assert run_json("tag", "reviews", "first", "reviews@main~1") == {"name": "first", "commit": two_commits["v1"]}
    fails("tag", "reviews", "other", "elsewhere@main", code=2, says="cannot point into dataset 'elsewhere'")
    assert "other" not in run_json("tag", "reviews")


def test_commit_id_prefixes_are_case_insensitive(registry, two_commits):
    v1 = two_commits["v1"]
    assert run_json("show", f"reviews@{v1[:8].upper()}")["id"] == v1


def test_file_system_errors_are_one_line_not_internal(elsewhere, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    line = fails("init", str(blocker / "proj"))
    assert "internal error" not in line and str(blocker) in line

# -- checkout ---------------------------------------------------------------------------
def test_checkout(registry, two_commits, tmp_path):
    out = tmp_path / "out"
    text = run("checkout", "reviews@v1", "-o", str(out)).stdout
    assert text == (f"checked out reviews@v1 ({two_commits['v1'][:12]}) to {out}\n"
                    "  test: 2 rows in 1 file\n  train: 3 rows in 1 file\n")
    assert pq.read_table(out / "train" / "part-00000.parquet").equals(V1)
    assert pq.read_table(out / "test" / "part-00000.parquet").equals(TEST)


def test_checkout_json_split_and_formats(registry, two_commits, tmp_path):
    doc = run_json("checkout", "reviews", "-o", str(tmp_path / "csv"), "--split", "train", "--format", "csv")
    path = str(tmp_path / "csv" / "train" / "part-00000.csv")
    assert doc == {"id": two_commits["v2"], "splits": {"train": {"rows": 4, "files": [path]}}}
    assert pcsv.read_csv(path).equals(V2)
    assert not (tmp_path / "csv" / "test").exists()
    run("checkout", "reviews", "-o", str(tmp_path / "jl"), "--split", "test", "--format", "jsonl")
    lines = (tmp_path / "jl" / "test" / "part-00000.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == TEST.to_pylist()


def test_checkout_errors(registry, two_commits, tmp_path):
    full = tmp_path / "full"
    (full / "test").mkdir(parents=True)
    (full / "test" / "keep.txt").write_text("mine")
    fails("checkout", "reviews", "-o", str(full), says=f"{full / 'test'} is not empty")
    assert (full / "test" / "keep.txt").read_text() == "mine"
    fails("checkout", "reviews", "-o", str(tmp_path / "o"), "--split", "valid",
          says="reviews has no split 'valid'")
    fails("checkout", "reviews@nope", "-o", str(tmp_path / "o"), says="unknown revision")
    misuse("checkout", "reviews", "-o", str(tmp_path / "o"), "--format", "xlsx", says="'xlsx' is not one of")
    misuse("checkout", "reviews", says="Missing option '-o'")


def test_checkout_checks_every_split_folder_before_writing(registry, two_commits, tmp_path):
    out = tmp_path / "out"
    (out / "train").mkdir(parents=True)          # 'test' is written first, 'train' is in the way
    (out / "train" / "keep.txt").write_text("mine")
    fails("checkout", "reviews", "-o", str(out), says=f"{out / 'train'} is not empty")
    assert sorted(p.name for p in out.iterdir()) == ["train"]          # no test/ was written
    assert [p.name for p in (out / "train").iterdir()] == ["keep.txt"]
    blocker = tmp_path / "file"
    blocker.write_text("x")
    fails("checkout", "reviews", "-o", str(blocker / "sub"), says=f"{blocker} is not a folder")
    assert blocker.read_text() == "x"


def test_failed_checkout_leaves_nothing(registry, two_commits, tmp_path, monkeypatch):
    from dsreg.rows import export

    real, calls = export.write_split, []

    def second_split_fails(store, snap, folder, fmt, progress):
        calls.append(folder)
        if len(calls) == 2:
            raise dsreg.DsregError("disk on fire")
        return real(store, snap, folder, fmt, progress)
    monkeypatch.setattr(export, "write_split", second_split_fails)
    fails("checkout", "reviews", "-o", str(tmp_path / "new" / "out"), says="disk on fire")
    assert not (tmp_path / "new").exists()
    empty = tmp_path / "empty"
    (empty / "test").mkdir(parents=True)
    calls.clear()
    fails("checkout", "reviews", "-o", str(empty), says="disk on fire")
    assert [p.name for p in empty.iterdir()] == ["test"] and not any((empty / "test").iterdir())


# -- progress ----------------------------------------------------------------------------
def test_terminal_progress_draws_one_line():
    stream = io.StringIO()
    p = cliutil.TerminalProgress(stream)
    p.start("commit train", None)
    p.advance(1500)
    p.finish()
    p.start("checkout train", 200, unit="rows")
    p.advance(100)
    p.finish()
    text = stream.getvalue()
    assert text.count("\n") == 2 and text.endswith("\n")
    assert "\rcommit train: 1,500 rows" in text
    assert re.search(r"\rcheckout train \[#{15} {15}\]  50% 100/200 rows", text)
    p.finish()         # finishing twice writes nothing more
    assert stream.getvalue() == text


def test_terminal_progress_shows_bytes_done_of_total_in_mib():
    stream = io.StringIO()
    p = cliutil.TerminalProgress(stream)
    p.start("push", 8 << 20, unit="bytes")
    p.advance(2 << 20)
    p.finish()
    p.start("pull", None, unit="bytes")      # nothing to transfer: no total
    p.advance(0)
    p.finish()
    p.start("push", 1000, unit="bytes")      # an estimate that was too low grows
    p.advance(1500)
    p.finish()
    text = stream.getvalue()
    assert re.search(r"\rpush \[#{7} {23}\]  25% 2\.0/8\.0 MiB", text), text
    assert "\rpull: 0 B" in text
    assert re.search(r"\rpush \[#{30}\] 100% 1\.5/1\.5 KiB", text), text


def test_progress_only_on_a_terminal(monkeypatch):
    class Fake(io.StringIO):
        def __init__(self, tty):
            super().__init__()
            self.tty = tty

        def isatty(self):
            return self.tty
    monkeypatch.setattr(sys, "stderr", Fake(False))
    assert cliutil.State().progress() is cliutil.NO_PROGRESS
    monkeypatch.setattr(sys, "stderr", Fake(True))
    assert isinstance(cliutil.State().progress(), cliutil.TerminalProgress)


# -- the real console script --------------------------------------------------------------
def _script() -> str:
    exe = shutil.which("dsreg", path=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""))
    if exe is None:
        pytest.skip("the dsreg console script is not installed")
    return exe


def _env() -> dict:
    env = {k: v for k, v in os.environ.items() if k != "DSREG_DIR"}
    env["DSREG_AUTHOR"] = "Script <script@example.com>"
    return env


def test_console_script_exit_codes_and_quiet_stderr(tmp_path):
    dsreg_exe = _script()
    data = write(tmp_path / "v1.parquet", V1)

    def sh(*args, code=0):
        proc = subprocess.run([dsreg_exe, *args], cwd=tmp_path, env=_env(), capture_output=True, text=True,
                              timeout=120)
        assert proc.returncode == code, (proc.stdout, proc.stderr)
        return proc
    sh("init")
    proc = sh("commit", "reviews", data, "-m", "first")
    assert proc.stdout.startswith("[main ") and proc.stderr == ""      # no progress on a pipe
    proc = sh("checkout", "reviews", "-o", "out")
    assert proc.stderr == "" and (tmp_path / "out" / "train" / "part-00000.parquet").is_file()
    proc = sh("log", "nope", code=1)
    assert proc.stdout == "" and proc.stderr == (
        "Error: unknown dataset 'nope'; run 'dsreg ls' to see the datasets\n")
    proc = sh("branch", "reviews", "-d", "main", code=2)
    assert proc.stderr == "Error: the main branch cannot be deleted\n"
    proc = sh("log", code=2)
    assert "Missing argument" in proc.stderr
    assert sh("--version").stdout == f"dsreg {dsreg.__version__}\n"


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
def test_console_script_draws_progress_on_a_terminal(tmp_path):
    dsreg_exe = _script()
    data = write(tmp_path / "v1.parquet", V1)
    subprocess.run([dsreg_exe, "init"], cwd=tmp_path, env=_env(), check=True, capture_output=True)
    out, shown = on_a_terminal(dsreg_exe, ["commit", "reviews", str(data)], tmp_path, _env())
    assert "commit train [##############################] 100% 3/3 rows" in shown   # the total: from the footer
    assert "commit train" not in out


# -- diff / fsck / gc (against dsreg.diff.compare and dsreg.maintenance.fsck) ----------------------------
class _FakeManifest:
    def has_dataset(self, name):
        return name in {"reviews", "org/reviews"}


class _FakeReg:
    manifest = _FakeManifest()


def test_diff_argument_classification(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "folder").mkdir()
    (tmp_path / "a.parquet").write_bytes(b"")
    reg = _FakeReg()
    target = cli_mod._diff_target
    assert target(reg, ()) == (None, None)
    assert target(reg, ("reviews@v2",)) == ("reviews@v2", None)
    assert target(reg, ("reviews",)) == ("reviews", None)
    assert target(reg, ("org/reviews",)) == ("org/reviews", None)
    assert target(reg, ("a.parquet",)) == (None, {"train": ["a.parquet"]})
    assert target(reg, ("missing.csv",)) == (None, {"train": ["missing.csv"]})
    assert target(reg, ("folder", "test=x.csv", "train=a.parquet")) == (
        None, {"train": ["folder", "a.parquet"], "test": ["x.csv"]})
    with pytest.raises(dsreg.DsregError, match="neither a dataset nor a file or folder"):
        target(reg, ("typo",))
    with pytest.raises(dsreg.errors.UsageError, match="give one revision NAME@B, or only paths"):
        target(reg, ("a.parquet", "reviews@v2"))
    with pytest.raises(dsreg.errors.UsageError):
        target(reg, ("reviews@v1", "reviews@v2"))


def test_diff_two_versions(registry, two_commits):
    v1, v2 = two_commits["v1"], two_commits["v2"]
    out = run("diff", "reviews@v1", "reviews@main").stdout
    lines = out.splitlines()
    assert lines[:2] == [f"--- reviews@v1 ({v1[:12]})", f"+++ reviews@main ({v2[:12]})"]
    assert "train: +1 -0 ~1 =2" in lines            # keys recorded by the first commit apply
    plain = run_json("diff", "reviews@v1", "reviews@main", "--no-key")
    assert plain["keys"] == [] and plain["splits"]["train"]["modified"] == 0
    assert (plain["splits"]["train"]["added"], plain["splits"]["train"]["removed"]) == (2, 1)
    assert run_json("diff", "reviews@v1", "reviews@main")["keys"] == ["id"]
    doc = run_json("diff", "reviews@v1", "reviews@main", "--key", "id")
    assert {"schema", "splits", "rows"} <= set(doc)
    assert doc["from"] == v1 and doc["to"] == v2
    train = doc["splits"]["train"]
    assert (train["added"], train["removed"], train["modified"]) == (1, 0, 1)
    assert doc["splits"]["test"]["added"] == doc["splits"]["test"]["removed"] == 0
    same = run_json("diff", "reviews@v1", "@v1")       # @REV: another revision of the same dataset
    assert all(s["added"] == s["removed"] == s["modified"] == 0 for s in same["splits"].values())
    assert run("diff", "reviews@v1", "reviews@v1").stdout.splitlines()[-1] == "no changes"


def test_diff_without_key_counts_an_edit_twice(registry, data):
    run("commit", "plain", data["v1"])
    run("commit", "plain", data["v2"])
    train = run_json("diff", "plain@main~1", "plain@main")["splits"]["train"]
    assert (train["added"], train["removed"], train["modified"]) == (2, 1, 0)


def test_diff_one_version_is_against_its_parent(registry, two_commits):
    alone, both = run_json("diff", "reviews"), run_json("diff", "reviews@v1", "reviews@main")
    assert alone["from"] == two_commits["v1"] and alone["to"] == two_commits["v2"]
    assert alone["splits"] == both["splits"] and alone["schema"] == both["schema"]
    first = run_json("diff", "reviews@v1")
    assert first["from"] is None and first["splits"]["train"]["added"] == 3


def test_diff_rows_stat_schema(registry, two_commits):
    doc = run_json("diff", "reviews@v1", "reviews", "--key", "id", "--rows", "--limit", "1")
    assert len(doc["rows"]) == 1 and doc["rows_truncated"] is True     # 2 changed, 1 listed
    assert {r["op"] for r in run_json("diff", "reviews@v1", "reviews", "--key", "id", "--rows")["rows"]} == \
        {"added", "modified"}
    full = run("diff", "reviews@v1", "reviews", "--rows").stdout.splitlines()
    assert full[2:] == ["test: +0 -0 ~0 =2", "train: +1 -0 ~1 =2", "rows of train:",
                        '  ~ id=2: label "neg" -> "pos"', '  + {"id": 4, "label": "neg"}']
    stat = run("diff", "reviews@v1", "reviews", "--stat").stdout.splitlines()
    assert stat[2:] == ["test: +0 -0 ~0 =2", "train: +1 -0 ~1 =2"]
    assert run("diff", "reviews@v1", "reviews", "--schema").stdout.splitlines()[2:] == []


def test_diff_against_files(registry, two_commits, data, tmp_path):
    doc = run_json("diff", "reviews@v1", f"train={data['v2']}", "--key", "id")
    train = doc["splits"]["train"]
    assert (train["added"], train["removed"], train["modified"]) == (1, 0, 1)
    wider = write(tmp_path / "wider.parquet", V1.append_column("score", pa.array([0.1, 0.2, 0.3])))
    doc = run_json("diff", "reviews@v1", wider)
    assert "score" in json.dumps(doc["schema"]["added"])


def test_diff_errors(registry, two_commits):
    fails("diff", "nope@v1", "nope@v2", says="unknown dataset 'nope'")
    fails("diff", "reviews@v1", "reviews@nope", says="unknown revision 'reviews@nope'")
    fails("diff", "reviews@v1", "typo", says="'typo' is neither a dataset nor a file or folder")
    fails("diff", "reviews@v1", "missing.parquet", says="no such file or folder: missing.parquet")
    fails("diff", "reviews@v1", "reviews@main", "x.csv", code=2, says="give one revision NAME@B, or only paths")
    misuse("diff", "reviews", "--limit", "-3", says="--limit")


def test_fsck_ok(registry, two_commits):
    lines = run("fsck").stdout.splitlines()
    assert re.fullmatch(r"checked \d+ objects \([\d.]+ (B|KiB)\): no problems found", lines[-1]), lines
    assert all(line.startswith("note: ") for line in lines[:-1]), lines
    doc = run_json("fsck")
    assert doc["ok"] is True and doc["problems"] == [] and doc["checked_objects"] > 0


def _corrupt_one_object(registry) -> None:
    objects = sorted(p for p in (registry.dir / "objects").rglob("*") if p.is_file())
    victim = max(objects, key=lambda p: p.stat().st_size)
    os.chmod(victim, 0o644)
    victim.write_bytes(b"not what it was" + victim.read_bytes()[15:])


def test_fsck_finds_corruption(registry, two_commits):
    _corrupt_one_object(registry)
    result = run("fsck", code=1)
    assert "problem: " in result.stdout and "no problems found" not in result.stdout
    assert re.fullmatch(r"Error: fsck found \d+ problems?\n", result.stderr), result.stderr
    result = run("fsck", "--json", code=1)
    doc = json.loads(result.stdout)
    assert doc["ok"] is False and doc["problems"]


def test_gc(registry, two_commits):
    before = run_json("gc", "--dry-run")
    assert set(before) >= {"deleted_objects", "deleted_bytes"} and before["dry_run"] is True
    oid, _ = registry.store.put(b"an object no version uses")
    old = 1_000_000_000
    os.utime(registry.store.path(oid), (old, old))       # older than gc's grace period
    n = before["deleted_objects"] + 1
    out = run("gc", "--dry-run").stdout
    assert out.splitlines()[0] == f"would delete {n} object{'s' if n > 1 else ''} " \
                                  f"({before['deleted_bytes'] + 25} B)"
    assert registry.store.has(oid)
    doc = run_json("gc")
    assert doc["deleted_objects"] == n and doc["deleted_bytes"] == before["deleted_bytes"] + 25
    assert not registry.store.has(oid)
    assert run("gc").stdout.splitlines()[0] == "deleted 0 objects (0 B)"
    run("fsck")


def test_gc_spares_recent_garbage(registry, two_commits):
    before = run_json("gc", "--dry-run")["skipped_recent"]
    oid, _ = registry.store.put(b"young garbage")
    out = run("gc").stdout
    assert out.splitlines()[1] == (f"kept {before + 1} unreachable object(s) written too recently "
                                   "to be sure no commit is about to use them")
    assert registry.store.has(oid)


# -- terminal safety: text from outside is shown escaped -----------------------------
EVIL = "\x1b]0;pwned\x07\x1b[2J\x9b31m\rover\u202eevil\x08"


def _raw_controls(text: str) -> list[str]:
    """Characters a terminal would act on: C0 (but newline and tab), DEL, C1, bidi controls."""
    return [c for c in text if (ord(c) < 32 and c not in "\n\t") or 0x7f <= ord(c) <= 0x9f
            or c in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"]


def test_messages_authors_names_and_metadata_from_outside_are_escaped(registry, data):
    """As a remote's commits could carry them: log, show, ls and branch print every
    control and bidi character escaped; --json stays exact JSON with them escaped too."""
    registry.commit("reviews", {"train": V1}, message=f"first {EVIL}\nsecond line {EVIL}",
                    author=f"Mallory {EVIL} <m@example.com>", metadata={"note": EVIL})
    head = registry.resolve("reviews")
    with registry.manifest.transaction():     # a name an older dsreg accepted
        registry.manifest.set_ref("reviews", "branch", "b\x9bx\u202e", head, None, "older dsreg")
    outputs = {args: run(*args).stdout for args in (
        ("log", "reviews"), ("log", "reviews", "--oneline"), ("show", "reviews"), ("ls",), ("branch", "reviews"))}
    for args, out in outputs.items():
        assert _raw_controls(out) == [], (args, ascii(out))
    assert "first \\x1b]0;pwned\\x07\\x1b[2J\\x9b31m" in outputs[("log", "reviews")]
    assert "over\\u202eevil\\x08" in outputs[("log", "reviews")]       # after '\\r', which splits lines
    assert "Mallory \\x1b]0;pwned" in outputs[("show", "reviews")]
    assert "b\\x9bx\\u202e" in outputs[("ls",)] and "b\\x9bx\\u202e" in outputs[("branch", "reviews")]
    for args in (("log", "reviews"), ("show", "reviews"), ("ls",)):
        out = run(*args, "--json").stdout
        assert _raw_controls(out) == [], (args, ascii(out))
        json.loads(out)
    assert json.loads(run("log", "reviews", "--json").stdout)[0]["message"] == f"first {EVIL}\nsecond line {EVIL}"
    assert json.loads(run("show", "reviews", "--json").stdout)["metadata"]["note"] == EVIL


def test_an_error_line_escapes_what_it_quotes(registry, data):
    """A message built from outside text (a file name here) cannot drive the terminal."""
    bad = data["dir"] / "x\x1b[2J\x9b.parquet"
    line = fails("commit", "reviews", str(bad), says="no such file")
    assert _raw_controls(line) == [], ascii(line)


@pytest.mark.parametrize("where", ["command", "registry"])
def test_ctrl_c_prints_one_line_and_exits_130(registry, data, monkeypatch, where):
    import dsreg.registry
    from dsreg import porcelain

    def interrupted(*a, **kw):
        raise KeyboardInterrupt
    if where == "command":
        monkeypatch.setattr(porcelain, "commit", interrupted)
    else:
        monkeypatch.setattr(dsreg.registry.Registry, "__init__", interrupted)
    result = run("commit", "reviews", data["v1"], code=130)
    assert result.stderr == "Interrupted\n" and result.stdout == ""
