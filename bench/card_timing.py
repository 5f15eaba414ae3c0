"""How long the card of a 2,000,000-row version takes, against reading that version once.

    python bench/card_timing.py [ROWS]

Commits ROWS rows (default 2,000,000; ML-shaped: id, int and float features, label, text,
a 4-float embedding), then three more versions, and for each times
- commit: the commit, and the part of it spent on card statistics (`splitstats.prime`);
- read: `dsreg.load` of the version (reading it once);
- card: building and rendering its Markdown card as the first card after the commit
  (split statistics primed by the commit, changelog diffs computed);
- card, no caches: the same with nothing cached, as for a version fetched from a remote
  (row groups that the version uses only in part are read).
The OS page cache is warm throughout.
"""
from __future__ import annotations

import sys
import tempfile
import time

import numpy as np
import pyarrow as pa

import dsreg
from dsreg.card import build_card, render
from dsreg.stats import split as splitstats

WORDS = np.array("the a of data model label train test good bad great slow fast review movie book".split())


def table(n: int, seed: int = 0, start: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    words = WORDS[rng.integers(0, len(WORDS), size=(n, 6))]
    lengths = rng.integers(1, 7, size=n)
    return pa.table({
        "id": pa.array(np.arange(start, start + n, dtype=np.int64)),
        "count": pa.array(rng.integers(0, 1000, n)),
        "score": pa.array(rng.random(n)),
        "label": pa.array(rng.choice(["pos", "neg", "neutral"], n)),
        "text": pa.array([" ".join(w[:k]) for w, k in zip(words.tolist(), lengths.tolist())]),
        "embedding": pa.FixedSizeListArray.from_arrays(pa.array(rng.standard_normal(n * 4).astype(np.float32)), 4),
    })


def timed(fn, repeat: int = 3) -> float:
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t0)
    return min(runs)       # the least disturbed run: other work on the machine only adds


class PrimeTimer:
    """Wraps `splitstats.prime` (what a commit spends on card statistics) to time it."""

    def __init__(self):
        self.seconds = 0.0
        self.inner = splitstats.prime
        splitstats.prime = self

    def __call__(self, reg, splits):
        t0 = time.perf_counter()
        self.inner(reg, splits)
        self.seconds += time.perf_counter() - t0


def main(rows: int) -> None:
    work = tempfile.mkdtemp(prefix="card-bench-")
    reg = dsreg.Registry.init(work)
    prime = PrimeTimer()
    base = table(rows)
    k = rows // 100
    appended = pa.concat_tables([base.slice(0, rows // 2), table(100, 8, rows), base.slice(rows // 2),
                                 table(k, 9, rows + 100)])
    scores = appended["score"].to_numpy().copy()
    scores[np.sort(np.random.default_rng(7).choice(len(scores), k, replace=False))] = -1.0
    scattered = appended.set_column(2, "score", pa.array(scores))
    versions = [("v1: fresh commit", {"train": base}, {}),
                ("v2: insert 100 rows mid-way, append 1%", {"train": appended}, {}),
                ("v3: edit 1% of rows, scattered", {"train": scattered}, {}),
                ("v4: metadata-only commit (card fields)", {}, {"card": {"license": "cc-by-4.0"}})]
    print(f"{rows:,} rows; times in seconds (best of 3); ratios are card / read\n")
    print(f"{'version':<40} {'commit':>7} {'of which stats':>15} {'read':>6} {'card':>6} {'ratio':>6} "
          f"{'card, no caches':>16} {'ratio':>6}")
    for label, splits, metadata in versions:
        prime.seconds = 0.0
        t0 = time.perf_counter()
        reg.commit("big", splits, message=label, metadata=metadata or None)
        commit_s = time.perf_counter() - t0
        spec = "big@main"
        read = timed(lambda spec=spec: reg.load(spec))

        def first(spec=spec):          # as the first card after the commit: changelog diffs not cached yet
            reg.manifest.conn.execute("DELETE FROM commit_changes")
            render(build_card(reg, spec), "md")

        def cold(spec=spec):           # nothing cached: partly used row groups are read
            reg.manifest.conn.execute("DELETE FROM split_stats")
            reg.manifest.conn.execute("DELETE FROM commit_changes")
            render(build_card(reg, spec), "md")
        card = timed(first)
        no_cache = timed(cold)
        print(f"{label:<40} {commit_s:>7.2f} {prime.seconds:>15.2f} {read:>6.3f} {card:>6.3f} {card / read:>6.2f} "
              f"{no_cache:>16.3f} {no_cache / read:>6.2f}")
        render(build_card(reg, spec), "md")      # leave the caches as a user would have them
    reg.close()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2_000_000)
