"""The DVC bridge (import-dvc, export-dvc, remote add --from-dvc) against real git
repositories with real DVC: a local DVC remote folder, and moto's S3 server as a DVC remote.

The history (tests/dvcrepos.py) has a Parquet file, a CSV file and a folder, each with
three revisions on main's first-parent line, commits that change no data, a merged branch,
and annotated and lightweight tags.
"""
from __future__ import annotations

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
import yaml

from dsreg import porcelain
from helpers.cli import fails, misuse, run, run_json
from helpers.dvcrepos import (
    ALICE,
    BOB,
    DAVE,
    Builder,
    build_history,
    dvc_cli,
    edited,
    folder_bytes,
    git,
    push_all,
    quiet_env,
    reviews,
    write,
)
from helpers.s3 import new_bucket

REVIEWS, LABELS, META = "data/reviews.parquet", "data/labels.csv", "data/meta"


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dvc-env")
    mp = pytest.MonkeyPatch()
    for k, v in quiet_env(tmp).items():
        mp.setenv(k, v)
    yield
    mp.undo()


@pytest.fixture(scope="module")
def pristine(env, tmp_path_factory):
    """The history, built once, with every revision's data pushed to its DVC remote folder."""
    tmp = tmp_path_factory.mktemp("dvc-history")
    h = build_history(tmp / "repo", tmp / "dvc-remote", quiet_env(tmp))
    push_all(h.root)
    return h


@pytest.fixture
def history(pristine, tmp_path):
    """A copy of the history for one test (repository, its DVC cache and its DVC remote)."""
    root, remote = tmp_path / "repo", pristine.remote
    shutil.copytree(pristine.root, root, symlinks=True)
    remote = tmp_path / "dvc-remote"
    shutil.copytree(pristine.remote, remote)
    from dvc.repo import Repo
    with Repo(str(root)) as repo, repo.config.edit() as conf:
        conf["remote"]["storage"]["url"] = str(remote)
    h = type(pristine)(root, remote, dict(pristine.commits), pristine.data)
    return h


def plain(table: pa.Table) -> pa.Table:
    return table.replace_schema_metadata(None)


def read_csv(table: pa.Table) -> pa.Table:
    """`table` as dsreg reads it back from a CSV file (types inferred, as `dsreg commit` does)."""
    import io
    buf = io.BytesIO()
    pcsv.write_csv(table, buf)
    return pcsv.read_csv(io.BytesIO(buf.getvalue()))


def expected(path: str, value) -> pa.Table:
    if isinstance(value, dict):         # a folder: its files in name order, as `dsreg commit DIR` reads it
        return pa.concat_tables([read_csv(value[name]) for name in sorted(value)])
    return read_csv(value) if path.endswith(".csv") else value


def state(reg) -> tuple:
    """What a failed command must leave as it was: datasets, refs, and every stored object."""
    objects = sorted(p.name for p in (reg.dir / "objects").rglob("*") if p.is_file())
    leftovers = sorted(p.name for p in reg.tmp_dir.iterdir())
    return json.dumps([d.to_json() for d in reg.datasets()], sort_keys=True), objects, leftovers


# -- import ---------------------------------------------------------------------------------
@pytest.mark.parametrize("path", [REVIEWS, LABELS, META])
def test_every_revision_loads_as_the_file_at_its_git_commit(registry, history, path):
    shutil.rmtree(history.root / ".dvc" / "cache")         # the data comes from the DVC remote
    result = run_json("import-dvc", str(history.root), path, "ds", "--all")
    revisions = history.data[path]
    assert [r["git_commit"] for r in result["imported"]] == [history.sha(label) for label in revisions]
    for r, (label, value) in zip(result["imported"], revisions.items()):
        assert plain(registry.load(f"ds@{r['commit']}")).equals(expected(path, value)), label
        c = history.commits[label]
        show = registry.show(f"ds@{r['commit']}")
        assert (show.message, show.author, show.timestamp) == (c.message, c.author, c.timestamp)
        assert show.metadata["dvc"] == {"git_commit": c.sha, "md5": r["md5"], "path": path}
        assert r["md5"].endswith(".dir") == (path == META)
    ids = [r["commit"] for r in result["imported"]]
    assert [e.id for e in registry.log("ds")] == ids[::-1]      # oldest first, one line of history
    assert result["downloaded_bytes"] > 0 and registry.tag("ds") == {}


