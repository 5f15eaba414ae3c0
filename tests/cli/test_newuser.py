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
