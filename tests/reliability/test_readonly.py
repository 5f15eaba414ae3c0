"""A registry this process may not write (its files and folders read-only: another user's
registry, a read-only mount): every reading command works, `dsreg.load` too; every
writing one says so in one line and changes nothing, here or on the remote.

The commands run as real processes on a tree made read-only with chmod. Tests often run
as root, whose writes chmod does not stop; those processes then run without the
capabilities that let root ignore file modes (CAP_DAC_OVERRIDE and friends), so the
kernel refuses their writes as it would anyone else's.
"""
from __future__ import annotations

import ctypes
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

import dsreg
from helpers.reliability import dsreg_cmd, tree_hash
from helpers.tables import make_table

_PR_CAPBSET_DROP = 24
_FILE_CAPS = (1, 2, 3, 9)    # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER, CAP_LINUX_IMMUTABLE


def _without_file_caps() -> None:
    """In the child before exec: a root process keeps no capability to ignore file modes."""
    if os.geteuid() != 0:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in _FILE_CAPS:
        if libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def run_ro(*args: str, cwd, code: str | None = None) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-c", code] if code is not None else dsreg_cmd(*args)
    return subprocess.run(cmd, cwd=cwd, env=dict(os.environ), capture_output=True, text=True, timeout=300,
                          preexec_fn=_without_file_caps)


