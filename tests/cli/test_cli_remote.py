"""The sharing commands (remote, push, fetch, pull, clone) against a folder and moto's S3 server."""
from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import click
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dsreg.cli import cli
from dsreg.store import LocalStore
from helpers.cli import fails, misuse, on_a_terminal, run, run_json, write
from helpers.proxy import Proxy
from helpers.s3 import new_bucket

V1 = pa.table({"id": [1, 2, 3], "label": ["pos", "neg", "pos"]})
V2 = pa.table({"id": [1, 2, 3, 4], "label": ["pos", "pos", "pos", "neg"]})
TEST = pa.table({"id": [10, 11], "label": ["neg", "pos"]})
DOCS = Path(__file__).resolve().parents[2] / "docs"


# argument handling and output shapes do not depend on the store: run those against a folder only
folder_only = pytest.mark.parametrize("remote_spec", ["file"], indirect=True)


def endpoint(spec) -> list[str]:
    return ["--endpoint-url", spec.endpoint_url] if spec.endpoint_url else []


@pytest.fixture
def data(registry, tmp_path):
    d = tmp_path / "data"
    return {"v1": write(d / "v1.parquet", V1), "v2": write(d / "v2.parquet", V2),
            "test": write(d / "test.parquet", TEST)}


@pytest.fixture
def origin(registry, remote_spec):
    """The project's registry with `origin` set to an empty remote (a folder, or S3)."""
    run("remote", "add", "origin", remote_spec.url, *endpoint(remote_spec))
    return remote_spec


@pytest.fixture
def pushed(registry, origin, data):
    """reviews v1 (train + test, tagged v1) committed and pushed to origin."""
    run("commit", "reviews", f"train={data['v1']}", f"test={data['test']}", "-m", "first")
    run("tag", "reviews", "v1")
    run("push")
    return registry.resolve("reviews")


@pytest.fixture
def elsewhere(tmp_path, monkeypatch):
    """A working folder with no registry above it."""
    d = tmp_path / "elsewhere"
    d.mkdir()
    monkeypatch.chdir(d)
    return d


def clone_to(spec, folder: Path) -> Path:
    run("clone", spec.url, str(folder), *endpoint(spec))
    return folder


def in_(folder: Path, *args: str, **kw):
    return run("--registry", str(folder), *args, **kw)


# -- remote add | list | remove ---------------------------------------------------------------
def test_remote_add_list_remove(registry, remote_spec):
    url, ep = remote_spec.url, remote_spec.endpoint_url
    result = run("remote", "add", "origin", url, *endpoint(remote_spec))
    assert result.stdout == (f"added remote origin: {url}" + (f" (endpoint {ep})" if ep else "") + "\n"
                             "conditional writes: yes (refs move by compare-and-swap)\n")
    assert result.stderr == ""
    doc = run_json("remote", "add", "backup", url, *endpoint(remote_spec))
    assert doc == {"name": "backup", "url": url, "endpoint_url": ep, "conditional_writes": True}
    suffix = f"  endpoint {ep}" if ep else ""
    assert run("remote", "list").stdout == f"backup  {url}{suffix}\norigin  {url}{suffix}\n"
    assert run_json("remote", "list") == [
        {"name": "backup", "url": url, "endpoint_url": ep, "conditional_writes": True},
        {"name": "origin", "url": url, "endpoint_url": ep, "conditional_writes": True}]
    fails("remote", "add", "origin", url, code=2, says="remote 'origin' already exists")
    fails("remote", "add", "a..b", url, code=2, says="invalid remote name 'a..b'")
    fails("remote", "add", "x", "ftp://host/path", code=2, says="unsupported remote URL 'ftp://host/path'")
    assert run("remote", "remove", "backup").stdout == "removed remote backup\n"
    fails("remote", "remove", "backup", code=2, says="unknown remote 'backup'; run 'dsreg remote list'")
    assert run_json("remote", "remove", "origin") == {"removed": "origin"}
    assert run("remote", "list").stdout == "no remotes yet; add one with 'dsreg remote add NAME URL'\n"
    assert run_json("remote", "list") == []
    misuse("remote", "add", "only-a-name", says="Missing argument 'URL'")


