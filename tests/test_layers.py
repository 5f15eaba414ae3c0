"""Imports point down: the versions layer, the card's --set and clone reach neither porcelain
nor the Registry class at run time (type-only imports under TYPE_CHECKING are fine)."""
from __future__ import annotations

import ast
from pathlib import Path

import dsreg

SRC = Path(dsreg.__file__).parent

# DESIGN.md "Layers and layout", bottom to top; a module may import its own layer or below
LAYERS = [
    {"errors", "ids", "names", "progress", "faults", "redact", "jsonvalues"},
    {"store", "manifest"}, {"model"}, {"rows"}, {"stats"}, {"diff"}, {"versions"}, {"read"}, {"remote"},
    {"maintenance"}, {"checks", "card"}, {"integrations"}, {"porcelain"}, {"registry", "__init__"}, {"cli"},
]


def layer(module: str) -> int:
    part = module.split(".")[1] if module.count(".") else ""
    return next(i for i, names in enumerate(LAYERS) if part in names)


def runtime_imports(path: Path) -> set[str]:
    """The dsreg modules `path` imports, but those under `if TYPE_CHECKING:`."""
    tree = ast.parse(path.read_text())
    skip = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If) and
            getattr(node.test, "id", None) == "TYPE_CHECKING" for n in ast.walk(node)}
    out = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("dsreg.")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("dsreg"):
            if node.module == "dsreg":      # `from dsreg import porcelain`
                out |= {f"dsreg.{a.name}" for a in node.names if (SRC / f"{a.name}.py").exists()
                        or (SRC / a.name).is_dir()}
            else:
                out.add(node.module)
    return out


def module_name(path: Path) -> str:
    return "dsreg." + ".".join(path.relative_to(SRC).with_suffix("").parts)


def test_these_modules_import_only_down():
    for rel in ["versions/commit.py", "versions/refs.py", "versions/describe.py", "versions/merge.py",
                "versions/threeway.py", "versions/mergeschema.py", "versions/revert.py", "remote/clone.py",
                "cli/messages.py"]:
        name = module_name(SRC / rel)
        above = sorted(m for m in runtime_imports(SRC / rel) if layer(m) > layer(name))
        assert above == [], f"{rel} imports from above: {above}"


def test_only_the_top_imports_the_registry_or_porcelain_commit():
    for path in SRC.rglob("*.py"):
        name = module_name(path)
        if layer(name) < layer("dsreg.registry"):
            assert "dsreg.registry" not in runtime_imports(path), name
    # `card --set` records its commit through the versions layer
    fields = (SRC / "card" / "fields.py").read_text()
    assert "porcelain.commit" not in fields and "dsreg.versions.commit" in fields


def test_the_layer_check_sees_an_upward_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from dsreg.registry import Registry\n"
                   "def f():\n    from dsreg import porcelain\n")
    assert runtime_imports(bad) == {"dsreg.porcelain"}
