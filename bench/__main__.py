"""dsreg against DVC, Oxen, Hub-style chunk dedup and the raw limits, side by side.

    python -m bench [--size small|default|large] [--peers all|none|dvc,oxen,cdc,raw]
                    [--suites all|none|NAME,...] [--repeat N] [--out bench/results] [--work DIR] [--keep]

Writes bench/results/<size>-<timestamp>.json and .md (and <size>-latest.*).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import sys
import tempfile
import time
from pathlib import Path

from . import datagen, report, suites
from .procs import measured, run
from .s3server import MotoServer

HERE = Path(__file__).resolve().parent
PEERS = ("dvc", "oxen", "cdc", "raw")


def machine() -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return {"cpu": cpu, "nproc": os.cpu_count(), "memory_gib": mem / (1 << 30), "platform": platform.platform(),
            "python": platform.python_version(), "loadavg": " ".join(f"{x:.1f}" for x in os.getloadavg())}


def versions_of_packages() -> dict:
    import boto3
    import pyarrow

    import dsreg
    return {"dsreg": dsreg.__version__, "pyarrow": pyarrow.__version__, "boto3": boto3.__version__}


def parse_peers(text: str) -> list[str]:
    if text == "all":
        return list(PEERS)
    if text == "none":
        return []
    peers = [p.strip() for p in text.split(",") if p.strip()]
    unknown = [p for p in peers if p not in PEERS]
    if unknown:
        raise SystemExit(f"unknown peer(s) {', '.join(unknown)}; choose from {', '.join(PEERS)}, all or none")
    return peers


def parse_scenarios(text: str) -> list[str]:
    if text == "all":
        return list(datagen.SCENARIOS)
    chosen = {s.strip() for s in text.split(",") if s.strip()} | {"edit"}
    unknown = chosen - set(datagen.SCENARIOS)
    if unknown:
        raise SystemExit(f"unknown scenario(s) {', '.join(sorted(unknown))}; choose from {', '.join(datagen.SCENARIOS)}")
    return [s for s in datagen.SCENARIOS if s in chosen]


def raw_limits(s3, files: list[Path], work: Path, repeat: int) -> dict:
    """Raw parallel boto3 upload and download of dsreg's objects of the base version, and
    pyarrow's read of its shards from local disk: what no tool can beat on this machine."""
    env = {"PYTHONPATH": str(HERE.parent)}
    reps = []
    for r in range(repeat):
        bucket = s3.new_bucket("raw")
        dest = work / "raw" / f"r{r}"
        shutil.rmtree(dest, ignore_errors=True)
        up = run([sys.executable, "-m", "bench.rawio", "upload", s3.endpoint, bucket, "objects", *map(str, files)],
                 env=env)
        down = run([sys.executable, "-m", "bench.rawio", "download", s3.endpoint, bucket, "objects", str(dest)],
                   env=env)
        rd = run([sys.executable, "-m", "bench.rawio", "read", str(dest)], env=env)
        reps.append({"upload": measured(up, **up.json()), "download": measured(down, **down.json()),
                     "read": measured(rd, **rd.json())})
    from .procs import merge_repeats
    return merge_repeats(reps)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", choices=sorted(datagen.SIZES), default="default")
    ap.add_argument("--rows", type=int, help="override the row count of --size (for quick checks)")
    ap.add_argument("--peers", default="all", help="all, none, or a comma list of: " + ", ".join(PEERS))
    ap.add_argument("--repeat", type=int, default=1, help="repeat every timed sequence N times; report medians")
    ap.add_argument("--scenarios", default="all",
                    help="all, or a comma list of: " + ", ".join(datagen.SCENARIOS) + " (edit is always run: "
                         "the clone loads it)")
    ap.add_argument("--suites", default="all",
                    help="benchmarks of one capability each, after the comparison: all, none, or a comma list of: "
                         + ", ".join(suites.SUITES))
    ap.add_argument("--out", default=str(HERE / "results"), help="folder for the JSON and Markdown results")
    ap.add_argument("--work", help="scratch folder (default: a new temporary folder, removed afterwards)")
    ap.add_argument("--keep", action="store_true", help="keep the scratch folder")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    peers = parse_peers(args.peers)
    log = (lambda *a: None) if args.quiet else (lambda msg: print(msg, file=sys.stderr, flush=True))
    n = args.rows or datagen.SIZES[args.size]
    scenarios = parse_scenarios(args.scenarios)
    chosen_suites = suites.parse(args.suites)
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix=f"dsreg-bench-{args.size}-"))
    work.mkdir(parents=True, exist_ok=True)
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    command = "python -m bench " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    doc: dict = {"meta": {"size": args.size, "rows": n, "scenarios": scenarios, "peers": peers,
                          "suites": chosen_suites, "repeat": args.repeat, "started": started, "command": command.strip(),
                          "machine": machine(), "packages": versions_of_packages()}}
    try:
        log(f"generating {n:,} rows and {len(scenarios)} scenario versions in {work / 'data'}")
        t0 = time.perf_counter()
        versions = datagen.write_all(n, work / "data", scenarios)
        doc["meta"]["generate_seconds"] = time.perf_counter() - t0
        doc["data"] = {k: {"rows": v.rows, "file_bytes": v.bytes, "changed_rows": v.changed_rows,
                           "changed_zstd_bytes": v.changed_zstd_bytes}
                       for k, v in versions.items() if k in ("base", *scenarios)}
        with MotoServer() as s3:
            from .tools.dsreg_tool import DsregTool
            log("dsreg")
            tool = DsregTool(work, s3, args.repeat)
            doc["dsreg"] = tool.run_all(versions, scenarios, log)
            if "raw" in peers:
                log("raw limits")
                doc["raw"] = raw_limits(s3, tool.base_objects, work, args.repeat)
            if "dvc" in peers:
                from .tools.dvc_tool import DvcTool
                log("dvc")
                doc["dvc"] = _guarded(lambda: DvcTool(work, s3, HERE / ".venv-dvc", args.repeat)
                                      .run_all(versions, scenarios, log))
            if "oxen" in peers:
                from .tools.oxen_tool import OxenTool
                log("oxen")
                doc["oxen"] = _guarded(lambda: OxenTool(work, HERE / ".venv-oxen", args.repeat)
                                       .run_all(versions, scenarios, log))
            doc["suites"] = {}
            for name in chosen_suites:
                log(f"suite {name}")
                ctx = suites.Context(versions, work / "suites" / name, s3, args.repeat, n, args.size, log)
                ctx.work.mkdir(parents=True, exist_ok=True)
                doc["suites"][name] = _guarded(lambda name=name, ctx=ctx: suites.load(name).run(ctx))
        if "cdc" in peers:
            from .tools import cdc_tool
            log("hub-style cdc")
            doc["cdc"] = _guarded(lambda: cdc_tool.run_all(versions, scenarios, log))
        doc["targets"] = report.targets(doc)
        doc["meta"]["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
    finally:
        if not args.keep and not args.work:
            shutil.rmtree(work, ignore_errors=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    text = report.render(doc)
    for name in (f"{args.size}-{stamp}", f"{args.size}-latest"):
        (out / f"{name}.json").write_text(json.dumps(doc, indent=1) + "\n")
        (out / f"{name}.md").write_text(text)
    log(text)
    log(f"results: {out / (args.size + '-' + stamp)}.json and .md")
    return doc


def _guarded(fn) -> dict:
    """A peer that fails is recorded with its error, never given made-up numbers."""
    try:
        return fn()
    except Exception as e:      # noqa: BLE001
        return {"error": f"{type(e).__name__}: {str(e)[-2000:]}"}


if __name__ == "__main__":
    main()
