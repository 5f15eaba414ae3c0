"""Refs on a remote that older dsregs (or hands) could leave: names that look like commit
ids, a branch and a tag of one name, a malformed ref. Fetch, clone and pull refuse them
with one line naming the dataset and the ref, and change nothing locally; push never
makes a pair; a pinned id read through a remote means that commit."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

import dsreg
from dsreg.cli import cli
from dsreg.errors import DsregError
from dsreg.ids import CommitId
from dsreg.remote import transfer
from helpers.reliability import tree_hash
from helpers.tables import make_table


def _origin(reg, spec) -> None:
    transfer.add_remote(reg, "origin", spec.url, spec.endpoint_url)


def _two_commits(reg) -> tuple[str, str]:
    reg.commit("ds", make_table(10), message="v1")
    c1 = reg.resolve("ds")
    reg.commit("ds", make_table(20, seed=3), message="v2")
    return c1, reg.resolve("ds")


def _cli(*args: str):
    r = CliRunner().invoke(cli, list(args))
    return r.exit_code, r.stdout, r.stderr


def _refuses_everywhere(reg, spec, tmp_path, says: list[str]) -> None:
    """fetch, pull and clone (API and CLI) refuse with one line holding `says`, and
    change nothing: the registry byte for byte, no clone folder left."""
    reg.close()
    before = tree_hash(reg.dir)
    root = str(reg.root)
    for args in (["fetch", "origin"], ["fetch", "origin", "ds"], ["pull", "origin", "ds"]):
        code, out, err = _cli("--registry", root, *args)
        assert code == 1 and out == "", (args, out, err)
        assert len(err.splitlines()) == 1 and err.startswith("Error: "), err
        for s in says:
            assert s in err, (s, err)
    code, out, err = _cli("clone", spec.url, str(tmp_path / "c"), *(
        ["--endpoint-url", spec.endpoint_url] if spec.endpoint_url else []))
    assert code == 1 and len(err.splitlines()) == 1 and all(s in err for s in says), err
    assert not (tmp_path / "c").exists()
    with pytest.raises(DsregError):
        dsreg.Registry.clone(spec.url, tmp_path / "c2", spec.endpoint_url)
    assert not (tmp_path / "c2").exists()
    assert tree_hash(reg.dir) == before


# -- item 1: names that look like commit ids ------------------------------------------
def test_a_remote_ref_named_like_a_commit_id_is_refused(registry, remote_spec, tmp_path):
    c1, c2 = _two_commits(registry)
    _origin(registry, remote_spec)
    transfer.push(registry)
    _, remote = transfer.get_remote(registry, "origin")
    remote.set_ref("ds", "branch", c1, CommitId(c2), None)      # as an older dsreg could push
    _refuses_everywhere(registry, remote_spec, tmp_path, ["ds@" + c1, "looks like a commit id"])


def test_load_from_a_remote_reads_the_pinned_commit_not_a_ref_of_that_name(registry, remote_spec, tmp_path,
                                                                           monkeypatch):
    monkeypatch.setenv("DSREG_CACHE", str(tmp_path / "cache"))
    c1, c2 = _two_commits(registry)
    _origin(registry, remote_spec)
    transfer.push(registry)
    _, remote = transfer.get_remote(registry, "origin")
    remote.set_ref("ds", "branch", c1, CommitId(c2), None)
    remote.set_ref("ds", "tag", c1[:12], CommitId(c2), None)
    got = dsreg.load(f"ds@{c1}", remote=remote_spec.url, endpoint_url=remote_spec.endpoint_url)
    assert got.num_rows == 10
    # a prefix cannot be looked up without a registry: refused, not read as a name
    with pytest.raises(DsregError, match="full commit id"):
        dsreg.load(f"ds@{c1[:12]}", remote=remote_spec.url, endpoint_url=remote_spec.endpoint_url)


def test_pull_of_a_pinned_prefix_never_reads_a_remote_ref_of_that_name(registry, remote_spec, tmp_path,
                                                                       monkeypatch):
    """Even if the remote-tracking refs hold such a name (recorded by an older dsreg)."""
    c1, c2 = _two_commits(registry)
    _origin(registry, remote_spec)
    transfer.push(registry)
    other, _ = dsreg.Registry.clone(remote_spec.url, tmp_path / "c", remote_spec.endpoint_url)
    real = transfer.fetch

    def fetch_then_legacy(reg, *a, **kw):
        got = real(reg, *a, **kw)
        with reg.manifest.transaction():
            reg.manifest.set_remote_ref("origin", "ds", "branch", c1[:12], c2)
        return got
    monkeypatch.setattr(transfer, "fetch", fetch_then_legacy)
    assert transfer.pull(other, "origin", f"ds@{c1[:12]}").commit == c1
    other.close()


# -- item 2: a branch and a tag of one name ---------------------------------------------
def test_push_refuses_a_branch_where_the_remote_has_a_tag_of_that_name(registry, remote_spec, tmp_path):
    """B's clone predates A's tag v1; B makes a branch v1 and pushes."""
    registry.commit("ds", make_table(10), message="v1")
    _origin(registry, remote_spec)
    transfer.push(registry)
    b, _ = dsreg.Registry.clone(remote_spec.url, tmp_path / "b", remote_spec.endpoint_url)
    registry.tag("ds", "v1")
    transfer.push(registry)
    b.commit("ds", make_table(12, seed=5), message="b's work", branch="v1")
    _, remote = transfer.get_remote(registry, "origin")
    with pytest.raises(DsregError, match="remote origin has a tag 'v1' in dataset 'ds'") as e:
        transfer.push(b, "origin", "ds@v1")
    assert "rename" in str(e.value)
    assert remote.ref("ds", "branch", "v1") is None
    # and the reverse: a tag where the remote has a branch of that name
    b.commit("ds", make_table(14, seed=6), message="on dev", branch="dev")
    transfer.push(b, "origin", "ds@dev")
    registry.close()
    a = dsreg.Registry(registry.root)
    a.tag("ds", "dev")
    with pytest.raises(DsregError, match="remote origin has a branch 'dev' in dataset 'ds'"):
        transfer.push(a, "origin", "ds@dev")
    assert remote.ref("ds", "tag", "dev") is None
    a.close()
    b.close()


def test_a_remote_holding_a_branch_and_a_tag_of_one_name_is_refused(registry, remote_spec, tmp_path):
    c1, c2 = _two_commits(registry)
    _origin(registry, remote_spec)
    transfer.push(registry)
    _, remote = transfer.get_remote(registry, "origin")
    remote.set_ref("ds", "tag", "main", CommitId(c1), None)       # as an older dsreg could push
    _refuses_everywhere(registry, remote_spec, tmp_path,
                        ["both a branch and a tag named 'main'", "dataset 'ds'", "delete one of the two"])


# -- item 11: a malformed ref names its dataset ------------------------------------------
def test_a_malformed_remote_ref_is_named_with_its_dataset(registry, remote_spec, tmp_path):
    registry.commit("ds", make_table(10), message="v1")
    _origin(registry, remote_spec)
    transfer.push(registry)
    if remote_spec.kind == "file":
        path = tmp_path / "remote" / "refs" / "ds@branch" / "dev"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("not json")
    else:
        import boto3
        bucket, _, prefix = remote_spec.url[len("s3://"):].partition("/")
        boto3.client("s3", endpoint_url=remote_spec.endpoint_url).put_object(
            Bucket=bucket, Key=f"{prefix}/refs/ds@branch/dev", Body=json.dumps({"commit": 5}).encode())
    _refuses_everywhere(registry, remote_spec, tmp_path, ["branch ds@dev", "malformed"])


# -- item 11: names long enough to fail on a folder remote -------------------------------
def test_the_longest_names_allowed_push_and_clone(registry, tmp_path):
    folder = tmp_path / "remote"
    folder.mkdir()
    ds, branch = "o" * 200 + "/" + "d" * 199, "z" * 200     # 400 bytes: the most a whole name may have
    registry.commit(ds, make_table(10), message="v1", branch=branch)
    registry.tag(ds, "t" * 200, branch)
    transfer.add_remote(registry, "origin", f"file://{folder}")
    transfer.push(registry)
    other, fetched = dsreg.Registry.clone(f"file://{folder}", tmp_path / "c")
    assert other.resolve(f"{ds}@{'t' * 200}") == registry.resolve(f"{ds}@{branch}")
    other.close()
