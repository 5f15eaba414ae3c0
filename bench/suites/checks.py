"""Checks: what all nine rules cost the 1% edit commit, and `check run` of a whole version
against pandas doing the same rules.

- Commit: the base version (train, plus a 1% test split of other ids) is committed once
  with `--key id`; a copy of that registry gets every rule. Each repetition commits the
  edit version to a fresh copy of each registry, in its own process, alternating which
  goes first; the report gives the medians and their ratio.
- `check run bench` of the edited version (every row, every rule) against
  `python -m bench.suites.checks pandas ...`: the same rules on the same files with pandas
  (rows compared by `pandas.util.hash_pandas_object`), time and peak RSS each.

    python -m bench.suites.checks pandas TRAIN PARENT TEST    (prints violations per rule as JSON)
"""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from ..procs import answer, measured, merge_repeats
from ..procs import run as run_process

TITLE = "Checks"
RULES = ["not-null id label", "unique id", "range score 0 1",
         "values label cat dog bird fish horse sheep cow frog deer fox", "rows 1", "schema-frozen",
         "max-change 0.05", "no-leakage", "no-duplicates"]
COMMIT_LIMIT = 1.10         # checks may add at most 10% to the 1% edit commit
ROOT = Path(__file__).resolve().parents[2]


def _dsreg(*args: str, registry: Path | None = None, **kw):
    from ..tools.dsreg_tool import dsreg
    return dsreg(*args, registry=registry, **kw)


