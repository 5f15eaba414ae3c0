"""docs/reading.md: every Python example runs, in order, in an empty folder."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from test_docs import _blocks

ROOT = Path(__file__).resolve().parents[2]


def test_reading_examples_run_in_order(tmp_path, monkeypatch):
    pytest.importorskip("torch")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DSREG_DIR", raising=False)
    monkeypatch.setenv("DSREG_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("DSREG_AUTHOR", "Docs Test <docs@example.com>")
    monkeypatch.setenv("PATH", str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""))
    namespace: dict = {}
    for block in _blocks(ROOT / "docs" / "reading.md", "python"):
        exec(compile(block, "docs/reading.md", "exec"), namespace)


def test_reading_bash_examples_are_real_commands():
    from click.testing import CliRunner

    from dsreg.cli import cli
    for block in _blocks(ROOT / "docs" / "reading.md", "bash"):
        for line in block.splitlines():
            words = line.split("#")[0].split()
            if words[:1] == ["dsreg"]:
                result = CliRunner().invoke(cli, [*words[1:3], "--help"])
                assert result.exit_code == 0, line