def test_md5_is_dvcs_own(registry, history):
    result = run_json("import-dvc", str(history.root), REVIEWS, "ds")
    dvc_file = yaml.safe_load((history.root / (REVIEWS + ".dvc")).read_text())
    assert result["imported"][0]["md5"] == dvc_file["outs"][0]["md5"]


def test_tags_carry_over_to_the_revision_holding_their_data(registry, history):
    result = run_json("import-dvc", str(history.root), REVIEWS, "reviews", "--all", "--tags")
    by_git = {r["git_commit"]: r["commit"] for r in result["imported"]}
    # v1 (annotated) is on c2; release-1 on c3, which changed no data: c2's data; v2 on the merge
    assert registry.tag("reviews") == {"v1": by_git[history.sha("c2")], "release-1": by_git[history.sha("c2")],
                                       "v2": by_git[history.sha("c6")]}
    assert plain(registry.load("reviews@v2")).equals(history.data[REVIEWS]["c6"])


def test_the_merge_of_a_branch_is_one_revision_with_the_merge_message(registry, history):
    result = run_json("import-dvc", str(history.root), REVIEWS, "reviews", "--all")
    merge = result["imported"][-1]
    assert merge["git_commit"] == history.sha("c6") and merge["message"] == "Merge branch 'feature'"
    assert registry.show(f"reviews@{merge['commit']}").author == DAVE
    # the feature branch's own commits are not on main's first-parent line
    feature = git(history.root, "rev-parse", "feature~1")
    assert feature not in {r["git_commit"] for r in result["imported"]}


def test_second_import_adds_only_new_commits_and_downloads_nothing_old(registry, history):
    first = run_json("import-dvc", str(history.root), REVIEWS, "reviews", "--all", "--rev", "v1")
    assert [r["git_commit"] for r in first["imported"]] == [history.sha("c2")]
    second = run_json("import-dvc", str(history.root), REVIEWS, "reviews", "--all", "--rev", history.sha("c4"))
    assert [r["git_commit"] for r in second["imported"]] == [history.sha("c4")]
    assert second["already_imported"] == history.sha("c2")
    # what was imported is needed no more: without it in DVC's cache or remote, the rest still imports
    shutil.rmtree(history.root / ".dvc" / "cache")
    for md5 in (first["imported"][0]["md5"], second["imported"][0]["md5"]):
        (history.remote / "files" / "md5" / md5[:2] / md5[2:]).unlink()
    third = run_json("import-dvc", str(history.root), REVIEWS, "reviews", "--all", "--tags")
    assert [r["git_commit"] for r in third["imported"]] == [history.sha("c6")]
    assert third["downloaded_bytes"] == (history.root / REVIEWS).stat().st_size
    assert sorted(third["tags"]) == ["release-1", "v1", "v2"]       # earlier imports get their tags too
    again = run_json("import-dvc", str(history.root), REVIEWS, "reviews", "--all", "--tags")
    assert again["imported"] == [] and again["downloaded_bytes"] == 0 and again["tags"] == []
    assert [e.id for e in registry.log("reviews")] == [r["imported"][0]["commit"] for r in (third, second, first)]


def test_without_all_imports_the_data_at_rev_with_the_commit_that_made_it(registry, history):
    result = run_json("import-dvc", str(history.root), LABELS, "labels", "--rev", "release-1")
    (r,) = result["imported"]
    assert r["git_commit"] == history.sha("c2") and r["message"].startswith("Add reviews")
    out = run("import-dvc", str(history.root), LABELS, "labels", "--rev", "release-1").stdout
    assert out == f"labels@main already holds {LABELS} as of git commit {history.sha('c3')[:12]}\n"
    later = run_json("import-dvc", str(history.root), LABELS, "labels")      # HEAD: c5's data, and only it
    assert [x["git_commit"] for x in later["imported"]] == [history.sha("c5")]
    assert plain(registry.load("labels")).equals(read_csv(history.data[LABELS]["c5"]))