def write_test_split(base: Path, out: Path, rows: int) -> Path:
    """1% of the base's rows (at least 10) under ids no train row has: a split that does not leak."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq
    n = max(10, rows // 100)
    pf = pq.ParquetFile(base)
    t = pa.Table.from_batches([next(pf.iter_batches(batch_size=n))]).slice(0, n)
    t = t.set_column(t.schema.get_field_index("id"), "id", pc.add(t["id"], pa.scalar(10**12, pa.int64())))
    pq.write_table(t, out, compression="zstd")
    return out


def run(ctx) -> dict:
    base, edit = ctx.versions["base"], ctx.versions["edit"]
    test = write_test_split(base.path, ctx.work / "test.parquet", ctx.rows)
    plain, checked = ctx.work / "plain", ctx.work / "checked"
    _dsreg("init", str(plain))
    _dsreg("commit", "bench", f"train={base.path}", f"test={test}", "--key", "id", "-m", "base", registry=plain)
    shutil.copytree(plain, checked)
    for rule in RULES:
        _dsreg("check", "add", "bench", *rule.split(), registry=checked)
    ctx.log(f"  checks: {len(RULES)} rules on {ctx.rows:,} rows; committing the 1% edit {ctx.repeat}x each way")
    reps: dict[str, list[dict]] = {"plain": [], "checked": []}
    last = None
    for r in range(ctx.repeat):
        for variant in (("plain", "checked") if r % 2 == 0 else ("checked", "plain")):
            reg = ctx.work / f"{variant}-{r}"
            shutil.copytree(plain if variant == "plain" else checked, reg)
            step = _dsreg("commit", "bench", f"train={edit.path}", "-m", "edit", "--json", registry=reg)
            split = step.json()["splits"]["train"]
            reps[variant].append(measured(step, new_rows=split["new_rows"]))
            if variant == "checked":
                if last is not None:
                    shutil.rmtree(last)
                last = reg
            else:
                shutil.rmtree(reg)
    assert last is not None
    commit = {v: merge_repeats(reps[v]) for v in reps}
    commit["checked"]["rules_run"] = _rules_run_at_commit(last)
    commit["ratio_wall"] = commit["checked"]["wall"] / commit["plain"]["wall"]
    commit["ratio_cpu"] = commit["checked"]["cpu"] / commit["plain"]["cpu"]
    ctx.log(f"  checks: commit {commit['plain']['wall']:.2f}s without, {commit['checked']['wall']:.2f}s with "
            f"= {commit['ratio_wall']:.2f}x")
    return {"rows": ctx.rows, "rules": RULES, "commit": commit, "check_run": _check_run(ctx, last, edit, base, test)}


def _rules_run_at_commit(reg: Path) -> int:
    """How many rules the checked commit ran (its recorded result): proof it checked."""
    import dsreg
    r = dsreg.Registry(str(reg))
    try:
        doc = r.manifest.check_result(r.resolve("bench")) or {}
    finally:
        r.close()
    return len({x["rule"] for x in doc.get("results", []) if x.get("by") == "commit"})


def _check_run(ctx, reg: Path, edit, base, test: Path) -> dict:
    env = {"PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    ours, theirs = [], []
    for _ in range(ctx.repeat):
        step = _dsreg("check", "run", "bench", "--json", registry=reg, check=False)
        doc = step.json()
        counts: dict[str, int] = {}
        for res in doc["results"]:
            counts[res["rule"]] = counts.get(res["rule"], 0) + res["violations"]
        ours.append(measured(step, ok=doc["ok"], violations=counts))
        step = run_process([sys.executable, "-m", "bench.suites.checks", "pandas", str(edit.path), str(base.path), str(test)],
                   env=env)
        theirs.append(measured(step, violations=step.json()))
    out = {"dsreg": merge_repeats(ours), "pandas": merge_repeats(theirs)}
    out["agree"] = all((out["dsreg"]["violations"].get(rule, -1) == 0) == (n == 0)
                       for rule, n in out["pandas"]["violations"].items())
    ctx.log(f"  checks: check run {out['dsreg']['wall']:.2f}s, pandas {out['pandas']['wall']:.2f}s")
    return out


def targets(result: dict, meta: dict) -> list[dict]:
    c, r = result["commit"], result["check_run"]
    n = len(c["plain"].get("walls", [c["plain"]["wall"]]))
    return [
        {"target": f"checks ({len(result['rules'])} rules) on the 1% edit commit", "limit": f"<= {COMMIT_LIMIT:.2f}x",
         "value": f"{c['ratio_wall']:.2f}x ({c['checked']['wall']:.2f} s vs {c['plain']['wall']:.2f} s, median of {n}; "
                  f"CPU {c['ratio_cpu']:.2f}x)",
         "met": c["ratio_wall"] <= COMMIT_LIMIT, "note": ""},
        {"target": "check run of the whole version, against pandas", "limit": "< pandas",
         "value": f"{r['dsreg']['wall']:.2f} s vs {r['pandas']['wall']:.2f} s = "
                  f"{r['dsreg']['wall'] / r['pandas']['wall']:.2f}x; peak {_gib(r['dsreg']['peak_rss'])} vs "
                  f"{_gib(r['pandas']['peak_rss'])}",
         "met": r["dsreg"]["wall"] < r["pandas"]["wall"] and r["agree"], "note": ""},
    ]


def _gib(n: int) -> str:
    return f"{n / (1 << 30):.2f} GiB"


def render(result: dict) -> list[str]:
    c, r = result["commit"], result["check_run"]
    lines = [f"{result['rows']:,} rows (train) plus a 1% test split, keys `id`; rules: "
             + ", ".join(f"`{x}`" for x in result["rules"]) + ".", "",
             "| step | wall (median) | CPU | peak RSS | walls |", "|---|---|---|---|---|"]
    for label, m in (("commit 1% edit, no checks", c["plain"]), ("commit 1% edit, all rules", c["checked"]),
                     ("`check run` (dsreg, every row)", r["dsreg"]), ("same rules in pandas", r["pandas"])):
        walls = ", ".join(f"{w:.2f}" for w in m.get("walls", [m["wall"]]))
        lines.append(f"| {label} | {m['wall']:.2f} s | {m['cpu']:.2f} s | {_gib(m['peak_rss'])} | {walls} |")
    lines += ["", f"Checks add {c['ratio_wall']:.2f}x wall ({c['ratio_cpu']:.2f}x CPU) to the 1% edit commit; "
              f"the checked commit ran {c['checked'].get('rules_run', 0)} rules. `check run` takes "
              f"{r['dsreg']['wall'] / r['pandas']['wall']:.2f}x pandas' time and "
              f"{r['dsreg']['peak_rss'] / max(1, r['pandas']['peak_rss']):.2f}x its peak memory; the two "
              + ("agree on which rules hold." if r["agree"] else "DISAGREE on which rules hold.")]
    return lines


# -- the pandas implementation, run as its own process ---------------------------------------------
def pandas_checks(train_path: str, parent_path: str, test_path: str) -> dict[str, int]:
    """The nine rules with pandas on the files themselves: violations per rule (as dsreg
    counts them; rows compared by hashing every column, the embedding as its values)."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    def frame(path: str) -> pd.DataFrame:
        t = pq.read_table(path)
        lists = [f.name for f in t.schema if pa.types.is_list(f.type)]
        df = t.drop(lists).to_pandas()
        for name in lists:       # fixed-length lists as one column per position: hashable
            col = t[name].combine_chunks()
            values = col.flatten().to_numpy().reshape(len(col), -1)
            for i in range(values.shape[1]):
                df[f"{name}[{i}]"] = values[:, i]
        return df

    train, parent, test = frame(train_path), frame(parent_path), frame(test_path)
    hashes = {k: pd.util.hash_pandas_object(df, index=False) for k, df in
              (("train", train), ("parent", parent), ("test", test))}
    labels = set(RULES[3].split()[2:])
    out: dict[str, int] = {}
    splits = {"train": train, "test": test}
    out[RULES[0]] = sum(int(df[["id", "label"]].isna().any(axis=1).sum()) for df in splits.values())
    out[RULES[1]] = sum(int(df["id"].duplicated().sum()) for df in splits.values())
    out[RULES[2]] = sum(int((df["score"].notna() & ~df["score"].between(0, 1)).sum()) for df in splits.values())
    out[RULES[3]] = sum(int((df["label"].notna() & ~df["label"].isin(labels)).sum()) for df in splits.values())
    out[RULES[4]] = sum(int(len(df) < 1) for df in splits.values())
    out[RULES[5]] = int(not pq.read_schema(train_path).remove_metadata().equals(
        pq.read_schema(parent_path).remove_metadata()))
    # rows as multisets, as dsreg counts them: a row twice where the parent had it once is one added
    diff = hashes["train"].value_counts().sub(hashes["parent"].value_counts(), fill_value=0)
    added, removed = int(diff.clip(lower=0).sum()), int((-diff).clip(lower=0).sum())
    out[RULES[6]] = max(added, removed) if max(added, removed) > 0.05 * len(parent) else 0
    out[RULES[7]] = int(test["id"].isin(train["id"]).sum() + train["id"].isin(test["id"]).sum())   # by key
    out[RULES[8]] = sum(int(hashes[k].duplicated().sum()) for k in splits)
    return out


if __name__ == "__main__":
    if len(sys.argv) != 5 or sys.argv[1] != "pandas":
        raise SystemExit(__doc__)
    answer(pandas_checks(*sys.argv[2:]))
