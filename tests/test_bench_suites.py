"""Smoke test of the merge suite inside `python -m bench`: small data, dsreg only. The
numbers' shape and the exact counts are checked, never timings (CI machines are noisy)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_merge_suite_measures_merge_diff_and_pandas(tmp_path):
    import json
    import os
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), *sys.path])}
    proc = subprocess.run([sys.executable, "-m", "bench", "--rows", "20000", "--peers", "none", "--suites", "merge",
                           "--scenarios", "edit", "--out", str(tmp_path), "--quiet"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = json.loads((tmp_path / "default-latest.json").read_text())
    m = doc["suites"]["merge"]
    assert "error" not in m, m
    k = 20000 // 100
    assert (m["rows"], m["edited_per_side"], m["appended"]) == (20000, k, k)
    # merging feature into main brings theirs: its k edited rows and k appended ones
    assert (m["merge"]["added"], m["merge"]["removed"], m["merge"]["modified"], m["merge"]["conflicts"]) == (k, 0, k, 0)
    assert m["merge"]["merged_rows"] == 20000 + k and m["pandas_merge"]["rows"] == 20000 + k
    assert m["diff"]["added"] == k and m["diff"]["removed"] == 0
    for step in ("merge", "diff", "pandas_merge"):
        assert m[step]["wall"] > 0 and m[step]["peak_rss"] > 0
    # only rows neither side had whole (edited on both sides) are new
    assert m["merge"]["new_rows"] < k // 10 and 0 < m["merge"]["new_bytes"] < m["changed_zstd_bytes"]
    names = {t["target"] for t in doc["targets"]}
    assert "merge: new bytes against the changed rows" in names
    text = (tmp_path / "default-latest.md").read_text()
    assert "## Merge: two branches with 1% edits each" in text and "| dsreg merge |" in text