def test_folder_as_one_split_per_file(registry, history):
    result = run_json("import-dvc", str(history.root), META, "meta", "--all", "--split-per-file")
    splits = [sorted(registry.show(f"meta@{r['commit']}").splits) for r in result["imported"]]
    assert splits == [["test", "train"], ["test", "train", "valid"], ["train", "valid"]]
    for r, files in zip(result["imported"], history.data[META].values()):
        for name, table in files.items():
            assert plain(registry.load(f"meta@{r['commit']}", split=name[:-4])).equals(read_csv(table))


def test_split_option_names_the_split_and_other_splits_carry_over(registry, history, tmp_path):
    write(tmp_path / "extra.parquet", reviews(3))
    registry.commit("ds", {"extra": str(tmp_path / "extra.parquet")}, message="mine")
    run_json("import-dvc", str(history.root), REVIEWS, "ds", "--split", "reviews")
    assert sorted(registry.show("ds").splits) == ["extra", "reviews"]
    assert plain(registry.load("ds", split="reviews")).equals(history.data[REVIEWS]["c6"])


def test_human_output(registry, history):
    out = run("import-dvc", str(history.root), REVIEWS, "reviews", "--all", "--tags", "--rev",
              history.sha("c4")).stdout.splitlines()
    assert out[0].startswith(f"{history.sha('c2')[:12]} -> reviews@") and out[0].endswith(
        "(tag: release-1, v1) Add reviews, labels and meta")
    assert out[1].startswith("  train: 40 rows, ")
    assert out[-1].startswith(f"imported 2 revisions of {REVIEWS} (") and out[-1].endswith("into reviews@main")


def test_python_api(registry, history):
    result = porcelain.import_dvc(registry, history.root, LABELS, "labels", every=True, tags=True)
    assert len(result.imported) == 3 and result.already_imported is None
    assert registry.resolve("labels@v2") == result.imported[-1].commit


def test_s3_dvc_remote(registry, history, s3_endpoint):
    """The DVC remote on moto's S3 server: the import reads through it; remote add --from-dvc
    takes its URL and endpoint, and dsreg pushes under its own prefix there."""
    bucket = new_bucket(s3_endpoint)
    from dvc.repo import Repo
    with Repo(str(history.root)) as repo, repo.config.edit() as conf:
        conf["remote"]["s3"] = {"url": f"s3://{bucket}/dvcstore", "endpointurl": s3_endpoint}
        conf["core"]["remote"] = "s3"
    import boto3
    s3 = boto3.client("s3", endpoint_url=s3_endpoint)
    # the team moved its DVC remote to S3 (old commits' config still names the folder): the
    # objects, in DVC's layout, are now there and only there
    for f in history.remote.rglob("*"):
        if f.is_file():
            s3.upload_file(str(f), bucket, f"dvcstore/{f.relative_to(history.remote).as_posix()}")
    shutil.rmtree(history.root / ".dvc" / "cache")
    shutil.rmtree(history.remote)
    result = run_json("import-dvc", str(history.root), META, "meta", "--all")
    for r, files in zip(result["imported"], history.data[META].values()):
        assert plain(registry.load(f"meta@{r['commit']}")).equals(expected(META, files))
    info = run_json("remote", "add", "team", "--from-dvc", str(history.root))
    assert (info["url"], info["endpoint_url"], info["dvc_remote"]) == (f"s3://{bucket}/dvcstore/dsreg", s3_endpoint,
                                                                       "s3")
    run("push", "team")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert any(k.startswith("dvcstore/dsreg/") for k in keys) and any(k.startswith("dvcstore/files/md5/") for k in keys)
    clone = run_json("clone", f"s3://{bucket}/dvcstore/dsreg", str(registry.root.parent / "colleague"),
                     "--endpoint-url", s3_endpoint)
    assert clone["commits"] == 3


