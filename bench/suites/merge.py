"""Merge: two branches of the base data, each with 1% scattered edits (to different
columns), one with a 1% append; `dsreg merge` against one `dsreg diff` of the same two
versions and against loading the three versions in pandas and merging there; and the
merged commit's new bytes against the changed rows (their size alone as zstd Parquet).

`python -m bench.merge` runs the same measurement on its own, for profiling.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from bench import procs

TITLE = "Merge: two branches with 1% edits each"

# Per-row edits, chosen so that both sides' edits are plain cell changes of their own column
OURS_COLUMN, THEIRS_COLUMN = "label", "clicks"


def _edited(t: pa.Table, rows: np.ndarray, column: str) -> pa.Table:
    """`t` with the cells of `column` changed at `rows` (positions in `t`)."""
    if not len(rows):
        return t
    col = t[column].combine_chunks()
    mask = np.zeros(t.num_rows, dtype=bool)
    mask[rows] = True
    if pa.types.is_integer(col.type):
        changed = pc.add(col, pa.scalar(1, col.type))
    else:       # text: another value, never the same one
        changed = pc.binary_join_element_wise(col, pa.scalar("-x", col.type), "")
    return t.set_column(t.schema.get_field_index(column), column, pc.if_else(pa.array(mask), changed, col))


def write_branches(base: Path, work: Path, seed: int = 11) -> dict:
    """ours.parquet (1% of OURS_COLUMN changed) and theirs.parquet (1% of THEIRS_COLUMN
    changed, then 1% new rows), streamed a row group at a time, and the changed rows'
    zstd size: every row that differs from the base on either side."""
    from bench.datagen import changed_size
    meta = pq.ParquetFile(base).metadata
    n = meta.num_rows
    k = max(1, n // 100)
    rng = np.random.default_rng(seed)
    ours_rows, theirs_rows = np.sort(rng.choice(n, k, replace=False)), np.sort(rng.choice(n, k, replace=False))
    files = {"base": base, "ours": work / "ours.parquet", "theirs": work / "theirs.parquet"}
    writers: dict[str, pq.ParquetWriter] = {}
    changed, start, max_id, first = [], 0, -1, None
    for batch in pq.ParquetFile(base).iter_batches(batch_size=1 << 16):
        t = pa.Table.from_batches([batch])
        stop = start + t.num_rows
        mine = ours_rows[(ours_rows >= start) & (ours_rows < stop)] - start
        theirs = theirs_rows[(theirs_rows >= start) & (theirs_rows < stop)] - start
        ours_t, theirs_t = _edited(t, mine, OURS_COLUMN), _edited(t, theirs, THEIRS_COLUMN)
        both = np.union1d(mine, theirs)
        changed.append(_edited(_edited(t, mine, OURS_COLUMN), theirs, THEIRS_COLUMN).take(both))
        for name, out in (("ours", ours_t), ("theirs", theirs_t)):
            if name not in writers:
                writers[name] = pq.ParquetWriter(files[name], out.schema)
            writers[name].write_table(out)
        max_id = max(max_id, pc.max(t["id"]).as_py())
        first = t.slice(0, k) if first is None else first
        start = stop
    assert first is not None
    extra = first.slice(0, k)
    while extra.num_rows < k:       # (a base smaller than one batch: repeat it)
        extra = pa.concat_tables([extra, first]).slice(0, k)
    extra = extra.set_column(extra.schema.get_field_index("id"), "id",
                             pa.array(np.arange(max_id + 1, max_id + 1 + k, dtype=np.int64)))
    writers["theirs"].write_table(extra.cast(writers["theirs"].schema))
    for w in writers.values():
        w.close()
    changed.append(extra)
    every = pa.concat_tables(changed)
    return {"files": files, "rows": n, "edited_per_side": k, "appended": k,
            "changed_rows": every.num_rows, "changed_zstd_bytes": changed_size(every)}


# Loading the three versions whole and merging by key: what one does without dsreg. Lists
# (embeddings) are compared as stacked arrays, every other column with `!=`.
PANDAS_MERGE = """
import json, sys
import numpy as np
import pandas as pd
base, ours, theirs = (pd.read_parquet(p).set_index("id") for p in sys.argv[1:4])
common = theirs.index.intersection(base.index)
merged = ours.copy()

def differs(a, b):
    if len(a) and isinstance(a.iloc[0], np.ndarray):
        return pd.Series((np.stack(a.values) != np.stack(b.values)).any(axis=1), index=a.index)
    return (a != b) & ~(a.isna() & b.isna())

for c in base.columns:
    t, b = theirs.loc[common, c], base.loc[common, c]
    idx = t.index[differs(t, b).values]
    merged.loc[idx, c] = t.loc[idx]