def test_remote_add_warns_when_the_store_ignores_conditional_writes(registry, s3_endpoint):
    url = f"s3://{new_bucket(s3_endpoint)}/p"
    with Proxy(s3_endpoint, drop=("If-Match", "If-None-Match")) as proxy:
        result = run("remote", "add", "lax", url, "--endpoint-url", proxy.url)
    assert result.stdout.splitlines()[1] == "conditional writes: no"
    assert result.stderr == (f"Warning: {url} ignores conditional writes (If-Match / If-None-Match), so "
                             "concurrent pushes could overwrite each other; dsreg will not push refs to lax "
                             "(reading from it works)\n")
    assert run_json("remote", "list")[0]["conditional_writes"] is False
    assert run("remote", "list").stdout.endswith("(no conditional writes: read only)\n")


# -- push ---------------------------------------------------------------------------------------
def test_push_json_counts_and_a_second_push_uploads_nothing(registry, origin, data):
    run("commit", "reviews", f"train={data['v1']}", f"test={data['test']}", "-m", "first")
    run("tag", "reviews", "v1")
    v1 = registry.resolve("reviews")
    doc = run_json("push")
    assert {"uploaded_objects", "uploaded_bytes", "skipped_objects"} <= set(doc)
    assert doc["remote"] == "origin" and doc["skipped_objects"] == 0
    assert doc["uploaded_objects"] > 0 and doc["uploaded_bytes"] > 0
    assert sorted((r["name"], r["kind"], r["commit"], r["was"]) for r in doc["refs"]) == [
        ("main", "branch", v1, None), ("v1", "tag", v1, None)]
    again = run_json("push")
    assert (again["uploaded_objects"], again["uploaded_bytes"], again["refs"]) == (0, 0, [])
    assert run("push").stdout == "origin is up to date\nuploaded 0 objects (0 B), skipped 0\n"

    run("commit", "reviews", data["v2"], "-m", "second")
    v2 = registry.resolve("reviews")
    lines = run("push", "origin", "reviews@main").stdout.splitlines()
    assert lines[0] == f"reviews@main: {v1[:12]}..{v2[:12]}"
    assert re.fullmatch(r"uploaded [1-9]\d* objects \([\d.]+ (B|KiB)\), skipped [1-9]\d*", lines[1]), lines
    assert len(lines) == 2


@folder_only
def test_push_names_new_refs_and_reads_one_argument_as_remote_or_dataset(registry, origin, data):
    run("commit", "reviews", data["v1"])
    run("commit", "other", data["v2"])
    reviews, other = registry.resolve("reviews"), registry.resolve("other")
    lines = run("push", "reviews").stdout.splitlines()            # a dataset: only its refs
    assert lines[0] == f"reviews@main: (new branch) {reviews[:12]}"
    assert re.fullmatch(r"uploaded \d+ objects \(.*\), skipped 0", lines[1]) and len(lines) == 2
    run("tag", "reviews", "v1")
    assert run("push", "origin").stdout.splitlines()[:2] == [     # a remote: everything
        f"other@main: (new branch) {other[:12]}", f"reviews@v1: (new tag) {reviews[:12]}"]
    fails("push", "nosuch", code=2, says="'nosuch' is neither a remote nor a dataset")
    fails("push", "origin", "reviews@nobranch", code=2, says="no branch or tag 'nobranch' to push")


