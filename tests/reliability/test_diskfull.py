"""A disk that fills while the manifest is written: one line, nothing recorded, every
version as it was; the objects written before are ordinary garbage (fsck notes them, gc
deletes them), and once there is room the same command succeeds.

The manifest is made to fill the way a full disk fills it: SQLite answers SQLITE_FULL
("database or disk is full") when the database may not grow (`PRAGMA max_page_count`
at its current size), and a long commit message needs new pages.
"""
from __future__ import annotations

import sqlite3

import pytest
from click.testing import CliRunner

from dsreg.cli import cli
from dsreg.errors import ManifestWriteFailed
from dsreg.manifest.database import Manifest
from helpers.reliability import record, versions
from helpers.tables import make_table

LONG = "x" * 200_000        # a message that needs pages the full database cannot get


@pytest.fixture
def full_disk(monkeypatch):
    """Every manifest opened while this is on cannot grow by a page."""
    opened = Manifest.__init__

    def init(self, path, *a, **kw):
        opened(self, path, *a, **kw)
        pages = self.conn.execute("PRAGMA page_count").fetchone()[0]
        self.conn.execute(f"PRAGMA max_page_count = {pages}")
    monkeypatch.setattr(Manifest, "__init__", init)
    return monkeypatch


def _manifest_rows(reg) -> dict:
    conn = sqlite3.connect(str(reg.dir / "manifest.sqlite"))
    try:
        return {t: conn.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall()
                for (t,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    finally:
        conn.close()


def test_a_commit_whose_manifest_write_fills_the_disk_records_nothing(registry, full_disk, tmp_path):
    registry.commit("ds", make_table(500), message="v1")
    before, rows = versions(registry), _manifest_rows(registry)
    registry.close()
    new = tmp_path / "new.parquet"
    import pyarrow.parquet as pq
    pq.write_table(make_table(800, seed=3), new)
    result = CliRunner().invoke(cli, ["--registry", str(registry.root), "commit", "ds", str(new), "-m", LONG])
    assert result.exit_code == 1, result.output
    assert result.stderr.splitlines() == [
        f"Error: the disk is full: could not write the manifest {registry.dir / 'manifest.sqlite'}, so nothing "
        "was recorded; free some space and run the command again; objects it wrote before are left for "
        "'dsreg gc'"]
    with pytest.raises(ManifestWriteFailed, match="the disk is full"):
        registry.commit("ds", {"other": make_table(50, seed=4)}, message=LONG)
    full_disk.undo()                    # room again
    registry.close()
    assert _manifest_rows(registry) == rows
    check = registry.fsck()
    assert check.ok, check.problems
    assert any("no ref or reflog entry reaches" in n for n in check.notes)    # the commit's objects: garbage
    for (ds, cid, split), table in before.items():
        assert registry.load(f"{ds}@{cid}", split=split).equals(table)
    done = registry.commit("ds", new, message=LONG)
    assert registry.resolve("ds") == done.id and registry.log("ds")[0].message == LONG
    registry.tag("ds", "v2")
    gc = registry.gc(grace_seconds=0)
    assert registry.fsck().ok and not any("reaches" in n for n in registry.fsck().notes), gc
    record("disk full", scenario="manifest write during commit", recorded=0, lost=0)
