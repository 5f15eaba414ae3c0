"""The rows layer's imports point down, and inside it one way: rows never import statistics
(the shard writer is handed its statistics function), and shards.py never imports the
modules that build on it (snapshots, cutter), so there is no cycle to import lazily."""
from __future__ import annotations

import ast
from pathlib import Path

import dsreg.rows

ROWS = Path(dsreg.rows.__file__).parent
BELOW = {"errors", "ids", "names", "progress", "faults", "redact", "jsonvalues", "store", "manifest", "model", "rows"}
# within rows, each module imports only modules listed before it (its own line included)
ORDER = [["arrowtypes", "fingerprint", "ingest"], ["equality"], ["shards"], ["cutter"], ["snapshots"],
         ["compaction", "export", "inputcache"], ["settings"]]


def imports(path: Path) -> set[str]:
    """Modules `path` imports, anywhere but under `if TYPE_CHECKING:`."""
    tree = ast.parse(path.read_text())
    skip = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
            for child in node.body for n in ast.walk(child)}
    out = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
            if node.module == "dsreg":
                out |= {f"dsreg.{a.name}" for a in node.names}
    return {m for m in out if m.startswith("dsreg.")}


def test_rows_import_only_their_layer_and_below():
    for path in sorted(ROWS.glob("*.py")):
        for module in imports(path):
            top = module.split(".")[1]
            # the package's version string, read for the input cache's key (it lives in the package root)
            if module == "dsreg.__version__":
                continue
            assert top in BELOW, f"{path.name} imports {module}, above the rows layer"


def test_rows_modules_import_each_other_one_way():
    rank = {name: i for i, names in enumerate(ORDER) for name in names}
    assert set(rank) == {p.stem for p in ROWS.glob("*.py")} - {"__init__"}, "a rows module is missing from ORDER"
    for path in sorted(ROWS.glob("*.py")):
        if path.stem == "__init__":
            continue
        for module in imports(path):
            if module.startswith("dsreg.rows."):
                other = module.split(".")[2]
                assert rank[other] <= rank[path.stem] and other != path.stem, \
                    f"{path.name} imports rows.{other}, which comes later"