# -- clone, then use the clone ----------------------------------------------------------------
def test_clone_then_log_show_checkout(registry, origin, pushed, data, elsewhere):
    url = origin.url
    in_(registry.root, "commit", "reviews", data["v2"], "-m", "second")
    in_(registry.root, "push")
    v2, v1 = registry.resolve("reviews"), pushed
    result = run("clone", url, *endpoint(origin))
    folder = elsewhere / url.rstrip("/").rsplit("/", 1)[1]          # named like git names it
    assert result.stdout.splitlines() == [
        f"cloned {url} into {folder}",
        f"reviews@main: (new branch) {v2[:12]}",
        f"reviews@v1: (new tag) {v1[:12]}"] + result.stdout.splitlines()[3:]
    assert re.fullmatch(r"fetched 2 commits \(\d+ objects, [\d.]+ (B|KiB)\); the data arrives on first "
                        r"read, or with pull", result.stdout.splitlines()[3])
    assert result.stderr == ""
    assert [e["id"] for e in json.loads(in_(folder, "log", "reviews", "--json").stdout)] == [v2, v1]
    assert in_(folder, "log", "reviews").stdout == run("--registry", str(registry.root), "log", "reviews").stdout
    shown = json.loads(in_(folder, "show", "reviews@v1", "--json").stdout)
    assert shown["id"] == v1 and set(shown["splits"]) == {"train", "test"}
    in_(folder, "checkout", "reviews@v1", "-o", str(elsewhere / "out"))       # data fetched on demand
    assert pq.read_table(elsewhere / "out" / "train" / "part-00000.parquet").equals(V1)
    assert pq.read_table(elsewhere / "out" / "test" / "part-00000.parquet").equals(TEST)
    assert json.loads(in_(folder, "remote", "list", "--json").stdout)[0]["name"] == "origin"
    in_(folder, "fsck")


@folder_only
def test_clone_json(origin, pushed, elsewhere):
    doc = run_json("clone", origin.url, "copy", *endpoint(origin))
    assert doc["root"] == str(elsewhere / "copy") and doc["registry"] == str(elsewhere / "copy" / ".dsreg")
    assert doc["url"] == origin.url and doc["remote"] == "origin" and doc["commits"] == 1
    assert {(r["name"], r["commit"]) for r in doc["refs"]} == {("main", pushed), ("v1", pushed)}


# -- fetch and pull -----------------------------------------------------------------------------
def test_fetch_then_pull_fast_forward(registry, origin, pushed, data, tmp_path):
    other = clone_to(origin, tmp_path / "other")
    run("commit", "reviews", data["v2"], "-m", "second")
    run("push")
    v1, v2 = pushed, registry.resolve("reviews")
    lines = in_(other, "fetch").stdout.splitlines()
    assert lines[0] == f"reviews@main: {v1[:12]}..{v2[:12]}"
    assert re.fullmatch(r"fetched 1 commit from origin \(2 objects, .*\): metadata only; "
                        r"'dsreg pull origin NAME' brings the data", lines[1]), lines
    assert in_(other, "fetch", "origin").stdout == "origin has nothing new\n"
    assert json.loads(in_(other, "log", "reviews", "--json").stdout)[0]["id"] == v1   # fetch moved no branch
    lines = in_(other, "pull", "reviews").stdout.splitlines()
    assert lines[0] == f"reviews@main: fast-forward {v1[:12]}..{v2[:12]}"
    assert re.fullmatch(r"data: downloaded [1-9]\d* objects \(.*\)", lines[1]), lines
    doc = json.loads(in_(other, "pull", "origin", "reviews", "--json").stdout)
    assert (doc["status"], doc["commit"], doc["downloaded_objects"]) == ("up-to-date", v2, 0)
    assert in_(other, "pull", "reviews").stdout.splitlines()[0] == f"reviews@main: already up to date at {v2[:12]}"
    in_(other, "checkout", "reviews", "-o", str(tmp_path / "out"))
    assert pq.read_table(tmp_path / "out" / "train" / "part-00000.parquet").equals(V2)


