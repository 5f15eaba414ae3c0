"""Targets and the Markdown report of one run, from its results document."""
from __future__ import annotations

from . import suites
from .datagen import ONE_PERCENT

MIB, GIB = 1 << 20, 1 << 30


def _get(doc: dict, *path, default=None):
    for p in path:
        if not isinstance(doc, dict) or p not in doc:
            return default
        doc = doc[p]
    return doc


def _ratio(a, b):
    return a / b if a is not None and b else None


def targets(doc: dict) -> list[dict]:
    """Each target of the issue: what it asks, what was measured, met or not (None: not measured)."""
    d, dvc, oxen, raw = doc["dsreg"], doc.get("dvc") or {}, doc.get("oxen") or {}, doc.get("raw") or {}
    data = doc["data"]
    one_percent = [s for s in ONE_PERCENT if s in doc["meta"]["scenarios"]]
    out = []

    def add(name, limit, value, met, note=""):
        out.append({"target": name, "limit": limit, "value": value, "met": met, "note": note})

    for s in one_percent:
        up = _get(d, s, "push_s3", "uploaded_bytes")
        limit = 2 * data[s]["changed_zstd_bytes"] + MIB
        add(f"bytes uploaded, {s} 1%", f"<= 2 x {data[s]['changed_zstd_bytes']:,} + 1 MiB = {limit:,} B",
            f"{up:,} B", up <= limit)
        dvc_up = _get(dvc, s, "push", "uploaded_bytes")
        if dvc_up:
            add(f"bytes uploaded vs DVC, {s} 1%", "<= 5% of DVC's", f"{100 * up / dvc_up:.2f}% of {dvc_up:,} B",
                up <= 0.05 * dvc_up)
    for s in one_percent:
        ours = _get(d, s, "commit", "wall", default=0) + _get(d, s, "push_s3", "wall", default=0)
        theirs = (_get(dvc, s, "add", "wall") or 0) + (_get(dvc, s, "push", "wall") or 0)
        if theirs:
            add(f"commit + push time vs DVC add + push, {s} 1%", "<= 1/10",
                f"{ours:.2f} s vs {theirs:.2f} s = 1/{theirs / ours:.1f}" if ours else "-", ours <= theirs / 10)
    ours = _get(d, "base", "commit", "wall", default=0) + _get(d, "base", "push_s3", "wall", default=0)
    theirs = (_get(dvc, "base", "add", "wall") or 0) + (_get(dvc, "base", "push", "wall") or 0)
    if theirs:
        add("initial commit + push time vs DVC add + push", "<= 1x", f"{ours:.2f} s vs {theirs:.2f} s "
            f"= {ours / theirs:.2f}x", ours <= theirs)
    ours = _get(d, "clone_load", "wall")
    limit = (_get(raw, "download", "wall") or 0) + (_get(raw, "read", "wall") or 0)
    if ours and limit:
        add("clone + load throughput vs raw boto3 download + pyarrow read", ">= 0.8x",
            f"{limit:.2f} s / {ours:.2f} s = {limit / ours:.2f}x", limit / ours >= 0.8)
    walls = {s: _get(d, s, "diff", "wall") for s in one_percent}
    worst = max(walls, key=lambda s: walls[s] or 0)
    add(f"diff of two versions differing by 1% ({doc['meta']['size']} size; the target is for large)",
        "<= 2 s", f"{walls[worst]:.2f} s (slowest: {worst})", walls[worst] <= 2.0)
    for s in one_percent:
        theirs = _get(oxen, s, "diff", "wall")
        if theirs:
            add(f"diff faster than Oxen's, {s} 1%", "< Oxen", f"{walls[s]:.2f} s vs {theirs:.2f} s "
                f"= {walls[s] / theirs:.2f}x", walls[s] < theirs)
    peak = max(_get(d, s, "commit", "peak_rss", default=0) for s in ["base", *one_percent])
    add(f"peak memory of commit ({doc['meta']['size']} size; the target is for large)", "<= 2 GiB",
        f"{peak / GIB:.2f} GiB", peak <= 2 * GIB)
    for name, result in (doc.get("suites") or {}).items():
        if "error" not in result:
            out += suites.load(name).targets(result, doc["meta"])
    return out


