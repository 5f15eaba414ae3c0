"""Write a small synthetic reviews dataset, and edited versions of it, for the tour.

    python examples/make_data.py OUT_DIR

writes OUT_DIR/reviews-v1.parquet (10,000 rows), OUT_DIR/reviews-v2.parquet (the same
with 1% of labels edited, 50 rows deleted and 100 appended), two edits of v2 to merge
(reviews-stars.parquet: 20 star ratings fixed; reviews-v3.parquet: 30 more labels
flipped) and OUT_DIR/test.csv.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

WORDS = np.array("great awful fine boring moving slow sharp warm dull clever long short".split())


def reviews(n: int, start: int, seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    words = WORDS[rng.integers(0, len(WORDS), size=(n, 5))]
    text = [" ".join(w) for w in words.tolist()]
    return pa.table({
        "id": pa.array(np.arange(start, start + n, dtype=np.int64)),
        "text": pa.array(text),
        # int64, as test.csv reads back: both splits share one schema, so one Hub config
        "stars": pa.array(rng.integers(1, 6, n).astype(np.int64)),
        "label": pa.array(np.where(rng.random(n) < 0.5, "pos", "neg")),
    })


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    v1 = reviews(10_000, 0, seed=1)
    pq.write_table(v1, out / "reviews-v1.parquet")
    rng = np.random.default_rng(2)
    label = np.array(v1["label"].to_pylist())
    edited = rng.choice(len(label), 100, replace=False)
    label[edited] = np.where(label[edited] == "pos", "neg", "pos")
    v2 = v1.set_column(3, "label", pa.array(label))
    keep = np.ones(len(label), dtype=bool)
    keep[rng.choice(len(label), 50, replace=False)] = False
    v2 = pa.concat_tables([v2.filter(pa.array(keep)), reviews(100, 10_000, seed=3)])
    pq.write_table(v2, out / "reviews-v2.parquet")
    # two changes to v2 made apart, for the merge: 20 star ratings fixed on a branch,
    # 30 more labels flipped on main (other rows)
    stars = np.array(v2["stars"].to_pylist())
    fixed = rng.choice(5_000, 20, replace=False)
    stars[fixed] = 6 - stars[fixed]
    stars[fixed[stars[fixed] == 3]] = 4      # 6 - 3 is 3: still a change
    pq.write_table(v2.set_column(2, "stars", pa.array(stars)), out / "reviews-stars.parquet")
    label = np.array(v2["label"].to_pylist())
    flipped = 5_000 + rng.choice(5_000, 30, replace=False)
    label[flipped] = np.where(label[flipped] == "pos", "neg", "pos")
    pq.write_table(v2.set_column(3, "label", pa.array(label)), out / "reviews-v3.parquet")
    pcsv.write_csv(reviews(2_000, 20_000, seed=4), out / "test.csv")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "data"))