def test_pull_of_a_commit_id_brings_that_version_and_moves_no_branch(registry, origin, pushed, data, tmp_path,
                                                                     monkeypatch):
    """What a dataset card prints, `dsreg pull origin NAME@<full commit id>`, works; so do a
    6+ character prefix and REV~N. The data arrives; no local branch moves."""
    run("commit", "reviews", data["v2"], "-m", "second")
    run("push")
    v1, v2 = pushed, registry.resolve("reviews")
    b = tmp_path / "b"
    run("init", str(b))
    in_(b, "remote", "add", "origin", origin.url, *endpoint(origin))
    lines = in_(b, "pull", "origin", f"reviews@{v1}").stdout.splitlines()
    assert lines[0] == f"reviews@{v1[:12]}: a commit, not a branch: no local branch moves; read it as reviews@{v1}"
    assert re.fullmatch(r"data: downloaded [1-9]\d* objects \(.*\)", lines[1]), lines
    assert json.loads(in_(b, "branch", "reviews", "--json").stdout) == {}       # no branch made or moved
    local = LocalStore(b / ".dsreg" / "objects")            # the data is here, not fetched on demand
    from dsreg.model.objects import get_commit, get_snapshot
    wanted = [o for sid in get_commit(registry, v1).splits.values()
              for ref in get_snapshot(registry, sid).shards for o in ref.objects()]
    assert wanted and all(local.has(o) for o in wanted)
    for spec, want in ((f"reviews@{v2[:6]}", v2), ("reviews@main~1", v1), (f"reviews@{v2[:10].upper()}~1", v1)):
        doc = json.loads(in_(b, "pull", spec, "--json").stdout)
        assert (doc["status"], doc["commit"], doc["ref"]) == ("pinned", want, None), spec
    in_(b, "checkout", f"reviews@{v1}", "-o", str(tmp_path / "out"))
    assert pq.read_table(tmp_path / "out" / "train" / "part-00000.parquet").equals(V1)
    # ids the remote's refs do not reach, ambiguous prefixes, history too short: one line, exit 1
    in_(b, "commit", "reviews", data["test"], "-m", "only here")
    local_only = json.loads(in_(b, "log", "reviews", "--json").stdout)[0]["id"]
    for rev in ("abcdef", local_only, local_only[:8]):
        assert in_(b, "pull", f"reviews@{rev}", code=1).stderr == \
            f"Error: remote origin has no branch, tag or commit {rev!r} in 'reviews'; give a branch, a tag, " \
            "or a commit id (6+ hex characters) that one of origin's branches or tags reaches\n"
    fails("pull", "reviews@main~5", says="unknown revision 'reviews@main~5': history has only 1 commit(s) before main")
    from dsreg.remote import transfer
    twins = [v1[:6] + "0" * 26, v1[:6] + "1" * 26]
    monkeypatch.setattr(transfer, "_known_history", lambda reg, tips: twins)
    fails("pull", f"reviews@{v1[:6]}", says=f"ambiguous revision 'reviews@{v1[:6]}': matches {twins[0][:12]}, ")


def test_diverged_push_and_pull_then_rebase(registry, origin, data, tmp_path):
    run("commit", "ds", data["v1"], "-m", "base")
    run("push")
    other = clone_to(origin, tmp_path / "other")
    in_(other, "commit", "ds", f"test={data['test']}", "-m", "theirs")
    in_(other, "push")
    run("commit", "ds", f"val={data['v2']}", "-m", "ours")
    ours = registry.resolve("ds")
    line = fails("push")
    assert line == "Error: remote main has commits you do not have; run 'dsreg pull origin ds@main'"
    line = fails("pull", "ds", says="ds@main has diverged from the remote")
    assert "pull --rebase" in line
    assert registry.resolve("ds") == ours                                   # nothing moved
    lines = run("pull", "--rebase", "origin", "ds").stdout.splitlines()
    rebased = registry.resolve("ds")
    assert lines[0] == f"ds@main: rebased your commits onto origin's: {ours[:12]}...{rebased[:12]}"
    assert run("push").stdout.splitlines()[0].startswith("ds@main: ")
    doc = json.loads(in_(other, "pull", "ds", "--json").stdout)
    assert (doc["status"], doc["commit"]) == ("fast-forward", rebased)
    assert set(json.loads(in_(other, "show", "ds", "--json").stdout)["splits"]) == {"train", "test", "val"}
    # they push again; --force replaces it, and says so
    in_(other, "commit", "ds", f"test={data['v1']}", "-m", "theirs again")
    in_(other, "push")
    theirs = json.loads(in_(other, "log", "ds", "-n", "1", "--json").stdout)[0]["id"]
    run("commit", "ds", f"val={data['v1']}", "-m", "forced")
    forced = registry.resolve("ds")
    assert run("push", "--force").stdout.splitlines()[0] == f"ds@main: {theirs[:12]}...{forced[:12]} (forced)"
    ahead = json.loads(run("pull", "ds", "--json").stdout)
    assert ahead["status"] == "up-to-date" and ahead["commit"] == forced


