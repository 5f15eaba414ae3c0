"""The card's "Checks" and "Quality" sections, as values.

Checks: each rule of the branch with the last result recorded for this version (by commit,
merge, push, `check add` or `check run`; see checks/verify.py), or "not run". The card only
reads what was recorded: it runs no check (cards and checks are separate layers).

Quality, for every version, checks or not: null and NaN counts from the statistics the card
already has, rows repeated within each split and rows shared between splits from the row
fingerprints stored beside each shard (no shard is decoded), and, for each `range` rule of
the branch, whether the column's minimum and maximum lie inside it. Counts from fingerprints
are of equal fingerprints (64-bit): a collision could add one, which is why checks prove
each match by reading the rows and the card does not.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from dsreg.model.serialize import Snapshot
from dsreg.rows.shards import ShardReader

if TYPE_CHECKING:
    from dsreg.registry import Registry


def checks_section(reg: Registry, dataset: str, commit: str, branch: str | None) -> dict | None:
    """{"branch", "results": [{"rule", "split", "status", "violations", "at", "by"}]}: a
    row per rule and split (one "not run" row for a rule with no result on this version);
    None when the branch has no checks and none ever ran on the version. Without a branch
    (a tag, a commit id), every rule with a result recorded on the version."""
    rules = [text for _, text in reg.manifest.checks(dataset, branch)] if branch else []
    recorded = (reg.manifest.check_result(commit) or {}).get("results", [])
    if not rules and (branch is not None or not recorded):
        return None
    rows: list[dict[str, Any]] = []
    for rule in rules or list(dict.fromkeys(r["rule"] for r in recorded)):
        mine = [r for r in recorded if r.get("rule") == rule]
        if not mine:
            rows.append({"rule": rule, "split": None, "status": "not run", "violations": None, "at": None,
                         "by": None})
        for r in mine:
            rows.append({"rule": rule, "split": r.get("split"), "status": "ok" if r["ok"] else "failed",
                         "violations": r.get("violations"), "detail": r.get("detail", ""),
                         "at": r.get("at"), "by": r.get("by")})
    return {"branch": branch, "results": rows}


def quality_section(reg: Registry, splits: dict[str, tuple[Snapshot, dict]], range_rules: list[str]) -> dict:
    """{"splits": {split: {"rows", "nulls": {col: n}, "nan": {col: n}, "duplicate_rows"}},
    "shared": [{"split", "other", "rows"}], "ranges": [{"rule", "split", "min", "max", "inside"}]}.
    `splits`: {name: (snapshot, its column statistics)}; `range_rules`: texts of the
    branch's range rules."""
    reader = ShardReader(reg.store, cache_size=1)
    # sorted once: repeats are equal neighbours, membership a binary search (np.unique and
    # np.isin hash or sort again, several times slower on 64-bit fingerprints)
    fps = {name: np.sort(_fingerprints(reader, snap)) for name, (snap, _) in splits.items()}
    out: dict[str, Any] = {"splits": {}, "shared": [], "ranges": []}
    for name, (snap, stats) in splits.items():
        out["splits"][name] = {
            "rows": snap.rows,
            "nulls": {c: st["nulls"] for c, st in stats.items() if st.get("nulls")},
            "nan": {c: st["nan"] for c, st in stats.items() if st.get("nan")},
            "duplicate_rows": int(np.count_nonzero(fps[name][1:] == fps[name][:-1])),
        }
    names = list(splits)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            shared = _shared(fps[a], fps[b])
            out["shared"].append({"split": a, "other": b, "rows": shared})
    for rule in range_rules:
        _, column, low, high = rule.split()
        for name, (_, stats) in splits.items():
            st = stats.get(column)
            if st is None or st.get("min") is None:
                continue
            try:
                inside = float(low) <= float(st["min"]) and float(st["max"]) <= float(high) and not st.get("nan")
            except (TypeError, ValueError):        # a minimum the statistics keep as text (decimals)
                continue
            out["ranges"].append({"rule": rule, "split": name, "min": st["min"], "max": st["max"],
                                  "inside": bool(inside)})
    return out


def range_rules(reg: Registry, dataset: str, branch: str | None) -> list[str]:
    if branch is None:
        return []
    return [text for _, text in reg.manifest.checks(dataset, branch) if text.split()[0] == "range"]


def _shared(a: np.ndarray, b: np.ndarray) -> int:
    """Rows of sorted `a` whose fingerprint sorted `b` holds."""
    if not len(a) or not len(b):
        return 0
    at = np.minimum(np.searchsorted(b, a), len(b) - 1)
    return int(np.count_nonzero(b[at] == a))


def _fingerprints(reader: ShardReader, snap: Snapshot) -> np.ndarray:
    """Every row's stored fingerprint, in the split's order: each run's slice of its shard's."""
    if not snap.num_runs:
        return np.zeros(0, np.uint64)
    per_shard = [reader.fingerprints(ref, snap.schema) for ref in snap.shards]
    lengths = np.array([len(a) for a in per_shard], np.int64)
    base = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    starts = base[snap.run_shard] + snap.run_start
    idx = np.repeat(starts - np.concatenate([[0], np.cumsum(snap.run_count)[:-1]]), snap.run_count) \
        + np.arange(int(snap.run_count.sum()), dtype=np.int64)
    return np.concatenate(per_shard)[idx]


__all__ = ["checks_section", "quality_section", "range_rules"]
