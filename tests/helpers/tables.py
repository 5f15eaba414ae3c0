"""Deterministic ML-shaped tables and the edits the tests apply to them."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

_WORDS = np.array("the a of data model label train test good bad great slow fast review movie book".split())


def make_table(n: int, seed: int = 0) -> pa.Table:
    """An ML-shaped table: id, int and float features, a label, free text, an embedding."""
    rng = np.random.default_rng(seed)
    words = _WORDS[rng.integers(0, len(_WORDS), size=(n, 6))]
    lengths = rng.integers(1, 7, size=n)
    text = [" ".join(w[:k]) for w, k in zip(words.tolist(), lengths.tolist())]
    emb = rng.standard_normal(n * 4).astype(np.float32)
    return pa.table({
        "id": pa.array(np.arange(n, dtype=np.int64)),
        "count": pa.array(rng.integers(0, 1000, n)),
        "score": pa.array(rng.random(n)),
        "label": pa.array(rng.choice(["pos", "neg", "neutral"], n)),
        "text": pa.array(text),
        "embedding": pa.FixedSizeListArray.from_arrays(pa.array(emb), 4),
    })


@dataclass
class Edit:
    table: pa.Table
    kind: str
    added_ids: list[int]       # ids of rows only in the new table (edited rows appear in both lists)
    removed_ids: list[int]     # ids of rows only in the old table
    modified_ids: list[int]    # ids whose row changed in place (an edit)


def edit_table(table: pa.Table, kind: str, fraction: float = 0.01, seed: int = 1) -> Edit:
    """Apply one kind of change to `fraction` of the rows: edit, delete, insert, append."""
    n = table.num_rows
    k = max(1, int(n * fraction))
    rng = np.random.default_rng(seed)
    if kind == "edit":
        idx = np.sort(rng.choice(n, k, replace=False))
        score = table["score"].to_numpy().copy()
        score[idx] = -1.0 - rng.random(k)
        t = table.set_column(table.schema.get_field_index("score"), "score", pa.array(score))
        ids = table["id"].to_numpy()[idx].tolist()
        return Edit(t, kind, ids, ids, ids)
    if kind == "delete":
        idx = np.sort(rng.choice(n, k, replace=False))
        keep = np.ones(n, dtype=bool)
        keep[idx] = False
        ids = table["id"].to_numpy()[idx].tolist()
        return Edit(table.filter(pa.array(keep)), kind, [], ids, [])
    new = make_table(k, seed=seed + 100)
    new = new.set_column(0, "id", pa.array(np.arange(n, n + k, dtype=np.int64)))
    if kind == "insert":
        mid = n // 2
        t = pa.concat_tables([table.slice(0, mid), new, table.slice(mid)])
    elif kind == "append":
        t = pa.concat_tables([table, new])
    else:
        raise ValueError(kind)
    return Edit(t, kind, list(range(n, n + k)), [], [])