@folder_only
def test_pull_argument_errors(registry, origin, data):
    run("commit", "ds", data["v1"])
    run("push")
    misuse("pull", says="Missing argument 'NAME[@REV]'")
    misuse("pull", "origin", "ds", "extra", says="unexpected extra argument (extra)")
    fails("pull", "origin", code=2,
          says="pull needs the dataset to pull, after the remote: dsreg pull origin NAME[@REV]")
    fails("pull", "origin", "ds@nope", code=2, says="remote origin has no branch or tag 'nope' in 'ds'")


def test_unknown_remote_exits_2(registry, data):
    run("commit", "ds", data["v1"])
    fails("push", code=2, says="no remote configured; run 'dsreg remote add NAME URL'")
    for args in (["push", "nosuch", "ds"], ["fetch", "nosuch", "ds"], ["pull", "nosuch", "ds"],
                 ["remote", "remove", "nosuch"]):
        assert fails(*args, code=2) == "Error: unknown remote 'nosuch'; run 'dsreg remote list'"


# -- clone failures leave nothing behind ---------------------------------------------------------
def _break(spec) -> None:
    """Make the remote's only ref point at a commit it does not hold."""
    body = json.dumps({"commit": "0" * 32}).encode()
    if spec.kind == "file":
        ref = Path(spec.url[len("file://"):]) / "refs" / "ds@branch" / "main"
        ref.parent.mkdir(parents=True)
        ref.write_bytes(body)
    else:
        import boto3
        bucket, _, prefix = spec.url[len("s3://"):].partition("/")
        boto3.client("s3", endpoint_url=spec.endpoint_url).put_object(
            Bucket=bucket, Key=f"{prefix}/refs/ds@branch/main", Body=body)


def test_failed_clone_leaves_nothing(remote_spec, elsewhere):
    if remote_spec.kind == "file":
        missing = remote_spec.url + "-missing"
        fails("clone", missing, "c", says=f"remote folder {missing[len('file://'):]} does not exist")
    else:
        bucket = "no-such-bucket-" + os.urandom(4).hex()
        fails("clone", f"s3://{bucket}/p", "c", *endpoint(remote_spec),
              says=f"bucket '{bucket}' does not exist at {remote_spec.endpoint_url}")
    assert list(elsewhere.iterdir()) == []
    _break(remote_spec)       # now the failure comes after the registry was created
    fails("clone", remote_spec.url, "a/b/c", *endpoint(remote_spec), says="object 000000000000")
    assert list(elsewhere.iterdir()) == []
    (elsewhere / "empty").mkdir()
    fails("clone", remote_spec.url, "empty", *endpoint(remote_spec), says="is missing from")
    assert [p.name for p in elsewhere.iterdir()] == ["empty"] and not any((elsewhere / "empty").iterdir())
    (elsewhere / "full").mkdir()
    (elsewhere / "full" / "mine.txt").write_text("mine")
    fails("clone", remote_spec.url, "full", *endpoint(remote_spec),
          says=f"{elsewhere / 'full'} already exists and is not an empty folder")
    assert [p.name for p in (elsewhere / "full").iterdir()] == ["mine.txt"]


def test_clone_of_an_unreachable_endpoint(elsewhere, monkeypatch):
    """Refused at first contact: two attempts, not the eight (with backoff, most of a minute)
    that an endpoint which has answered before gets."""
    import urllib3.util.connection
    fake = {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y", "AWS_DEFAULT_REGION": "us-east-1"}
    for name, value in fake.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("DSREG_S3_MAX_ATTEMPTS", raising=False)
    attempts = []
    real = urllib3.util.connection.create_connection
    monkeypatch.setattr(urllib3.util.connection, "create_connection",
                        lambda address, *a, **kw: attempts.append(address) or real(address, *a, **kw))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]        # nothing listens here once the socket is closed
    fails("clone", "s3://bucket/team/data", "--endpoint-url", f"http://127.0.0.1:{port}",
          says=f"cannot reach http://127.0.0.1:{port}: EndpointConnectionError; check the endpoint URL")
    assert list(elsewhere.iterdir()) == []
    assert attempts == [("127.0.0.1", port)] * 2


