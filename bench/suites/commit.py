"""Commit speed (issue 17): how fast a commit takes in a Parquet file, against how fast the
file can be read at all and how fast `dvc add` takes it in, in the same run.

Per repetition, each its own process:

- decode limit: `pyarrow.parquet.read_table` of the file, timed inside the process (no
  interpreter start, no imports): the least any tool that reads the rows must spend;
- dsreg: `dsreg commit --json` of the base file into a new registry (initial), then of the
  1% scattered edit (edit): the command's wall time, as a user waits for it, and peak RSS;
- dvc: `dvc add` of the same files in a `dvc init --no-scm` repository (the file is copied
  in first, untimed), with the dvc installed beside this Python.

Throughput is the input file's bytes over the wall time. The targets are issue 17's: initial
commit at least 0.5x of the decode limit, 1% edit at least 0.6x, both faster than `dvc add`.
"""
from __future__ import annotations

import shutil
import sys
from pathlib import Path
from statistics import median

from ..procs import measured, python
from ..procs import run as run_process
from ..tools.dsreg_tool import DATASET, dsreg

TITLE = "Commit speed"
MB = 1e6
_DECODE = ("import sys, time; import pyarrow.parquet as pq; t = time.perf_counter(); "
           "n = pq.read_table(sys.argv[1]).num_rows; print(time.perf_counter() - t)")
_DVC_ENV = {"DVC_NO_ANALYTICS": "1"}


def _dvc() -> str | None:
    beside = Path(sys.executable).parent / "dvc"
    return str(beside) if beside.exists() else shutil.which("dvc")


def _once(ctx, r: int, files: dict[str, Path]) -> dict:
    root = ctx.work / f"r{r}"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    out: dict = {}
    for name, path in files.items():
        step = python(_DECODE, str(path))
        out.setdefault(name, {})["decode"] = measured(step, seconds=float(step.stdout.strip()))
    reg = root / "reg"
    dsreg("init", str(reg))
    for name, path in files.items():
        step = dsreg("commit", DATASET, str(path), "-m", name, "--json", registry=reg)
        split = step.json()["splits"]["train"]
        out[name]["commit"] = measured(step, new_rows=split["new_rows"], reused_rows=split["reused_rows"])
    dvc = _dvc()
    if dvc is not None:
        repo = root / "dvc"
        repo.mkdir()
        run_process([dvc, "init", "--no-scm", "-q"], cwd=repo, env=_DVC_ENV)
        for name, path in files.items():
            shutil.copyfile(path, repo / "data.parquet")       # the user's new file, not timed
            out[name]["dvc_add"] = measured(run_process([dvc, "add", "-q", "data.parquet"], cwd=repo, env=_DVC_ENV))
    shutil.rmtree(root, ignore_errors=True)                     # the next repetition's disk
    return out


def run(ctx) -> dict:
    files = {"initial": Path(ctx.versions["base"].path)}
    if "edit" in ctx.versions:
        files["edit"] = Path(ctx.versions["edit"].path)
    reps = [_once(ctx, r, files) for r in range(max(ctx.repeat, 1))]
    result: dict = {"rows": ctx.rows, "repeat": len(reps), "dvc": _dvc() is not None, "phases": {}}
    for name, path in files.items():
        size = path.stat().st_size
        one: dict = {"file_bytes": size}
        for step in ("decode", "commit", "dvc_add"):
            if step not in reps[0][name]:
                continue
            key = "seconds" if step == "decode" else "wall"
            secs = [rep[name][step][key] for rep in reps]
            one[step] = {"seconds": median(secs), "all": [round(s, 3) for s in secs],
                         "mb_per_s": size / MB / median(secs),
                         "peak_rss": max(rep[name][step]["peak_rss"] for rep in reps),
                         "cpu": median(rep[name][step]["cpu"] for rep in reps)}
        one["reused_rows"] = reps[0][name]["commit"]["reused_rows"]
        one["new_rows"] = reps[0][name]["commit"]["new_rows"]
        result["phases"][name] = one
    return result


_TARGETS = {"initial": 0.5, "edit": 0.6}


def targets(result: dict, meta: dict) -> list[dict]:
    out = []
    for name, limit in _TARGETS.items():
        one = result["phases"].get(name)
        if one is None:
            continue
        ratio = one["commit"]["mb_per_s"] / one["decode"]["mb_per_s"]
        out.append({"target": f"{name} commit throughput vs the decode limit", "limit": f">= {limit}x",
                    "value": f"{ratio:.2f}x ({one['commit']['mb_per_s']:.0f} vs {one['decode']['mb_per_s']:.0f} MB/s)",
                    "met": ratio >= limit, "note": ""})
        if "dvc_add" in one:
            c, d = one["commit"]["seconds"], one["dvc_add"]["seconds"]
            out.append({"target": f"{name} commit faster than dvc add", "limit": "< dvc add",
                        "value": f"{c:.2f} s vs {d:.2f} s", "met": c < d, "note": ""})
    return out


def render(result: dict) -> list[str]:
    lines = [f"{result['rows']:,} rows; medians of {result['repeat']} run(s); MB/s of the input Parquet file. "
             "Decode: `pyarrow.parquet.read_table` timed in-process; commit and `dvc add`: the command's wall "
             "time.", "",
             "| commit | file | decode limit | dsreg commit | ratio | dvc add | commit peak RSS | commit CPU |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, one in result["phases"].items():
        dec, com = one["decode"], one["commit"]
        dvc = one.get("dvc_add")
        dvc_text = f"{dvc['seconds']:.2f} s ({dvc['mb_per_s']:.0f} MB/s)" if dvc else "-"
        lines.append(
            f"| {name} | {one['file_bytes'] / MB:.0f} MB | {dec['seconds']:.2f} s ({dec['mb_per_s']:.0f} MB/s) "
            f"| {com['seconds']:.2f} s ({com['mb_per_s']:.0f} MB/s) | {com['mb_per_s'] / dec['mb_per_s']:.2f}x "
            f"| {dvc_text} "
            f"| {com['peak_rss'] / 2**20:.0f} MiB | {com['cpu']:.2f} s |")
    if not result.get("dvc"):
        lines += ["", "dvc is not installed beside this Python: no `dvc add` column."]
    return lines


def main(argv: list[str] | None = None) -> None:
    """`python -m bench.suites.commit DATA [--repeat N]`: this suite alone, on a folder holding
    base.parquet and edit.parquet (`python -m bench ... --work DIR --keep` leaves DIR/data),
    with the dsreg that PYTHONPATH gives: how before/after figures are taken in one session."""
    import argparse
    import json
    import tempfile

    from ..datagen import Version
    from . import Context
    ap = argparse.ArgumentParser(prog="python -m bench.suites.commit")
    ap.add_argument("data", type=Path)
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args(argv)
    versions = {n: Version(n, args.data / f"{n}.parquet", 0, (args.data / f"{n}.parquet").stat().st_size)
                for n in ("base", "edit") if (args.data / f"{n}.parquet").exists()}
    rows = pq_rows(versions["base"].path)
    with tempfile.TemporaryDirectory(prefix="dsreg-commit-suite-") as work:
        result = run(Context(versions, Path(work), None, args.repeat, rows, "default", print))
    print("\n".join(render(result)))
    for t in targets(result, {}):
        print(f"{t['target']}: {t['value']} ({'met' if t['met'] else 'NOT met'})")
    print(json.dumps(result))


def pq_rows(path: Path) -> int:
    import pyarrow.parquet as pq
    return pq.ParquetFile(path).metadata.num_rows


if __name__ == "__main__":
    main()