# -- Markdown -----------------------------------------------------------------------
def _s(x) -> str:
    return "-" if x is None else f"{x:.2f} s"


def _b(x) -> str:
    if x is None:
        return "-"
    for unit, size in (("GiB", GIB), ("MiB", MIB), ("KiB", 1024)):
        if abs(x) >= size:
            return f"{x / size:.1f} {unit}"
    return f"{x} B"


def _x(x) -> str:
    return "-" if x is None else (f"{x:.2f}x" if x >= 0.1 else f"1/{1 / x:.0f}" if x > 0 else "0")


def render(doc: dict) -> str:
    meta, data, d = doc["meta"], doc["data"], doc["dsreg"]
    dvc, oxen, cdc, raw = (doc.get(k) or {} for k in ("dvc", "oxen", "cdc", "raw"))
    scen = ["base", *meta["scenarios"]]
    lines = [f"# dsreg benchmark: {meta['size']} ({meta['rows']:,} rows)", "",
             f"Run {meta['started']} on {meta['machine']['cpu']} ({meta['machine']['nproc']} cores, "
             f"{meta['machine']['memory_gib']:.0f} GiB), load average at start {meta['machine']['loadavg']}; "
             f"repeats: {meta['repeat']} (median wall time).", "",
             f"Command: `{meta['command']}`", "",
             f"Peers: DVC {dvc.get('version', '-')}, Oxen {oxen.get('version', '-')}"
             + (f" ({oxen['error'][:200]})" if oxen.get("error") else "")
             + (f"; DVC: {dvc['error'][:200]}" if dvc.get("error") else ""), ""]
    lines += ["## Time: commit + push (S3) vs DVC add + push", "",
              "| scenario | dsreg commit | dsreg push | dsreg total | DVC add | DVC push | DVC total | dsreg / DVC |"
              " dsreg push file:// |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for s in scen:
        c, p = _get(d, s, "commit", "wall"), _get(d, s, "push_s3", "wall")
        a, q = _get(dvc, s, "add", "wall"), _get(dvc, s, "push", "wall")
        ours = (c or 0) + (p or 0)
        theirs = (a or 0) + (q or 0) if a is not None else None
        lines.append(f"| {s} | {_s(c)} | {_s(p)} | {_s(ours)} | {_s(a)} | {_s(q)} | {_s(theirs)} | "
                     f"{_x(_ratio(ours, theirs))} | {_s(_get(d, s, 'push_file', 'wall'))} |")
    lines += ["", "## Bytes uploaded per scenario", "",
              "Changed rows alone: those rows written as Parquet with zstd (level 3); the bytes target is "
              "2x that plus 1 MiB. Hub-style CDC: Parquet with content-defined pages, ~64 KiB chunks, "
              "bytes of chunks the store lacks.", "",
              "| scenario | changed rows (zstd) | dsreg | DVC | dsreg / DVC | HF-style CDC | dsreg / CDC |",
              "|---|---:|---:|---:|---:|---:|---:|"]
    for s in scen:
        up = _get(d, s, "push_s3", "uploaded_bytes")
        du = _get(dvc, s, "push", "uploaded_bytes")
        cu = _get(cdc, s, "uploaded_bytes")
        lines.append(f"| {s} | {_b(data[s]['changed_zstd_bytes']) if s != 'base' else '-'} | {_b(up)} | {_b(du)} | "
                     f"{_x(_ratio(up, du))} | {_b(cu)} | {_x(_ratio(up, cu))} |")
    last = scen[-1]
    lines += ["", f"Bytes stored on the remote after all scenarios: dsreg {_b(_get(d, last, 'push_s3', 'stored_bytes'))}, "
              f"DVC {_b(_get(dvc, last, 'push', 'stored_bytes'))}, HF-style CDC "
              f"{_b(sum(_get(cdc, s, 'uploaded_bytes', default=0) for s in scen) if cdc else None)}, "
              f"Oxen (local .oxen) {_b(_get(oxen, last, 'stored_bytes'))}.", ""]
    lines += ["## Diff of main and each scenario (Oxen: its tabular diff of the same two versions)", "",
              "| scenario | dsreg diff | +added / -removed | Oxen diff | dsreg / Oxen | Oxen add + commit |",
              "|---|---:|---:|---:|---:|---:|"]
    for s in meta["scenarios"]:
        w = _get(d, s, "diff", "wall")
        o = _get(oxen, s, "diff", "wall")
        lines.append(f"| {s} | {_s(w)} | +{_get(d, s, 'diff', 'added', default='-')} / "
                     f"-{_get(d, s, 'diff', 'removed', default='-')} | {_s(o)} | {_x(_ratio(w, o))} | "
                     f"{_s(_get(oxen, s, 'commit', 'wall'))} |")
    cl = _get(d, "clone_load") or {}
    raw_total = (_get(raw, "download", "wall") or 0) + (_get(raw, "read", "wall") or 0) if raw else None
    dvc_cl = _get(dvc, "clone_load", "wall")
    lines += ["", "## Clone + load the base version on a second registry", "",
              "| | time | downloaded | vs raw limit |", "|---|---:|---:|---:|",
              f"| dsreg clone + load | {_s(cl.get('wall'))} ({_s(_get(cl, 'clone', 'wall'))} + "
              f"{_s(_get(cl, 'load_main', 'wall'))}) | {_b(_get(cl, 'load_main', 'downloaded_bytes'))} | "
              f"{_x(_ratio(raw_total, cl.get('wall')))} |",
              f"| DVC pull + read | {_s(dvc_cl)} | {_b(_get(dvc, 'clone_load', 'pull', 'downloaded_bytes'))} | "
              f"{_x(_ratio(raw_total, dvc_cl))} |",
              f"| raw boto3 download + pq.read_table (dsreg's shards) | {_s(raw_total)} | "
              f"{_b(_get(raw, 'download', 'bytes'))} | 1.00x |",
              f"| raw boto3 upload of the same bytes | {_s(_get(raw, 'upload', 'wall'))} | | |",
              f"| dsreg load of the edit version afterwards | {_s(_get(cl, 'load_edit', 'wall'))} | "
              f"{_b(_get(cl, 'load_edit', 'downloaded_bytes'))} | |", ""]
    lines += ["## Peak memory (RSS) per process", "",
              "| scenario | dsreg commit | dsreg push | dsreg diff | DVC add | DVC push | Oxen commit | Oxen diff |",
              "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for s in scen:
        lines.append("| " + " | ".join([s] + [_b(_get(t, s, *k, "peak_rss")) for t, k in (
            (d, ("commit",)), (d, ("push_s3",)), (d, ("diff",)), (dvc, ("add",)), (dvc, ("push",)),
            (oxen, ("commit",)), (oxen, ("diff",)))]) + " |")
    lines += ["", f"dsreg clone {_b(_get(cl, 'clone', 'peak_rss'))}, load {_b(_get(cl, 'load_main', 'peak_rss'))}; "
              f"DVC pull {_b(_get(dvc, 'clone_load', 'pull', 'peak_rss'))}.", ""]
    for name, result in (doc.get("suites") or {}).items():
        lines += [f"## {suites.load(name).TITLE}", ""]
        lines += ([f"Not measured: {result['error'][:500]}", ""] if "error" in result
                  else suites.load(name).render(result) + [""])
    lines += ["## Targets", "", "| target | limit | measured | met |", "|---|---|---|---|"]
    for t in doc.get("targets", []):
        lines.append(f"| {t['target']} | {t['limit']} | {t['value']} | {'yes' if t['met'] else 'NO'} |")
    return "\n".join(lines) + "\n"
