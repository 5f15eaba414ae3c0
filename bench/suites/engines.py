"""Engines: committing the generated data from Dask workers against `dsreg commit` of the
same rows as one file, and reading a version through Dask and Ray against the
single-process stream.

Each measurement is its own process (wall time, the driver's peak RSS; the workers' peak
RSS is reported by the workers themselves). The Dask commit reads the Parquet file in
partitions of about 64 MiB (`dd.read_parquet`), on a LocalCluster of 2 worker processes
with one thread each; the base version is committed first, then the edit scenario on top
of it, so the second shows the reuse of base rows.

    python -m bench.suites.engines JOB ARGS...     (one job, as the suite runs it)
"""
from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

from ..procs import answer, measured, merge_repeats
from ..procs import run as run_process
from ..tools.dsreg_tool import DATASET, dsreg

TITLE = "Engines: Dask and Ray"
WORKERS = 2


# -- the jobs, each run in a process of its own ---------------------------------------------
def _hwm() -> int:
    with open("/proc/self/status", "rb") as f:
        for line in f:
            if line.startswith(b"VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def _cluster():
    from dask.distributed import Client, LocalCluster
    cluster = LocalCluster(n_workers=WORKERS, threads_per_worker=1, processes=True, host="127.0.0.1",
                           dashboard_address=None)
    return cluster, Client(cluster)


def job_dask_commit(registry: str, path: str, message: str) -> dict:
    import dask.dataframe as dd

    import dsreg
    from dsreg.integrations import dask as dsreg_dask
    cluster, client = _cluster()
    try:
        reg = dsreg.Registry(registry)
        from dsreg.integrations.engines import commit_engine
        ddf = dd.read_parquet(path, split_row_groups="adaptive", blocksize="64MiB", dtype_backend="pyarrow")
        engine = dsreg_dask.DaskEngine(ddf)
        phases: list[float] = []
        run_phase = engine.run

        def timed(phase, extra):        # the profile: each phase on the workers, the rest on the driver
            t = time.perf_counter()
            try:
                return run_phase(phase, extra)
            finally:
                phases.append(time.perf_counter() - t)
        engine.run = timed  # type: ignore[method-assign]
        t0 = time.perf_counter()
        res = commit_engine(engine, DATASET, registry=reg, remote=None, origin="<dask.DataFrame>", message=message)
        wall = time.perf_counter() - t0
        split = res.splits["train"]
        return {"commit_wall": wall, "fingerprint_wall": phases[0], "write_wall": phases[1],
                "driver_wall": wall - sum(phases), "partitions": ddf.npartitions, "rows": split.rows,
                "new_rows": split.new_rows, "reused_rows": split.reused_rows, "new_bytes": split.new_bytes,
                "worker_peak_rss": sorted(client.run(_hwm).values())}
    finally:
        client.close()
        cluster.close()


def job_read(engine: str, registry: str, spec: str) -> dict:
    """Every row of the base, counted where it is read; the clock starts at opening the
    version (the registry open and the engine started before it)."""
    import dsreg
    reg = dsreg.Registry(registry)
    _ = reg.manifest
    if engine == "stream":
        t0 = time.perf_counter()
        rows = sum(b.num_rows for b in dsreg.dataset(spec, registry=reg).to_batches())
        return {"rows": rows, "read_wall": time.perf_counter() - t0}
    if engine == "dask":
        from dsreg.integrations import dask as dsreg_dask
        cluster, client = _cluster()
        try:
            t0 = time.perf_counter()
            ddf = dsreg_dask.read(spec, registry=reg)
            rows = int(ddf.map_partitions(len).compute().sum())
            return {"rows": rows, "read_wall": time.perf_counter() - t0, "partitions": ddf.npartitions,
                    "worker_peak_rss": sorted(client.run(_hwm).values())}
        finally:
            client.close()
            cluster.close()
    import ray

    from dsreg.integrations import ray as dsreg_ray
    ray.init(num_cpus=WORKERS, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False,
             configure_logging=False)
    try:
        from ray.data import DataContext
        DataContext.get_current().enable_progress_bars = False
        t0 = time.perf_counter()
        ds = dsreg_ray.read(spec, registry=reg)
        # the rows are counted where they are read: only the counts travel to the driver
        rows = int(ds.map_batches(lambda b: {"n": [b.num_rows]}, batch_format="pyarrow").sum("n"))
        return {"rows": rows, "read_wall": time.perf_counter() - t0}
    finally:
        ray.shutdown()


# -- the suite ---------------------------------------------------------------------------
def _job(*args: str) -> tuple[dict, dict]:
    step = run_process([sys.executable, "-m", "bench.suites.engines", *args],
                       cwd=str(Path(__file__).resolve().parents[2]))
    return step.json(), measured(step)


def _once(ctx, r: int) -> dict:
    out: dict = {}
    names = ["base"] + (["edit"] if "edit" in ctx.versions else [])
    for how in ("single", "dask"):
        reg = ctx.work / f"r{r}-{how}"
        shutil.rmtree(reg, ignore_errors=True)
        dsreg("init", str(reg))
        for name in names:
            v = ctx.versions[name]
            if how == "single":
                step = dsreg("commit", DATASET, str(v.path), "-m", name, "--json", registry=reg)
                split = step.json()["splits"]["train"]
                res = measured(step, rows=split["rows"], new_rows=split["new_rows"], reused_rows=split["reused_rows"],
                               new_bytes=split["new_bytes"])
            else:
                doc, m = _job("dask_commit", str(reg), str(v.path), name)
                res = {**m, **doc}
            out.setdefault(how, {})[name] = res
            ctx.log(f"  engines {how} commit {name}: {res['wall']:.2f}s, {res['new_bytes']:,} new bytes")
    reg = ctx.work / f"r{r}-single"
    base = f"{DATASET}@main~{len(names) - 1}"      # the base version: whole shards, one run each
    for engine in ("stream", "dask", "ray"):
        try:
            doc, m = _job("read", engine, str(reg), base)
            out.setdefault("read", {})[engine] = {**m, **doc}
            ctx.log(f"  engines read {engine}: {doc['read_wall']:.2f}s for {doc['rows']:,} rows")
        except Exception as e:      # noqa: BLE001 - one engine failing is recorded, not fatal
            out.setdefault("read", {})[engine] = {"error": f"{type(e).__name__}: {str(e)[-1500:]}"}
    return out


def run(ctx) -> dict:
    return merge_repeats([_once(ctx, r) for r in range(ctx.repeat)])


def _ratio(a, b):
    return a / b if a and b else None


def targets(result: dict, meta: dict) -> list[dict]:
    out = []
    single, dist = result.get("single", {}), result.get("dask", {})
    base_s, base_d = single.get("base", {}), dist.get("base", {})
    if base_s and base_d:
        ratio = _ratio(base_d.get("new_bytes"), base_s.get("new_bytes"))
        out.append({"target": "Dask commit of the base stores what `dsreg commit` stores (new bytes)",
                    "limit": "within 5%", "value": _x(ratio), "met": ratio is not None and abs(ratio - 1) <= 0.05,
                    "note": "shards are cut per partition: boundaries differ near partition ends"})
        ratio = _ratio(base_d.get("commit_wall"), base_s.get("wall"))
        out.append({"target": f"Dask commit of the base ({WORKERS} workers) against `dsreg commit` (time)",
                    "limit": "<= 2x", "value": _x(ratio), "met": ratio is not None and ratio <= 2.0,
                    "note": "the commit call alone against the whole single process (cluster start-up is in the "
                            "table); the partitions are read twice (fingerprint, then write)"})
    edit_s, edit_d = single.get("edit", {}), dist.get("edit", {})
    if edit_s and edit_d:
        out.append({"target": "Dask commit of the edit reuses base rows as `dsreg commit` does (new rows)",
                    "limit": "equal", "value": edit_d.get("new_rows"),
                    "met": edit_d.get("new_rows") == edit_s.get("new_rows"), "note": f"single: {edit_s.get('new_rows')}"})
    reads = result.get("read", {})
    stream = reads.get("stream", {}).get("read_wall")
    for engine in ("dask", "ray"):
        wall = reads.get(engine, {}).get("read_wall")
        if stream and wall:
            ratio = stream / wall
            out.append({"target": f"read through {engine} against the single-process stream (throughput)",
                        "limit": ">= 0.5x", "value": _x(ratio), "met": ratio >= 0.5,
                        "note": "engine start-up excluded; rows counted on the workers"})
    return out


def _x(ratio) -> str:
    return f"{ratio:.2f}x" if isinstance(ratio, (int, float)) else "-"


def _mb(x) -> str:
    return f"{x / 1e6:,.1f} MB" if isinstance(x, (int, float)) else "-"


def _s(x) -> str:
    return f"{x:.2f} s" if isinstance(x, (int, float)) else "-"


def render(result: dict) -> list[str]:
    lines = ["Commit of the same rows: `dsreg commit FILE` in one process against `dsreg.integrations.dask.commit` "
             f"on a LocalCluster of {WORKERS} worker processes (wall time of the whole process, cluster start-up "
             "included; peak RSS of the driver and of each worker).", "",
             "| version | how | wall | commit alone | new rows | new bytes | driver peak RSS | worker peak RSS |",
             "|---|---|---|---|---|---|---|---|"]
    for how in ("single", "dask"):
        for name, r in result.get(how, {}).items():
            workers = ", ".join(_mb(x) for x in r.get("worker_peak_rss", [])) or "-"
            lines.append(f"| {name} | {how} | {_s(r.get('wall'))} | {_s(r.get('commit_wall', r.get('wall')))} | "
                         f"{r.get('new_rows', 0):,} | {_mb(r.get('new_bytes'))} | {_mb(r.get('peak_rss'))} | {workers} |")
    profile = [(name, r) for name, r in result.get("dask", {}).items() if "fingerprint_wall" in r]
    if profile:
        lines += ["", "Where the Dask commit's time goes (phase 1 and 2 run on the workers, the rest on the driver: "
                  "planning, the base index, the match, joining the runs, recording):", "",
                  "| version | fingerprint (workers) | driver | write (workers) | driver per row |",
                  "|---|---|---|---|---|"]
        for name, r in profile:
            per_row = r["driver_wall"] / r["rows"] * 1e6 if r.get("rows") else None
            lines.append(f"| {name} | {_s(r['fingerprint_wall'])} | {_s(r['driver_wall'])} | {_s(r['write_wall'])} | "
                         + (f"{per_row:.2f} us |" if per_row is not None else "- |"))
    lines += ["", "Read of the base version, every row, counted where it is read:", "",
              "| engine | rows | read | rows/s | vs stream |", "|---|---|---|---|---|"]
    reads = result.get("read", {})
    stream = reads.get("stream", {}).get("read_wall")
    for engine, r in reads.items():
        if "error" in r:
            lines.append(f"| {engine} | error: {r['error'][:120]} | | | |")
            continue
        wall = r.get("read_wall")
        rate = r["rows"] / wall if wall else None
        vs = f"{stream / wall:.2f}x" if stream and wall else "-"
        lines.append(f"| {engine} | {r['rows']:,} | {_s(wall)} | {rate:,.0f} | {vs} |" if rate else
                     f"| {engine} | {r['rows']:,} | - | - | - |")
    return lines


if __name__ == "__main__":
    job, *args = sys.argv[1:]
    answer({"dask_commit": job_dask_commit, "read": job_read}[job](*args))
