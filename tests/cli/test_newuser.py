"""What a new user tripped over (issue 11): each fixed, each shown here."""
from __future__ import annotations

import os
import subprocess
import sys

import pyarrow as pa

import dsreg
from dsreg.remote import transfer


def test_clone_accepts_a_plain_folder_path(registry, tmp_path, monkeypatch):
    registry.commit("ds", pa.table({"x": [1, 2, 3]}), message="one")
    (tmp_path / "shared").mkdir()
    transfer.add_remote(registry, "origin", (tmp_path / "shared").as_uri())
    registry.push()
    monkeypatch.chdir(tmp_path)
    other, _ = dsreg.Registry.clone("shared", tmp_path / "copy")      # a path, as git takes one
    with other:
        assert other.load("ds")["x"].to_pylist() == [1, 2, 3]
        assert other.manifest.remote("origin").url == (tmp_path / "shared").as_uri()


def test_a_closed_pipe_exits_0_quietly(registry, tmp_path):
    for i in range(40):
        # long messages: more output than a pipe buffers, so the writer meets the closed end
        registry.commit("ds", pa.table({"x": [i]}), message=f"commit {i}\n\n" + "words " * 600)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.run(f"{sys.executable} -m dsreg.cli log ds | head -1; exit ${{PIPESTATUS[0]}}",
                          shell=True, executable="/bin/bash", cwd=registry.root, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("commit ") and proc.stderr == ""


def test_hints_for_a_revision_without_name_and_a_misspelt_dataset(registry):
    from click.testing import CliRunner

    from dsreg.cli import cli
    registry.commit("reviews", pa.table({"x": [1]}), message="one")
    registry.tag("reviews", "v1")
    run = CliRunner().invoke
    r = run(cli, ["diff", "reviews", "v1"])
    assert r.exit_code == 1 and "did you mean reviews@v1?" in r.output
    r = run(cli, ["log", "review"])
    assert r.exit_code == 1 and "unknown dataset 'review'; did you mean 'reviews'?" in r.output


def test_commit_author_option_wins_over_the_environment(registry, tmp_path):
    from click.testing import CliRunner

    from dsreg.cli import cli
    pa_path = tmp_path / "x.csv"
    pa_path.write_text("x\n1\n")
    r = CliRunner().invoke(cli, ["commit", "ds", str(pa_path), "--author", "Ada <ada@example.com>"])
    assert r.exit_code == 0, r.output
    assert registry.log("ds")[0].author == "Ada <ada@example.com>"    # DSREG_AUTHOR is set too


def test_show_begins_with_the_header_log_prints(registry):
    from tests.helpers.cli import run
    registry.commit("reviews", pa.table({"x": [1]}), message="one")
    registry.tag("reviews", "v1")
    registry.commit("reviews", pa.table({"x": [2]}), message="two")
    for rev in ("reviews", "reviews@v1"):
        log = run("log", rev).stdout.split("\n\n    ")[0]         # the newest entry's header
        show = run("show", rev).stdout
        assert show.startswith(log + "\n\n    "), (log, show)
    assert run("show", "reviews").stdout.splitlines()[0].endswith(" (main)")
    assert run("show", "reviews@v1").stdout.splitlines()[0].endswith(" (tag: v1)")
    assert "dataset: reviews" in run("show", "reviews").stdout.splitlines()


def test_card_json_prints_the_card_fields(registry, tmp_path):
    import json

    from tests.helpers.cli import misuse, run
    registry.commit("reviews", pa.table({"x": [1, 2]}), message="one")
    doc = json.loads(run("card", "reviews", "--json").stdout)
    assert doc == json.loads(run("card", "reviews", "--format", "json").stdout)
    assert doc["dataset"] == "reviews" and doc["commit"] == registry.resolve("reviews")
    set_doc = run("card", "reviews", "--set", "license=mit", "--json")
    assert json.loads(set_doc.stdout)["commit"] == registry.resolve("reviews")    # the new commit's card
    assert "card fields recorded" in set_doc.stderr
    misuse("card", "reviews", "--json", "-o", str(tmp_path / "c.json"), says="--json prints the card on stdout")
    misuse("card", "reviews", "--json", "--format", "md", says="--json prints the card on stdout")


def test_remote_add_works_offline_and_check_refuses_what_it_cannot_reach(registry, monkeypatch):
    from tests.helpers.cli import fails, run, run_json
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    out = run("remote", "add", "origin", "s3://team/reg").stdout        # no credentials at all
    assert out.splitlines()[1] == ("conditional writes: not probed (no AWS credentials found for s3://team/reg); "
                                   "probed before the first push")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "y")
    doc = run_json("remote", "add", "lab", "s3://team/reg", "--endpoint-url", "http://127.0.0.1:1")   # no network
    assert doc["conditional_writes"] is None and "cannot reach http://127.0.0.1:1" in doc["not_probed"]
    fails("remote", "add", "strict", "s3://team/reg", "--endpoint-url", "http://127.0.0.1:1", "--check",
          says="cannot reach http://127.0.0.1:1")
    assert [r["name"] for r in run_json("remote", "list")] == ["lab", "origin"]     # strict was not added
    registry.commit("ds", pa.table({"x": [1]}), message="one")
    fails("push", "lab", says="cannot reach http://127.0.0.1:1")     # probed, and refused, at the first push
    assert registry.manifest.remote("lab").cas_ok is None