def test_clone_needs_no_registry_and_a_folder_name(elsewhere):
    fails("clone", "file:///", code=2, says="cannot tell a folder name from 'file:///'; name one")
    fails("clone", "ftp://x/y", code=2, says="unsupported remote URL")
    (elsewhere / "file").write_text("x")
    misuse("clone", "file:///tmp/x", "file", says="is a file")


# -- progress on a terminal, and the docs --------------------------------------------------------
@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
def test_push_draws_a_bytes_bar_on_a_terminal(tmp_path):
    exe, env = _console_script()
    (tmp_path / "remote").mkdir()
    data = write(tmp_path / "v1.parquet", V1)
    for args in (["init"], ["commit", "reviews", data], ["remote", "add", "origin", f"file://{tmp_path / 'remote'}"]):
        subprocess.run([exe, *args], cwd=tmp_path, env=env, check=True, capture_output=True, timeout=120)
    out, err = on_a_terminal(exe, ["push"], tmp_path, env)
    assert re.search(r"\rpush \[#{30}\] 100% (\d+)/\1 objects, ([\d.]+)/\2 (B|KiB)", err), err
    assert out.startswith("reviews@main: (new branch) ")


def _console_script() -> tuple[str, dict]:
    """The installed `dsreg` and an environment for it (no DSREG_DIR, a fixed author)."""
    exe = shutil.which("dsreg", path=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""))
    if exe is None:
        pytest.skip("the dsreg console script is not installed")
    env = {k: v for k, v in os.environ.items() if k != "DSREG_DIR"}
    env["DSREG_AUTHOR"] = "Script <script@example.com>"
    return exe, env


