"""Running the CLI in tests: exit codes, stdout, and the one `Error: ...` line on stderr."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
from click.testing import CliRunner

from dsreg.cli import cli


def run(*args: str, code: int = 0, env: dict | None = None):
    result = CliRunner().invoke(cli, list(args), env=env)
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr, result.exception)
    return result


def run_json(*args: str):
    return json.loads(run(*args, "--json").stdout)


def fails(*args: str, code: int = 1, says: str = "", env: dict | None = None) -> str:
    """Run, expect exit `code`, nothing on stdout and exactly one `Error: ...` line on stderr."""
    result = run(*args, code=code, env=env)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert says in lines[0], lines[0]
    return lines[0]


def misuse(*args: str, says: str) -> str:
    """A click usage error: exit 2, usage on stderr ending in one `Error: ...` line."""
    result = run(*args, code=2)
    assert result.stdout == ""
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("Error: ") and says in last, result.stderr
    return last


def write(path: Path, table: pa.Table) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".csv":
        pcsv.write_csv(table, path)
    else:
        pq.write_table(table, path)
    return str(path)


def on_a_terminal(exe: str, args: list[str], cwd: Path, env: dict) -> tuple[str, str]:
    """Run the console script with stderr on a pseudo-terminal: (stdout, what stderr showed)."""
    master, slave = os.openpty()
    try:
        proc = subprocess.run([exe, *args], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=slave, timeout=120)
        os.close(slave)
        chunks = []
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(master)
    assert proc.returncode == 0, (args, b"".join(chunks))
    return proc.stdout.decode(), b"".join(chunks).decode()