def test_remote_from_dvc_folder_and_named_remote(registry, history):
    info = run_json("remote", "add", "team", "--from-dvc", str(history.root), "storage")
    assert info["url"] == f"file://{history.remote}/dsreg" and info["endpoint_url"] is None
    out = run("remote", "add", "team2", "--from-dvc", str(history.root)).stdout
    assert out.startswith(f"added remote team2: file://{history.remote}/dsreg, inside DVC remote storage")
    fails("remote", "add", "team3", "--from-dvc", str(history.root), "nope", says="has no remote 'nope'")
    misuse("remote", "add", "team3", says="Missing argument 'URL'")


# -- export ---------------------------------------------------------------------------------
def test_export_is_clean_for_dvc_pushed_and_pulled_by_a_fresh_clone(registry, history, tmp_path):
    run("import-dvc", str(history.root), REVIEWS, "reviews", "--all", "--tags")
    registry.commit("reviews", {"train": registry.load("reviews").slice(0, 45)}, message="keep 45")
    result = run_json("export-dvc", "reviews@main", str(history.root), "exports/reviews.parquet")
    commit = registry.resolve("reviews@main")
    assert result["commit"] == commit and result["dvc_file"] == "exports/reviews.parquet.dvc"
    assert result["gitignore"] == "exports/.gitignore"
    dvc_file = yaml.safe_load((history.root / "exports" / "reviews.parquet.dvc").read_text())
    assert dvc_file["meta"] == {"dsreg": {"dataset": "reviews", "commit": commit}}
    assert dvc_file["outs"][0]["md5"] == result["md5"]
    assert "up to date" in dvc_cli(history.root, "status").stdout
    git(history.root, "add", "exports/reviews.parquet.dvc", "exports/.gitignore", ".dvc/config")
    git(history.root, "commit", "-q", "-m", "Export reviews from dsreg")
    dvc_cli(history.root, "push")
    fresh = tmp_path / "fresh"
    git(tmp_path, "clone", "-q", str(history.root), str(fresh))
    dvc_cli(fresh, "pull")
    assert plain(pq.read_table(fresh / "exports" / "reviews.parquet")).equals(plain(registry.load("reviews")))


def test_export_folder_of_splits_as_csv_over_s3(registry, history, tmp_path, s3_endpoint):
    bucket = new_bucket(s3_endpoint)
    from dvc.repo import Repo
    with Repo(str(history.root)) as repo, repo.config.edit() as conf:
        conf["remote"]["s3"] = {"url": f"s3://{bucket}/dvcstore", "endpointurl": s3_endpoint}
        conf["core"]["remote"] = "s3"
    git(history.root, "commit", "-q", "-am", "S3 remote")
    run("import-dvc", str(history.root), META, "meta", "--split-per-file")
    result = run_json("export-dvc", "meta", str(history.root), "exports/meta", "--format", "csv")
    assert result["files"] == ["exports/meta/train/part-00000.csv", "exports/meta/valid/part-00000.csv"]
    assert result["md5"].endswith(".dir") and result["rows"] == {"train": 20, "valid": 5}
    assert "up to date" in dvc_cli(history.root, "status").stdout
    git(history.root, "add", "-A")
    git(history.root, "commit", "-q", "-m", "Export meta")
    dvc_cli(history.root, "push")
    fresh = tmp_path / "fresh"
    git(tmp_path, "clone", "-q", str(history.root), str(fresh))
    dvc_cli(fresh, "pull")
    for split in ("train", "valid"):
        got = pcsv.read_csv(fresh / "exports" / "meta" / split / "part-00000.csv")
        assert got.equals(plain(registry.load("meta", split=split)))


def test_export_again_replaces_a_clean_export(registry, history):
    run("import-dvc", str(history.root), REVIEWS, "reviews", "--all", "--tags")
    run("export-dvc", "reviews@v1", str(history.root), "out.jsonl")
    first = (history.root / "out.jsonl").read_text()
    result = run_json("export-dvc", "reviews@v2", str(history.root), "out.jsonl")
    assert (history.root / "out.jsonl").read_text() != first and len(first.splitlines()) == 40
    assert len((history.root / "out.jsonl").read_text().splitlines()) == 50
    assert yaml.safe_load((history.root / "out.jsonl.dvc").read_text())["meta"]["dsreg"]["commit"] == result["commit"]
    assert "up to date" in dvc_cli(history.root, "status").stdout


