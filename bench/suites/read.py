"""Reading a version: streaming against loading (peak RSS), streaming against pyarrow.dataset
scanning the same shard files (throughput), a torch DataLoader over the version against one
over datasets' streaming Parquet loader of the same files, and the time to the first batch
from an S3 remote without a registry. Every step is a process of its own (bench/readsteps.py).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from statistics import median

from ..procs import measured
from ..procs import run as run_process
from ..tools.dsreg_tool import dsreg

TITLE = "Reading: streaming, loaders, remote first batch"
MIB = 1 << 20
BATCH = 1024
WORKERS = 2
# the numeric columns without nulls: every loader turns them into tensors, so the
# comparison is of reading, not of turning strings and lists into Python objects
TENSOR_COLUMNS = "id,user_id,n_views,clicks,score,price"
# rows each loader reads: datasets' row-by-row collation reads ~10^4 rows/s on a busy
# 2-core machine, so a whole large epoch would take an hour; the rate is steady well before
LOADER_ROWS = 300 * BATCH
ROOT = Path(__file__).resolve().parents[2]


def _step(*args: str, env: dict | None = None) -> dict:
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    step = run_process([sys.executable, "-m", "bench.readsteps", *args], env={"PYTHONPATH": path, **(env or {})})
    return measured(step, **step.json())


def _merged(reps: list[dict]) -> dict:
    """Repetitions -> one record: medians of the times, the largest peak RSS."""
    out = dict(reps[0])
    for key in reps[0]:
        if key.endswith("seconds") or key in ("wall", "cpu"):
            out[key] = median(r[key] for r in reps)
        elif key == "peak_rss":
            out[key] = max(r[key] for r in reps)
    if len(reps) > 1:
        out["repeats"] = [round(r["seconds"], 4) for r in reps]
    return out


def _rates(rec: dict, stored_bytes: int) -> dict:
    s = rec["seconds"]
    return {**rec, "rows_per_s": rec["rows"] / s, "stored_mb_per_s": stored_bytes / s / 1e6,
            "arrow_mb_per_s": rec.get("arrow_bytes", 0) / s / 1e6}


def run(ctx) -> dict:
    reg = ctx.work / "reg"
    dsreg("init", str(reg))
    commit = dsreg("commit", "bench", str(ctx.versions["base"].path), "-m", "base", "--json",
                   registry=reg).json()["id"]
    spec = f"bench@{commit}"
    files = _step("shards", str(reg), spec)
    listing = ctx.work / "shards.txt"
    listing.write_text("\n".join(files["paths"]) + "\n")
    stored = files["stored_bytes"]
    out: dict = {"rows": files["rows"], "shards": len(files["paths"]), "stored_bytes": stored, "commit": commit}

    ctx.log("  read: stream / load / pyarrow.dataset")
    _step("pyarrow", str(listing))                     # the page cache warm for both readers
    reps: dict[str, list] = {"stream": [], "load": [], "pyarrow": []}
    for _ in range(ctx.repeat):
        reps["pyarrow"].append(_step("pyarrow", str(listing)))
        reps["stream"].append(_step("stream", str(reg), spec))
        reps["load"].append(_step("load", str(reg), spec))
    for name, rs in reps.items():
        out[name] = _rates(_merged(rs), stored)

    ctx.log("  read: torch DataLoader, dsreg vs datasets")
    cols = TENSOR_COLUMNS
    limit = str(LOADER_ROWS)
    out["loader"] = {"batch_size": BATCH, "workers": WORKERS, "columns": cols.split(","), "limit": LOADER_ROWS}
    for name, args in (("dsreg", ("torch", str(reg), spec, str(BATCH), str(WORKERS), cols, limit)),
                       ("hf_rows", ("hf", str(listing), str(BATCH), str(WORKERS), cols, "rows", limit)),
                       ("hf_batched", ("hf", str(listing), str(BATCH), str(WORKERS), cols, "batched", limit))):
        rec = _merged([_step(*args, env={"HF_HOME": str(ctx.work / "hf")}) for _ in range(ctx.repeat)])
        out["loader"][name] = {**rec, "rows_per_s": rec["rows"] / rec["seconds"]}

    ctx.log("  read: first batch from S3 without a registry")
    bucket = ctx.s3.new_bucket("read")
    url = f"s3://{bucket}/data"
    dsreg("remote", "add", "s3", url, "--endpoint-url", ctx.s3.endpoint, registry=reg)
    dsreg("push", "s3", "bench@main", registry=reg)
    rs = []
    for r in range(ctx.repeat):
        cache = ctx.work / f"cache-{r}"         # empty: everything comes from the remote
        rs.append(_step("remote", url, ctx.s3.endpoint, spec, env={"DSREG_CACHE": str(cache)}))
    out["remote"] = _rates(_merged(rs), stored)
    return out


def targets(result: dict, meta: dict) -> list[dict]:
    size, rows = meta["size"], result["rows"]
    at = f"{size} size, {rows:,} rows" + ("" if size == "large" else "; the target is for large")
    s, ld, pa = result["stream"], result["load"], result["pyarrow"]
    ratio = s["rows_per_s"] / pa["rows_per_s"]
    return [
        {"target": f"peak RSS streaming a version ({at})", "limit": "< 512 MiB",
         "value": f"{s['peak_rss'] / MIB:.0f} MiB (load: {ld['peak_rss'] / MIB:.0f} MiB)",
         "met": s["peak_rss"] < 512 * MIB, "note": ""},
        {"target": "streaming throughput vs pyarrow.dataset over the same shards", "limit": ">= 0.8x",
         "value": f"{s['rows_per_s'] / 1e6:.2f}M vs {pa['rows_per_s'] / 1e6:.2f}M rows/s = {ratio:.2f}x",
         "met": ratio >= 0.8, "note": ""},
    ]


def render(result: dict) -> list[str]:
    s, ld, pa, rm, lo = (result[k] for k in ("stream", "load", "pyarrow", "remote", "loader"))
    lines = [f"{result['rows']:,} rows in {result['shards']} shards, {result['stored_bytes'] / MIB:.1f} MiB stored; "
             "each reader its own process; rates from the reading time inside it (imports excluded).", "",
             "| reader | time | rows/s | stored MB/s | Arrow MB/s | peak RSS |", "|---|---|---|---|---|---|"]
    for label, r in (("dsreg to_batches (stream)", s), ("dsreg.load (whole table)", ld),
                     ("pyarrow.dataset scan of the shard files", pa)):
        lines.append(f"| {label} | {r['seconds']:.2f} s | {r['rows_per_s'] / 1e6:.2f}M | {r['stored_mb_per_s']:.0f} "
                     f"| {r['arrow_mb_per_s']:.0f} | {r['peak_rss'] / MIB:.0f} MiB |")
    lines += ["", f"torch DataLoader, {lo['workers']} workers, batches of {lo['batch_size']}, the first "
              f"{lo['limit']:,} rows (or all, if fewer) of columns {', '.join(lo['columns'])}; times include "
              "opening the data and starting the workers:", "", "| loader | time | rows/s | peak RSS (main process) |",
              "|---|---|---|---|"]
    for label, key in (("dsreg `to_torch(batch_size=...)`", "dsreg"),
                       ("datasets streaming Parquet, `with_format('torch')`, rows collated", "hf_rows"),
                       ("datasets streaming Parquet, `.batch(...)`, whole batches", "hf_batched")):
        r = lo[key]
        lines.append(f"| {label} | {r['seconds']:.2f} s | {r['rows_per_s']:,.0f} | {r['peak_rss'] / MIB:.0f} MiB |")
    lines += ["", f"From S3 (moto, loopback) without a registry, empty cache: first batch "
              f"{rm['first_batch_seconds']:.2f} s (dsreg's reading modules imported, the version opened and "
              f"planned, the first shard fetched) after importing pyarrow, boto3 and dsreg "
              f"({rm['import_seconds']:.2f} s), all rows "
              f"{rm['seconds']:.2f} s ({rm['rows_per_s'] / 1e6:.2f}M rows/s, {rm['stored_mb_per_s']:.0f} MB/s stored), "
              f"peak RSS {rm['peak_rss'] / MIB:.0f} MiB."]
    return lines
