"""The merge scenario: two branches of one table, each with 1% scattered edits (to other
columns), one with a 1% append; `dsreg merge` against one `dsreg diff` of the same two
versions and against loading the three versions in pandas and merging there.

    python -m bench.merge [--rows 2000000] [--work DIR]

Prints one JSON document: wall time and peak RSS of each step, and the merged commit's
new bytes against the changed rows (their size as zstd Parquet).
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from bench import procs


def _tables(n: int) -> tuple[pa.Table, pa.Table, pa.Table]:
    rng = np.random.default_rng(11)
    base = pa.table({
        "id": pa.array(np.arange(n, dtype=np.int64)),
        "stars": pa.array(rng.integers(1, 6, n)),
        "label": pa.array(np.where(rng.random(n) < 0.5, "pos", "neg")),
        "score": pa.array(rng.random(n)),
        "text": pa.array([f"review {i} " + "words " * int(k) for i, k in enumerate(rng.integers(1, 12, n))]),
    })
    k = max(1, n // 100)
    ours_rows = rng.choice(n, k, replace=False)
    theirs_rows = rng.choice(n, k, replace=False)
    label = np.array(base["label"].to_pylist(), dtype=object)
    label[ours_rows] = np.where(label[ours_rows] == "pos", "neg", "pos")
    ours = base.set_column(2, "label", pa.array(label.tolist()))
    stars = base["stars"].to_numpy().copy()
    stars[theirs_rows] = 6 - stars[theirs_rows]
    theirs = base.set_column(1, "stars", pa.array(stars))
    extra = base.slice(0, k).set_column(0, "id", pa.array(np.arange(n, n + k, dtype=np.int64)))
    return base, ours, pa.concat_tables([theirs, extra])


PANDAS_MERGE = """
import json, sys
import pandas as pd
base, ours, theirs = (pd.read_parquet(p).set_index("id") for p in sys.argv[1:4])
common = theirs.index.intersection(base.index)
merged = ours.copy()
for c in base.columns:
    changed = theirs.loc[common, c] != base.loc[common, c]
    merged.loc[changed[changed].index, c] = theirs.loc[changed[changed].index, c]
merged = pd.concat([merged, theirs.loc[theirs.index.difference(base.index)]])
print(json.dumps({"rows": len(merged)}))
"""


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(prog="python -m bench.merge")
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--work", type=Path)
    args = ap.parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-merge-"))
    work.mkdir(parents=True, exist_ok=True)
    files = {}
    for name, t in zip(("base", "ours", "theirs"), _tables(args.rows)):
        files[name] = work / f"{name}.parquet"
        pq.write_table(t, files[name])
    reg = work / "reg"
    dsreg = [sys.executable, "-m", "dsreg.cli", "--registry", str(reg)]
    procs.run([*dsreg[:3], "init", str(reg)])
    procs.run([*dsreg, "commit", "ds", str(files["base"]), "--key", "id", "-m", "base"])
    procs.run([*dsreg, "branch", "ds", "feature"])
    procs.run([*dsreg, "commit", "ds", str(files["ours"]), "-m", "1% labels"])
    procs.run([*dsreg, "commit", "ds", str(files["theirs"]), "--branch", "feature", "-m", "1% stars, 1% append"])
    diff = procs.run([*dsreg, "diff", "ds@main", "ds@feature", "--stat", "--json"])
    pandas = procs.python(PANDAS_MERGE, *(str(files[n]) for n in ("base", "ours", "theirs")))
    merge = procs.run([*dsreg, "merge", "ds@feature", "--json"])
    result = merge.json()
    split = result["splits"]["train"]
    k = max(1, args.rows // 100)
    changed = pa.concat_tables([pq.read_table(files["theirs"]).slice(args.rows)])   # the appended rows
    out = {
        "rows": args.rows,
        "merge": {"wall_s": round(merge.wall, 2), "peak_rss_mib": round(merge.peak_rss / 2**20, 1), **split},
        "diff": {"wall_s": round(diff.wall, 2), "peak_rss_mib": round(diff.peak_rss / 2**20, 1)},
        "pandas_merge": {"wall_s": round(pandas.wall, 2), "peak_rss_mib": round(pandas.peak_rss / 2**20, 1)},
        "changed_rows": 2 * k + changed.num_rows,
        "merge_new_rows": split.get("new_rows"),
        "merge_new_bytes": split.get("new_bytes"),
    }
    print(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()
