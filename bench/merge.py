"""The merge benchmark on its own (for profiling): the generated base data, two branches
with 1% edits each and a 1% append on one, as the merge suite (bench/suites/merge.py)
measures them inside `python -m bench --suites merge`.

    python -m bench.merge [--rows 2000000] [--work DIR]

Prints one JSON document: wall time and peak RSS of each step, and the merged commit's
new bytes against the changed rows (their size as zstd Parquet).
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from bench import datagen
from bench.suites.merge import measure, write_branches


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(prog="python -m bench.merge")
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--work", type=Path)
    args = ap.parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-merge-"))
    work.mkdir(parents=True, exist_ok=True)
    base = datagen.write_version("base", args.rows, work)
    out = measure(work, write_branches(base.path, work))
    print(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()