def _last_frames(stderr: str) -> list[str]:
    """The final state of each bar drawn: the last redraw on each line (a terminal turns
    each newline into \\r\\n)."""
    frames = [[f.replace("\x1b[K", "") for f in line.split("\r") if f.strip()] for line in stderr.split("\n")]
    return [line[-1] for line in frames if line]


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
def test_transfer_bars_end_at_their_totals_and_nothing_moving_draws_nothing(tmp_path):
    exe, env = _console_script()
    project, remote = tmp_path / "project", tmp_path / "remote"
    project.mkdir()
    remote.mkdir()
    v1, v2 = write(tmp_path / "v1.parquet", V1), write(tmp_path / "v2.parquet", V2)

    def piped(*args, cwd=project):
        proc = subprocess.run([exe, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0 and proc.stderr == "", (args, proc.stderr)      # no bar on a pipe
        return proc.stdout

    def shown(*args, cwd=project):
        return on_a_terminal(exe, list(args), cwd, env)
    for args in (["init"], ["commit", "reviews", v1], ["remote", "add", "origin", f"file://{remote}"]):
        piped(*args)
    piped("push")
    piped("commit", "reviews", v2)
    out, err = shown("push")
    count, uploaded = re.search(r"uploaded (\d+) objects \((.*)\)", out).groups()
    number, unit = uploaded.split()
    frames = _last_frames(err)        # every object and byte counted:
    assert frames == [f"push [{'#' * 30}] 100% {count}/{count} objects, {number}/{number} {unit}"], (frames, out)
    drawn = [f.replace("\x1b[K", "") for f in err.split("\r") if f.strip()]
    # both totals, from the first frame on
    assert all(re.search(rf"\d+/{count} objects, [\d.]+/{number} {unit}$", f) for f in drawn), drawn
    assert shown("push") == ("origin is up to date\nuploaded 0 objects (0 B), skipped 0\n", "")  # no "push: 0 B"

    assert piped("clone", f"file://{remote}", str(tmp_path / "quiet"), cwd=tmp_path).startswith("cloned ")
    out, err = shown("clone", f"file://{remote}", str(tmp_path / "clone"), cwd=tmp_path)
    assert "fetched 2 commits (4 objects, " in out
    frames = _last_frames(err)
    # how many commits there are is known only at the end, and snapshot sizes only on arrival
    assert len(frames) == 2 and re.fullmatch(r"fetch: 2 commits, \d+ B", frames[0]), frames
    assert re.fullmatch(r"fetch \[#{30}\] 100% 2/2 snapshots, [\d.]+ (B|KiB)", frames[1]), frames
    clone = tmp_path / "clone"
    out, err = shown("pull", "reviews", cwd=clone)
    frames = _last_frames(err)
    assert len(frames) == 2 and re.fullmatch(r"pull \[#{30}\] 100% 2/2 shard indexes, [\d.]+ (B|KiB)", frames[0]), \
        frames
    assert re.fullmatch(r"pull \[#{30}\] 100% 4/4 objects, ([\d.]+)/\1 (B|KiB)", frames[1]), frames
    out, err = shown("pull", "reviews", cwd=clone)
    assert "already up to date" in out and err == ""        # nothing to download: no "pull: 0 B"
    piped("fetch", cwd=tmp_path / "quiet")
    piped("pull", "reviews", cwd=tmp_path / "quiet")


def test_a_transfer_line_shows_objects_and_bytes_done_of_total():
    import io

    from dsreg.cli.util import TerminalProgress
    stream = io.StringIO()
    p = TerminalProgress(stream)
    p.start_transfer("push", 4, 8 << 20)
    p.advance_transfer(1, 2 << 20)
    p.finish()
    p.start_transfer("fetch", 3, None, "snapshots")       # sizes unknown: the bar follows the count
    p.advance_transfer(1, 700)
    p.finish()
    p.start_transfer("fetch", None, None, "commits")      # nothing known ahead: counted
    p.advance_transfer(2, 1500)
    p.finish()
    lines = [line.split("\r")[-1].replace("\x1b[K", "") for line in stream.getvalue().split("\n")[:-1]]
    assert lines == [f"push [{'#' * 7}{' ' * 23}]  25% 1/4 objects, 2.0/8.0 MiB",
                     f"fetch [{'#' * 10}{' ' * 20}]  33% 1/3 snapshots, 700 B",
                     "fetch: 2 commits, 1.5 KiB"]


@folder_only
def test_an_object_missing_from_a_folder_remote_is_named_so(registry, origin, pushed, tmp_path):
    from dsreg.model.objects import get_commit, get_snapshot
    shard = get_snapshot(registry, get_commit(registry, pushed).splits["train"]).shards[0].id
    (Path(origin.url[len("file://"):]) / "objects" / shard[:2] / shard[2:]).unlink()
    other = clone_to(origin, tmp_path / "other")
    line = fails("--registry", str(other), "pull", "reviews")
    assert line.startswith(f"Error: object {shard} is missing from {origin.url}; run 'dsreg fsck --remote"), line


def test_every_command_in_the_remotes_doc_is_valid(monkeypatch):
    """Parse each `dsreg ...` line of docs/remotes.md with the real CLI, running nothing."""
    called = []
    for command in [*cli.commands.values(), *cli.commands["remote"].commands.values()]:
        if not isinstance(command, click.Group):
            monkeypatch.setattr(command, "callback", lambda _name=command.name, **kw: called.append((_name, kw)))
    block = re.search(r"```bash\n(.*?)```", (DOCS / "remotes.md").read_text(), flags=re.S).group(1)
    lines = [line.split("#")[0].split() for line in block.splitlines() if line.startswith("dsreg ")]
    assert len(lines) >= 9
    for argv in lines:
        result = run(*argv[1:])
        assert result.stdout == "" and result.stderr == "", argv
    assert [name for name, _ in called] == [argv[1] if argv[1] != "remote" else argv[2] for argv in lines]
    pulls = [kw["args"] for name, kw in called if name == "pull"]
    assert pulls and all(1 <= len(args) <= 2 for args in pulls)
