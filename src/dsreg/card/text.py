"""Words and numbers a card shows, shared by the Markdown and HTML renderers."""
from __future__ import annotations

import json
import math
from typing import Any

from dsreg.card.model import Card, Change, format_date

EXACTNESS = ("Counts, nulls, min, max, mean, standard deviation (population), lengths and the values of "
             "columns with at most {k} distinct values are exact. Marked ≈: distinct counts of other "
             "columns (HyperLogLog, about 2% error) and their quantiles (within half a percentile of rank).")
TOP_SHOWN = 5


def num(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        if not math.isfinite(v):
            return repr(v)
        if v == int(v) and abs(v) < 1e15:
            return f"{int(v):,}"
        if 100 <= abs(v) < 1e15:
            return f"{v:,.1f}"
        return f"{v:.4g}"
    return str(v)


def size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def pct(part: int, whole: int) -> str:
    if not whole:
        return "0%"
    p = 100 * part / whole
    return "0%" if part == 0 else "<0.1%" if p < 0.1 else f"{p:.1f}%" if p < 99.95 or part == whole else ">99.9%"


def value(v: Any, limit: int = 40) -> str:
    """A value as a short string: strings as they are, the rest as JSON."""
    s = v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)
    return s if len(s) <= limit else s[:limit - 1] + "…"


def distinct(st: dict) -> str:
    if "distinct" not in st:
        return "—"
    return ("" if st.get("distinct_exact") else "≈") + num(st["distinct"])


def summary(st: dict) -> list[str]:
    """The facts of a column statistics entry, as short phrases."""
    if st.get("error"):
        return [f"no statistics: {st['error']}"]
    parts = []
    if "min" in st:
        q = st.get("quantiles") or {}
        approx = "" if st.get("quantiles_exact") else "≈"
        parts.append(f"min {num(st['min'])}")
        if q:
            parts.append(f"median {approx}{num(q.get('50%'))}")
        parts.append(f"max {num(st['max'])}")
        if st.get("std") is not None:
            parts.append(f"mean {num(st['mean'])} ± {num(st['std'])}")
        elif st.get("mean") is not None:
            parts.append(f"mean {num(st['mean'])}")
        if q:
            parts.append("5/25/75/95%: " + approx + " / ".join(num(q.get(k)) for k in ("5%", "25%", "75%", "95%")))
    if st.get("nan"):
        parts.append(f"{num(st['nan'])} NaN")
    if "lengths" in st:
        ln = st["lengths"]
        unit = {"string": "characters", "binary": "bytes"}.get(st["kind"], "items")
        span = num(ln["min"]) if ln["min"] == ln["max"] else f"{num(ln['min'])}–{num(ln['max'])}, mean {num(ln['mean'])}"
        parts.append(f"{unit} {span}")
    if st.get("top") and not st.get("histogram"):      # else the histogram says more
        nonnull = st["rows"] - st["nulls"]
        shown = ", ".join(f"{value(k, 24)} ({pct(c, nonnull)})" for k, c in st["top"][:TOP_SHOWN])
        parts.append("top: " + shown + (", …" if len(st["top"]) > TOP_SHOWN else ""))
    return parts


def change_summary(c: Change) -> str:
    if c.kind == "metadata":
        return "card fields: " + ", ".join(c.fields_changed) if c.fields_changed else "metadata only"
    if c.splits is None:
        return "(not computed)"
    parts = []
    for split, s in c.splits.items():
        if s["status"] == "added":
            parts.append(f"{split}: new split, {num(s['added'])} rows")
        elif s["status"] == "removed":
            parts.append(f"{split}: split dropped ({num(s['removed'])} rows)")
        else:
            rows = [f"+{num(s['added'])}", f"−{num(s['removed'])}"]
            if s["modified"] or s["keys"]:
                rows.append(f"~{num(s['modified'])}")
            parts.append(f"{split}: " + " ".join(rows) + " rows")
        sch = s["schema"] if s["status"] == "changed" else {"added": [], "removed": [], "changed": []}
        cols = [f"+{a['name']}" for a in sch["added"]] + [f"−{r['name']}" for r in sch["removed"]] + \
            [f"{x['name']}: {x['from']} → {x['to']}" for x in sch["changed"]]
        if cols:
            parts.append(f"{split} columns: " + ", ".join(cols))
    if c.fields_changed:
        parts.append("card fields: " + ", ".join(c.fields_changed))
    return "; ".join(parts) or "no row changes"


CHECKS_HEAD = ["rule", "split", "result", "violations", "last run"]
CHECKS_NOTE = ("The checks of branch {branch} (see `dsreg check`), with the last result recorded for this version "
               "by a commit, merge, push, `dsreg check add` or `dsreg check run`.")
QUALITY_HEAD = ["split", "rows", "null cells", "NaN", "repeated rows"]
QUALITY_NOTE = ("For every version, checks or not: nulls and NaN from the statistics; rows repeated within a split "
                "and rows shared between splits from the row fingerprints stored beside each shard.")


def check_rows(card: Card) -> list[list[str]]:
    out = []
    for r in (card.checks or {}).get("results", []):
        result = {"ok": "ok", "failed": "FAILED"}.get(r["status"], "not run")
        if r.get("detail") and r["status"] == "failed":
            result += f": {r['detail']}"
        last = f"{format_date(r['at'])} ({r['by']})" if r.get("at") else "—"
        out.append([r["rule"], r["split"] or "—", result, num(r["violations"]), last])
    return out


def quality_rows(card: Card) -> list[list[str]]:
    def cells(counts: dict, rows: int) -> str:
        return ", ".join(f"{c}: {num(n)} ({pct(n, rows)})" for c, n in counts.items()) or "none"
    return [[name, num(q["rows"]), cells(q["nulls"], q["rows"]), cells(q["nan"], q["rows"]),
             f"{num(q['duplicate_rows'])} ({pct(q['duplicate_rows'], q['rows'])})"]
            for name, q in card.quality.get("splits", {}).items()]


def quality_lines(card: Card) -> list[str]:
    """Rows shared between splits, and where each range rule's column lies."""
    out = [f"{num(s['rows'])} row{'s' if s['rows'] != 1 else ''} of {s['split']} also in {s['other']}"
           + (" (leakage)" if s["rows"] else "") for s in card.quality.get("shared", [])]
    for r in card.quality.get("ranges", []):
        where = "inside" if r["inside"] else "OUTSIDE (some values are out of range)"
        out.append(f"{r['rule']} on {r['split']}: min {num(r['min'])}, max {num(r['max'])}: {where}")
    return out


def first_line(message: str) -> str:
    return message.strip().splitlines()[0] if message.strip() else "(no message)"


def subtitle(card: Card) -> str:
    refs = f" ({', '.join(card.refs)})" if card.refs else ""
    return f"{card.dataset} at commit {card.commit[:12]}{refs}, {format_date(card.timestamp)}"


__all__ = ["num", "size", "pct", "value", "distinct", "summary", "change_summary", "first_line", "subtitle", "EXACTNESS"]