def test_export_refuses_to_overwrite_what_dvc_has_not_recorded(registry, history):
    run("import-dvc", str(history.root), REVIEWS, "reviews")
    (history.root / "notes.csv").write_text("a\n1\n")
    before = (history.root / "notes.csv").read_text()
    fails("export-dvc", "reviews", str(history.root), "notes.csv", says="DVC does not track it")
    assert (history.root / "notes.csv").read_text() == before
    run("export-dvc", "reviews", str(history.root), "mine.parquet")
    pq.write_table(reviews(2), history.root / "mine.parquet")             # a change not `dvc add`ed
    fails("export-dvc", "reviews", str(history.root), "mine.parquet", says="changes DVC has not recorded")
    assert pq.read_table(history.root / "mine.parquet").num_rows == 2
    fails("export-dvc", "reviews", str(history.root), "README.md", says="DVC does not track it")
    fails("export-dvc", "reviews", str(history.root), "x.csv", "--format", "jsonl", code=2, says="the format asked for is jsonl")
    fails("export-dvc", "reviews", str(history.root), "../outside.parquet", code=2, says="outside the repository")
    fails("export-dvc", "reviews@nope", str(history.root), "y.parquet", says="unknown revision")
    assert not (history.root / "y.parquet").exists() and not (history.root / "x.csv").exists()
    assert not list((history.root / ".dvc" / "tmp").glob("dsreg-export-*"))


def test_export_one_file_needs_one_split(registry, history):
    run("import-dvc", str(history.root), META, "meta", "--split-per-file")
    fails("export-dvc", "meta", str(history.root), "m.parquet", code=2, says="has 2 splits (train, valid)")
    result = run_json("export-dvc", "meta", str(history.root), "m.parquet", "--split", "valid")
    assert result["rows"] == {"valid": 5}
    assert plain(pq.read_table(history.root / "m.parquet")).equals(plain(registry.load("meta", split="valid")))


# -- bad input: one line, exit 1, nothing recorded --------------------------------------------
def test_bad_input_records_nothing(registry, history, tmp_path):
    (tmp_path / "plain").mkdir()
    (tmp_path / "gitonly").mkdir()
    git(tmp_path / "gitonly", "init", "-q")
    before = state(registry)
    fails("import-dvc", str(tmp_path / "plain"), "x.csv", "ds", says="is not a git repository")
    fails("import-dvc", str(tmp_path / "gitonly"), "x.csv", "ds", says="a git repository without DVC")
    fails("import-dvc", str(tmp_path / "missing"), "x.csv", "ds", says="no such folder")
    fails("import-dvc", str(history.root), "README.md", "ds", says="DVC does not track README.md")
    fails("import-dvc", str(history.root), "data/nothing.csv", "ds", says="DVC does not track data/nothing.csv")
    fails("import-dvc", str(history.root), REVIEWS, "ds", "--rev", "no-such-rev", says="unknown git revision")
    fails("import-dvc", str(history.root), REVIEWS, "bad name", code=2, says="invalid dataset name")
    fails("import-dvc", str(history.root), REVIEWS, "ds", "--split", "a=b", code=2, says="invalid split name")
    fails("remote", "add", "x", "--from-dvc", str(tmp_path / "gitonly"), says="without DVC")
    assert state(registry) == before


def test_data_missing_from_cache_and_remote_records_nothing(registry, history):
    """The middle revision's data is gone from both: the revisions before it are not recorded
    either (everything is fetched before the first commit)."""
    lost = yaml.safe_load(git(history.root, "show", f"{history.sha('c4')}:{REVIEWS}.dvc"))["outs"][0]["md5"]
    shutil.rmtree(history.root / ".dvc" / "cache")
    (history.remote / "files" / "md5" / lost[:2] / lost[2:]).unlink()
    before = state(registry)
    fails("import-dvc", str(history.root), REVIEWS, "ds", "--all",
          says=f"at git commit {history.sha('c4')[:12]} (md5 {lost}) is in neither the DVC cache nor the DVC remote")
    assert state(registry) == before


