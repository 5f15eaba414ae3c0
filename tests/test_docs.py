"""Every example in the README and docs/ runs as written."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _blocks(path: Path, lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", path.read_text(), flags=re.S)


def _env() -> dict:
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env.pop("DSREG_DIR", None)
    env["DSREG_AUTHOR"] = "Docs Test <docs@example.com>"
    return env


def test_python_api_examples_run_in_order(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for block in _blocks(ROOT / "docs" / "python-api.md", "python"):
        exec(compile(block, "docs/python-api.md", "exec"), namespace)


@pytest.fixture(scope="module")
def tour(tmp_path_factory):
    work = tmp_path_factory.mktemp("tour")
    proc = subprocess.run(["bash", str(ROOT / "examples" / "demo.sh"), str(work)], env=_env(),
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return work, proc


def test_readme_tour_is_the_demo(tour):
    """Each command of the README's tour is a command the demo runs."""
    demo = (ROOT / "examples" / "demo.sh").read_text()
    tour_block = next(b for b in _blocks(ROOT / "README.md", "bash") if "dsreg init" in b and "#" in b)
    for line in tour_block.splitlines():
        command = line.split("#")[0].strip()
        for part in command.split("&&"):
            part = part.strip()
            if part.startswith("dsreg"):
                assert part in demo, f"README tour command not in examples/demo.sh: {part}"


def test_readme_tour_numbers_are_what_the_demo_prints(tour):
    """The README's account of the tour's second commit and diff is what the demo shows."""
    _, proc = tour
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert "stored only the 200 rows that are new" in readme
    assert "train: 10,050 rows (200 new, 9,850 reused)" in proc.stdout
    assert "100 relabelled rows as modified (`--key id`), 50 removed and 100 added" in readme
    assert "train: +100 -50 ~100 =9850" in proc.stdout
    assert "stores no new row (each of the 20 fixed rows is reused whole" in readme
    assert "train: +0 -0 ~20, 0 new rows stored" in proc.stdout


def test_readme_python_examples_run_after_the_tour(tour, monkeypatch):
    work, _ = tour
    monkeypatch.chdir(work / "project")
    monkeypatch.delenv("DSREG_DIR", raising=False)
    for block in _blocks(ROOT / "README.md", "python"):
        exec(compile(block, "README.md", "exec"), {})


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    command = next(line for line in readme.splitlines() if line.startswith("python3 -m venv") and "[test]" in line)
    assert command in ci
