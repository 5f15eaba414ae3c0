"""The layers of docs/architecture.md hold: the import contracts in pyproject.toml (the same
`lint-imports` run .ci/run makes) pass, a planted upward import breaks them, and no module
reaches into another's private names."""
from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import dsreg

SRC = Path(dsreg.__file__).parent
ROOT = SRC.parent.parent
LINT = Path(sys.executable).with_name("lint-imports")


def lint(src: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT), "--config", str(ROOT / "pyproject.toml"), "--no-cache"], cwd=ROOT,
                          env={"PYTHONPATH": str(src), "PATH": "/usr/bin:/bin"}, capture_output=True, text=True)


def test_the_import_contracts_hold():
    result = lint(SRC.parent)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "3 kept, 0 broken" in result.stdout


def test_an_upward_import_breaks_the_contract(tmp_path):
    copy = tmp_path / "src"
    shutil.copytree(SRC, copy / "dsreg", ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "dsreg" / "store" / "upward.py").write_text("def f():\n    from dsreg.remote import transfer\n")
    result = lint(copy)
    assert result.returncode != 0
    assert "dsreg.store is not allowed to import dsreg.remote" in result.stdout


def test_a_cycle_breaks_the_contract(tmp_path):
    copy = tmp_path / "src"
    shutil.copytree(SRC, copy / "dsreg", ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "dsreg" / "rows" / "fingerprint.py").open("a").write("\n\ndef _late():\n    from dsreg.rows import shards\n")
    result = lint(copy)
    assert result.returncode != 0 and "No cycles" in result.stdout and "BROKEN" in result.stdout


def private_uses(path: Path) -> list[str]:
    """`from dsreg.x import _name`, and `name._attr` where `name` was imported from dsreg."""
    tree = ast.parse(path.read_text())
    imported: set[str] = set()
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("dsreg"):
            for alias in node.names:
                if alias.name.startswith("_") and not alias.name.startswith("__"):
                    out.append(f"{path.name}:{node.lineno} imports {node.module}.{alias.name}")
                imported.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            imported |= {(a.asname or a.name).split(".")[0] for a in node.names if a.name.startswith("dsreg")}
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__") \
                and isinstance(node.value, ast.Name) and node.value.id in imported:
            out.append(f"{path.name}:{node.lineno} uses {node.value.id}.{node.attr}")
    return out


def test_no_module_uses_another_modules_private_names():
    found = [use for path in sorted(SRC.rglob("*.py")) for use in private_uses(path)]
    assert found == []


def test_the_private_name_check_sees_one(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from dsreg.store import LocalStore\nfrom dsreg.remote.transfer import _ancestors\n"
                   "def f(s):\n    return LocalStore._read(s, 'x')\n")
    assert len(private_uses(bad)) == 2