def test_a_tag_that_would_move_records_nothing(registry, history, tmp_path):
    write(tmp_path / "x.parquet", reviews(2))
    registry.commit("reviews", str(tmp_path / "x.parquet"), message="mine")
    registry.tag("reviews", "v2")
    before = state(registry)
    fails("import-dvc", str(history.root), REVIEWS, "reviews", "--all", "--tags", says="tag 'v2' of dataset")
    assert state(registry) == before


def test_without_dvc_installed(registry, history, monkeypatch):
    for name in ("dvc", "dvc.repo", "dvc.api", "scmrepo", "scmrepo.git"):
        monkeypatch.setitem(sys.modules, name, None)
    before = state(registry)
    for args in (["import-dvc", str(history.root), REVIEWS, "ds"],
                 ["export-dvc", "ds", str(history.root), "x.parquet"],
                 ["remote", "add", "team", "--from-dvc", str(history.root)]):
        fails(*args, says="the DVC bridge needs DVC, which is not installed; install it with: pip install 'dsreg[dvc]'")
    assert state(registry) == before
    assert "import-dvc" in run("--help").stdout         # help needs no DVC


# -- what it stores, against DVC's own cache ---------------------------------------------------
def test_stored_bytes_against_dvcs_cache(registry, env, tmp_path):
    """Five revisions of a 20,000-row Parquet file, each a 1% change (append, edit, delete,
    insert): DVC's cache holds every revision whole; dsreg stores rows once. The figures are
    the ones docs/dvc.md quotes."""
    b = Builder(tmp_path / "repo", quiet_env(tmp_path))
    table = reviews(20_000)
    versions = [table, pa.concat_tables([table, reviews(200, start=20_000)])]
    versions.append(edited(versions[-1], set(range(0, 20_200, 101)), -1.0))
    versions.append(versions[-1].filter(pa.array([i % 100 != 7 for i in range(versions[-1].num_rows)])))
    v = versions[-1]
    versions.append(pa.concat_tables([v.slice(0, 10_000), reviews(200, start=30_000), v.slice(10_000)]))
    for i, t in enumerate(versions):
        pq.write_table(t, b.root / "big.parquet")
        b.add("big.parquet")
        b.commit(f"version {i + 1}", BOB if i % 2 else ALICE)
    before = folder_bytes(registry.dir / "objects")
    result = run_json("import-dvc", str(b.root), "big.parquet", "big", "--all")
    assert len(result["imported"]) == 5
    for r, t in zip(result["imported"], versions):
        assert plain(registry.load(f"big@{r['commit']}")).equals(t)
    stored = folder_bytes(registry.dir / "objects") - before
    dvc_cache = folder_bytes(b.root / ".dvc" / "cache")
    assert stored < 0.25 * dvc_cache, (stored, dvc_cache)        # docs/dvc.md: 17%
    print(f"\n5 revisions of a 20,000-row Parquet file: DVC cache {dvc_cache:,} B, dsreg {stored:,} B")


# -- docs/dvc.md runs as written ----------------------------------------------------------------
def test_docs_walkthrough_runs(env, tmp_path, monkeypatch):
    doc = Path(__file__).resolve().parents[2] / "docs" / "dvc.md"
    script = "set -euo pipefail\n" + "\n".join(re.findall(r"```bash\n(.*?)```", doc.read_text(), flags=re.S))
    environ = {**os.environ, "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"]}
    environ.pop("DSREG_DIR", None)
    proc = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=environ, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "imported 2 revisions of data/reviews.csv" in proc.stdout
    assert "imported 1 revision of data/reviews.csv" in proc.stdout
    assert "train: +1 -0 ~1 =2" in proc.stdout           # v1 -> main: 4 added, 3 relabelled
    assert "up to date" in proc.stdout
    with dsreg_registry(tmp_path / "registry") as reg:
        assert [e.message for e in reg.log("reviews")] == ["Add 5", "Relabel 3, add 4", "Add reviews"]
        assert reg.tag("reviews") == {"v1": reg.resolve("reviews@main~2")}
        exported = pq.read_table(tmp_path / "dvc-project" / "data" / "reviews-clean.parquet")
        assert plain(exported).equals(plain(reg.load("reviews")))
        assert exported.num_rows == 5


def dsreg_registry(path: Path):
    import dsreg
    return dsreg.Registry(path)
