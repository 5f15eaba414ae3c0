"""docs/cli.md is generated from `--help` and must not go stale."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from dsreg.cli import cli
from dsreg.cli import docs as clidocs

DOC = Path(__file__).resolve().parents[2] / "docs" / "cli.md"
REGENERATE = "regenerate it with: python -m dsreg.cli.docs > docs/cli.md"


def test_cli_reference_is_up_to_date():
    assert DOC.is_file(), f"docs/cli.md is missing; {REGENERATE}"
    assert DOC.read_text(encoding="utf-8") == clidocs.generate(), f"docs/cli.md is stale; {REGENERATE}"


def test_every_command_has_a_section_with_its_help():
    text = clidocs.generate()
    for name, command in cli.commands.items():
        assert f"\n## dsreg {name}\n\n```\nUsage: dsreg {name} [OPTIONS]" in text
        assert command.get_short_help_str(limit=200) in " ".join(text.split())
        for sub, subcommand in getattr(command, "commands", {}).items():     # dsreg remote add, ...
            assert f"\n### dsreg {name} {sub}\n\n```\nUsage: dsreg {name} {sub} [OPTIONS]" in text
            assert subcommand.get_short_help_str(limit=200) in " ".join(text.split())


def test_generation_ignores_the_terminal_width():
    env = {**os.environ, "COLUMNS": "40", "LINES": "10"}
    out = subprocess.run([sys.executable, "-m", "dsreg.cli.docs"], env=env, capture_output=True, text=True,
                         check=True, timeout=120).stdout
    assert out == clidocs.generate()