def _chmod_tree(root: Path, writable: bool) -> None:
    for p in [root, *root.rglob("*")]:
        mode = p.stat().st_mode
        p.chmod(mode | stat.S_IWUSR if writable else mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


@pytest.fixture
def read_only(registry, tmp_path):
    """ds (two commits, tag v1) pushed to a folder remote `origin`, then the whole `.dsreg`
    tree made read-only: (project folder, remote folder). Skips only if this process can
    make no process that chmod stops."""
    probe = tmp_path / "probe"
    probe.mkdir()
    probe.chmod(0o555)
    tried = run_ro(cwd=tmp_path, code=f"open({str(probe / 'x')!r}, 'w')")
    probe.chmod(0o755)
    if tried.returncode == 0:
        pytest.skip("writes succeed in a read-only folder here (root with capabilities that cannot be dropped): "
                    "no read-only registry can be made")
    from dsreg.remote import transfer
    t = make_table(300)
    registry.commit("ds", t.slice(0, 200), message="v1")
    registry.tag("ds", "v1")
    registry.commit("ds", {"train": t, "test": t.slice(0, 50)}, message="v2")
    remote = tmp_path / "remote"
    remote.mkdir()
    transfer.add_remote(registry, "origin", f"file://{remote}")
    transfer.push(registry, "origin")
    root = registry.root
    registry.close()
    _chmod_tree(root / ".dsreg", writable=False)
    yield root, remote
    _chmod_tree(root / ".dsreg", writable=True)


READING = [["ls"], ["log", "ds"], ["log", "ds@v1", "--json"], ["show", "ds"], ["show", "ds@v1", "--json"],
           ["diff", "ds@v1", "ds"], ["diff", "ds"], ["card", "ds"], ["card", "ds@v1", "--format", "json"],
           ["branch", "ds"], ["tag", "ds"], ["remote", "list"], ["fsck"], ["gc", "--dry-run"]]
WRITING = [["commit", "ds", "{FILE}"], ["commit", "other", "{FILE}"], ["branch", "ds", "dev"], ["tag", "ds", "v2"],
           ["tag", "ds", "-d", "v1"], ["gc"], ["push", "origin"], ["fetch", "origin"], ["pull", "origin", "ds"],
           ["remote", "add", "again", "file://{REMOTE}"], ["remote", "remove", "origin"], ["fsck", "--repair"],
           ["fsck", "--rebuild"]]


def test_reading_commands_work_on_a_read_only_registry(read_only, tmp_path):
    root, _ = read_only
    _chmod_tree(root / ".dsreg", writable=True)     # what each command says with write access...
    expected = [subprocess.run(dsreg_cmd(*args), cwd=root, capture_output=True, text=True).stdout
                for args in READING]
    _chmod_tree(root / ".dsreg", writable=False)
    before = tree_hash(root / ".dsreg")
    for args, want in zip(READING, expected):      # ...it says read-only, exactly
        got = run_ro(*args, cwd=root)
        assert got.returncode == 0 and got.stderr == "", (args, got.stderr)
        assert got.stdout == want, args
    out = tmp_path / "out"
    got = run_ro("checkout", "ds", "-o", str(out), cwd=root)
    assert got.returncode == 0, got.stderr
    assert sorted(p.name for p in out.iterdir()) == ["test", "train"]
    import pyarrow.parquet as pq
    pq.write_table(make_table(300).slice(0, 210), tmp_path / "x.parquet")
    got = run_ro("diff", "ds@v1", str(tmp_path / "x.parquet"), "--json", cwd=root)   # (cut into shards elsewhere)
    assert got.returncode == 0, got.stderr
    import json
    counts = json.loads(got.stdout)["splits"]["train"]
    assert (counts["added"], counts["removed"]) == (10, 0), counts
    code = "import dsreg; t = dsreg.load('ds@v1'); print(t.num_rows, dsreg.load('ds', split='test').num_rows)"
    got = run_ro(cwd=root, code=code)
    assert got.returncode == 0 and got.stdout.split() == ["200", "50"], got.stderr
    assert tree_hash(root / ".dsreg") == before


def test_writing_commands_refuse_in_one_line_and_change_nothing(read_only, tmp_path):
    root, remote = read_only
    data = tmp_path / "new.parquet"
    import pyarrow.parquet as pq
    pq.write_table(make_table(10, seed=5), data)
    before, remote_before = tree_hash(root / ".dsreg"), _files(remote)
    for args in WRITING:
        args = [a.replace("{FILE}", str(data)).replace("{REMOTE}", str(tmp_path)) for a in args]
        got = run_ro(*args, cwd=root)
        lines = got.stderr.splitlines()
        assert got.returncode == 1 and len(lines) == 1, (args, got.stderr)
        assert lines[0].startswith("Error: the registry is read-only: "), (args, lines)
        assert tree_hash(root / ".dsreg") == before, args
        assert _files(remote) == remote_before, args
    got = run_ro(cwd=root, code=f"import dsreg; dsreg.Registry('.').commit('ds', {str(data)!r})")
    assert "dsreg.errors.RegistryReadOnly: the registry is read-only" in got.stderr


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_a_read_only_clone_reads_data_from_its_remote_without_keeping_it(read_only, tmp_path):
    """A clone fetches data when it is first read; read-only, it reads it all the same."""
    root, remote = read_only
    clone, _ = dsreg.Registry.clone(f"file://{remote}", tmp_path / "clone")
    objects = sorted((tmp_path / "clone" / ".dsreg" / "objects").rglob("*"))
    clone.close()
    _chmod_tree(tmp_path / "clone" / ".dsreg", writable=False)
    try:
        got = run_ro(cwd=tmp_path / "clone", code="import dsreg; print(dsreg.load('ds').num_rows)")
        assert got.returncode == 0 and got.stdout.split() == ["300"], got.stderr
        assert sorted((tmp_path / "clone" / ".dsreg" / "objects").rglob("*")) == objects
    finally:
        _chmod_tree(tmp_path / "clone" / ".dsreg", writable=True)


def test_a_write_ahead_log_only_a_writer_can_fold_in_is_refused_not_ignored(registry, tmp_path):
    """In a read-only folder without the -shm file, SQLite can only read the database as
    immutable, which ignores the -wal: with changes in it, that would be a stale read."""
    import shutil
    import sqlite3
    registry.commit("ds", make_table(10), message="v1")
    root = registry.root
    writer = sqlite3.connect(str(root / ".dsreg" / "manifest.sqlite"))
    writer.execute("PRAGMA wal_autocheckpoint=0")
    writer.execute("INSERT INTO datasets VALUES ('late', 0)")
    writer.commit()
    copy = tmp_path / "copy"
    shutil.copytree(root, copy, ignore=shutil.ignore_patterns("*-shm"))   # as a crash could leave it
    writer.close()
    registry.close()
    assert (copy / ".dsreg" / "manifest.sqlite-wal").stat().st_size
    _chmod_tree(copy / ".dsreg", writable=False)
    try:
        got = run_ro("ls", cwd=copy)
        if got.returncode == 0:         # this SQLite read the log after all: then it must show
            assert "late" in got.stdout
        else:
            assert got.stderr.startswith("Error: the registry is read-only") and "-wal" in got.stderr, got.stderr
    finally:
        _chmod_tree(copy / ".dsreg", writable=True)