def test_pull_tells_what_moved_refs_then_data(registry, tmp_path):
    from tests.helpers.cli import run
    registry.commit("ds", pa.table({"x": [1, 2, 3]}), message="one")
    (tmp_path / "shared").mkdir()
    transfer.add_remote(registry, "origin", (tmp_path / "shared").as_uri())
    registry.push()
    head = registry.resolve("ds")
    run("clone", (tmp_path / "shared").as_uri(), str(tmp_path / "copy"))
    at = ("--registry", str(tmp_path / "copy"))
    first = run(*at, "pull", "ds").stdout.splitlines()
    # the ref came with the clone, the data only now: both said, neither contradicting the other
    assert first[0] == f"ds@main: already up to date at {head[:12]}"
    assert first[1].startswith("data: downloaded ") and " 0 objects" not in first[1]
    assert run(*at, "pull", "ds").stdout.splitlines()[1] == "data: every object was here already; downloaded nothing"
    pinned = run(*at, "pull", f"ds@{head[:8]}").stdout.splitlines()
    assert pinned == [f"ds@{head[:12]}: a commit, not a branch: no local branch moves; read it as ds@{head}",
                      "data: every object was here already; downloaded nothing"]


def test_progress_bars_fit_a_narrow_terminal_and_show_totals(tmp_path):
    import re

    import pyarrow.parquet as pq
    from tests.helpers.cli import on_a_terminal
    rows = 300_000
    pq.write_table(pa.table({"x": range(rows), "s": [str(i) for i in range(rows)]}), tmp_path / "a.parquet")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "DSREG_AUTHOR": "A <a@example.com>"}
    env.pop("DSREG_DIR", None)
    cli = [sys.executable, "-m", "dsreg.cli"]
    subprocess.run([*cli, "init", str(tmp_path / "reg")], env=env, check=True, capture_output=True)
    shown_at = {}
    for columns in (60, 40, 24):
        env["COLUMNS"] = str(columns)
        _, shown = on_a_terminal(cli[0], [*cli[1:], "commit", f"d{columns}", str(tmp_path / "a.parquet")],
                                 tmp_path / "reg", env)
        frames = [f.replace("\x1b[K", "") for f in re.split(r"[\r\n]+", shown) if f.strip()]
        assert frames and all(len(f) < columns for f in frames), frames     # nothing wraps
        shown_at[columns] = [f for f in frames if f.startswith("commit train")][-1]
    # the total comes from the Parquet footer: a percentage and done/total, as room allows
    assert re.fullmatch(r"commit train \[#{10,}\] 100% 300,000/300,000 rows", shown_at[60]), shown_at
    assert shown_at[40] == "commit train 100% 300,000/300,000 rows"
    assert shown_at[24] == "commit train 100%"


def test_terminal_progress_fits_columns(monkeypatch):
    import io

    from dsreg.cli.util import TerminalProgress
    for columns in ("100", "40", "20", "8"):
        monkeypatch.setenv("COLUMNS", columns)
        stream = io.StringIO()
        p = TerminalProgress(stream)
        p.start("checkout train", 2_000_000)
        p.advance(1_000_000)
        p.finish()
        frames = [f.replace("\x1b[K", "") for f in stream.getvalue().replace("\n", "\r").split("\r") if f]
        assert all(len(f) < int(columns) for f in frames), frames
        assert "50%" in frames[-1] or int(columns) < 30
    assert frames  # the narrowest still draws something