merged = pd.concat([merged, theirs.loc[theirs.index.difference(base.index)]])
print(json.dumps({"rows": len(merged)}))
"""


def measure(work: Path, branches: dict) -> dict:
    """Commit base, ours (main) and theirs (branch feature) in a new registry; time the diff
    of the two heads, the pandas merge and `dsreg merge`."""
    files = branches["files"]
    reg = work / "reg"
    dsreg = [sys.executable, "-m", "dsreg.cli", "--registry", str(reg)]
    procs.run([sys.executable, "-m", "dsreg.cli", "init", str(reg)])
    procs.run([*dsreg, "commit", "ds", str(files["base"]), "--key", "id", "-m", "base"])
    procs.run([*dsreg, "branch", "ds", "feature"])
    procs.run([*dsreg, "commit", "ds", str(files["ours"]), "-m", "1% edits"])
    procs.run([*dsreg, "commit", "ds", str(files["theirs"]), "--branch", "feature", "-m", "1% edits, 1% append"])
    diff = procs.run([*dsreg, "diff", "ds@main", "ds@feature", "--stat", "--json"])
    pandas = procs.python(PANDAS_MERGE, *(str(files[n]) for n in ("base", "ours", "theirs")))
    merge = procs.run([*dsreg, "merge", "ds@feature", "--json"])
    split = merge.json()["splits"]["train"]
    merged_rows = procs.run([*dsreg, "show", "ds", "--json"]).json()["splits"]["train"]["rows"]
    return {
        "rows": branches["rows"], "edited_per_side": branches["edited_per_side"], "appended": branches["appended"],
        "merge": {**procs.measured(merge), **split, "merged_rows": merged_rows},
        "diff": procs.measured(diff, **diff.json()["splits"]["train"]),
        "pandas_merge": procs.measured(pandas, **pandas.json()),
        "changed_rows": branches["changed_rows"], "changed_zstd_bytes": branches["changed_zstd_bytes"],
    }


def run(ctx) -> dict:
    ctx.log("merge: writing two branches of the base data")
    branches = write_branches(ctx.versions["base"].path, ctx.work)
    reps = []
    for i in range(ctx.repeat):
        work = ctx.work / f"rep{i}"
        work.mkdir(parents=True, exist_ok=True)
        reps.append(measure(work, branches))
    return procs.merge_repeats(reps)


def targets(result: dict, meta: dict) -> list[dict]:
    m, d, p = result["merge"], result["diff"], result["pandas_merge"]
    expected = result["rows"] + result["appended"]
    out = [
        {"target": "merge: the merged version has every row", "limit": f"= {expected:,} rows",
         "value": f"{m['merged_rows']:,} rows", "met": m["merged_rows"] == expected, "note": ""},
        {"target": "merge: new bytes against the changed rows", "limit": f"<= {result['changed_zstd_bytes']:,} B",
         "value": f"{m['new_bytes']:,} B", "met": m["new_bytes"] <= result["changed_zstd_bytes"],
         "note": "rows either side had whole are reused"},
        {"target": "merge: time against one diff of the same versions", "limit": "<= 3 x diff",
         "value": f"{m['wall']:.2f} s vs {d['wall']:.2f} s = {m['wall'] / d['wall']:.2f}x",
         "met": m["wall"] <= 3 * d["wall"], "note": ""},
        {"target": "merge: memory against pandas", "limit": "< pandas",
         "value": f"{m['peak_rss'] / 2**20:,.0f} MiB vs {p['peak_rss'] / 2**20:,.0f} MiB",
         "met": m["peak_rss"] < p["peak_rss"], "note": ""},
    ]
    return out


def render(result: dict) -> list[str]:
    m, d, p = result["merge"], result["diff"], result["pandas_merge"]
    mib = 2 ** 20
    lines = [f"{result['rows']:,} rows; each branch edits {result['edited_per_side']:,} scattered rows "
             f"(one column each), one appends {result['appended']:,}. Medians of {len(m.get('walls', [0]))} run(s).",
             "", "| step | time | vs diff | peak RSS |", "|---|---|---|---|"]
    for name, s in (("dsreg merge", m), ("dsreg diff (same heads)", d), ("pandas: load 3 versions, merge", p)):
        lines.append(f"| {name} | {s['wall']:.2f} s | {s['wall'] / d['wall']:.2f}x | {s['peak_rss'] / mib:,.0f} MiB |")
    lines += ["", f"Merged: +{m['added']:,} -{m['removed']:,} ~{m['modified']:,}, {m['merged_rows']:,} rows; "
              f"new rows stored {m.get('new_rows', 0):,}, new bytes {m['new_bytes']:,} B against "
              f"{result['changed_zstd_bytes']:,} B for the {result['changed_rows']:,} changed rows as zstd Parquet."]
    return lines
