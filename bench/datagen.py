"""Deterministic synthetic datasets shaped like real ML tables, and the scenario versions.

A row is a pure function of (stream, index): stream 0 holds the base rows, stream 1 the
rows that scenarios insert or append. Rows are generated in fixed blocks seeded by
(seed, stream, block), so any range comes out the same whatever the chunking, and a
10M-row version is written block by block without ever being held whole.
"""
from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

SIZES = {"small": 100_000, "default": 2_000_000, "large": 10_000_000}
BLOCK = 1 << 16
EMBED_DIM = 32
SEED = 20240611
LABELS = np.array(["cat", "dog", "bird", "fish", "horse", "sheep", "cow", "frog", "deer", "fox"])
_LABEL_P = np.array([0.22, 0.2, 0.14, 0.1, 0.09, 0.08, 0.07, 0.05, 0.03, 0.02])
SCENARIOS = ("identical", "append", "insert", "delete", "edit", "addcol")
ONE_PERCENT = ("append", "insert", "delete", "edit")


def _vocabulary(n: int = 4096) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Word bytes, offsets and Zipf-like frequencies of a fixed synthetic vocabulary."""
    rng = np.random.default_rng(SEED)
    lengths = np.clip(rng.poisson(5, n) + 1, 1, 14)
    letters = rng.choice(np.frombuffer(b"etaoinshrdlucmfwypvbgkjqxz", np.uint8), size=int(lengths.sum()),
                         p=_letter_p())
    offsets = np.zeros(n + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    freq = 1.0 / np.arange(1, n + 1) ** 1.07
    return letters.astype(np.uint8), offsets, freq / freq.sum()


def _letter_p() -> np.ndarray:
    p = np.array([12.7, 9.1, 8.2, 7.5, 7.0, 6.7, 6.3, 6.1, 6.0, 4.3, 4.0, 2.8, 2.8, 2.4, 2.2, 2.4, 2.0,
                  2.0, 1.9, 1.0, 1.5, 0.8, 0.15, 0.1, 0.15, 0.07])
    return p / p.sum()


_VOCAB = _vocabulary()


def _text(rng: np.random.Generator, n: int) -> pa.Array:
    """Free text of varied length (lognormal token counts, 1..400), built without a Python loop."""
    letters, woff, freq = _VOCAB
    tokens = np.clip(rng.lognormal(2.6, 0.9, n).astype(np.int64), 1, 400)
    # Zipf-like word ranks, frequent words first, without a per-draw table search
    words = (len(freq) * rng.random(int(tokens.sum())) ** 4).astype(np.int64)
    wlen = np.diff(woff)[words] + 1                      # each word plus a following space
    row_of_word = np.repeat(np.arange(n), tokens)
    wstart = np.zeros(len(words) + 1, np.int64)
    np.cumsum(wlen, out=wstart[1:])
    nbytes = int(wstart[-1])
    word_of_byte = np.repeat(np.arange(len(words)), wlen)
    within = np.arange(nbytes) - wstart[:-1][word_of_byte]
    src = woff[words][word_of_byte] + within
    is_space = within == (wlen - 1)[word_of_byte]
    data = np.where(is_space, np.uint8(32), letters[np.minimum(src, len(letters) - 1)]).astype(np.uint8)
    # row ends: drop each row's trailing space
    row_end_word = np.cumsum(tokens) - 1
    ends = wstart[row_end_word + 1] - 1
    starts = np.concatenate([[0], wstart[row_end_word[:-1] + 1]])
    keep = np.ones(nbytes, bool)
    keep[ends] = False
    data = data[keep]
    lengths = ends - starts
    offsets = np.zeros(n + 1, np.int32)
    np.cumsum(lengths, out=offsets[1:])
    del row_of_word
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data))


def _block(stream: int, b: int, id_base: int) -> pa.Table:
    rng = np.random.default_rng([SEED, stream, b])
    n = BLOCK
    ids = id_base + b * BLOCK + np.arange(n, dtype=np.int64)
    ctr = rng.random(n)
    ctr_valid = rng.random(n) > 0.02
    emb = rng.standard_normal(n * EMBED_DIM, dtype=np.float32)
    return pa.table({
        "id": pa.array(ids),
        "user_id": pa.array(rng.integers(0, 1_000_000, n, dtype=np.int64)),
        "n_views": pa.array(rng.poisson(20, n).astype(np.int32)),
        "clicks": pa.array(rng.poisson(2, n).astype(np.int32)),
        "score": pa.array(rng.random(n)),
        "price": pa.array((rng.lognormal(3, 1, n)).astype(np.float32)),
        "ctr": pa.array(ctr, mask=~ctr_valid),
        "label": pa.array(LABELS[rng.choice(len(LABELS), n, p=_LABEL_P)]),
        "text": _text(rng, n),
        "embedding": pa.ListArray.from_arrays(
            pa.array(np.arange(n + 1, dtype=np.int32) * EMBED_DIM), pa.array(emb)),
    })


class Rows:
    """Rows [start, stop) of one stream, assembled from cached blocks."""

    def __init__(self, stream: int, id_base: int):
        self.stream, self.id_base = stream, id_base
        self._cache: dict[int, pa.Table] = {}

    def range(self, start: int, stop: int) -> pa.Table:
        pieces = []
        while start < stop:
            b, off = divmod(start, BLOCK)
            t = self._cache.get(b)
            if t is None:
                t = _block(self.stream, b, self.id_base)
                self._cache = {b: t}       # one block at hand: sequential reads
            take = min(stop - start, BLOCK - off)
            pieces.append(t.slice(off, take))
            start += take
        return pa.concat_tables(pieces)


@dataclass
class Version:
    name: str
    path: Path
    rows: int
    bytes: int
    changed_rows: int = 0
    changed_zstd_bytes: int = 0          # the changed rows alone, as Parquet with zstd
    meta: dict = field(default_factory=dict)


def changed_size(table: pa.Table) -> int:
    """Bytes of `table` written alone as Parquet, zstd level 3: dsreg's codec, at the level it wrote
    until 2026-12-06 (it now writes level 1, about 3% bigger, so this yardstick got a little stricter)."""
    if table.num_rows == 0:
        return 0
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd", compression_level=3)
    return buf.tell()


def _scattered(n: int, k: int, salt: int) -> np.ndarray:
    return np.sort(np.random.default_rng([SEED, 99, salt]).choice(n, k, replace=False))


def _pieces(scenario: str, n: int, k: int, base_file: Path | None):
    """Yield (table, changed-part-or-None) pieces of a scenario version in order; the
    base rows are read back from the base file's row groups (one per block)."""
    new = Rows(1, n)
    if scenario == "base":
        base = Rows(0, 0)

        def chunks(start, stop):
            for a in range(start, stop, BLOCK):
                yield base.range(a, min(a + BLOCK, stop))
    else:
        pf = pq.ParquetFile(base_file)

        def chunks(start, stop):
            while start < stop:
                b, off = divmod(start, BLOCK)
                t = pf.read_row_group(b)
                t = t.slice(off, min(stop - start, t.num_rows - off))
                start += t.num_rows
                yield t

    if scenario == "base":
        for t in chunks(0, n):
            yield t, None
    elif scenario == "append":
        yield from ((t, None) for t in chunks(0, n))
        t = new.range(0, k)
        yield t, t
    elif scenario == "insert":
        mid = n // 2
        yield from ((t, None) for t in chunks(0, mid))
        t = Rows(3, n + k).range(0, k)      # other rows than append's, so neither reuses the other's
        yield t, t
        yield from ((t, None) for t in chunks(mid, n))
    elif scenario == "delete":
        gone = _scattered(n, k, 1)
        for a, t in zip(range(0, n, BLOCK), chunks(0, n)):
            keep = np.ones(t.num_rows, bool)
            local = gone[(gone >= a) & (gone < a + t.num_rows)] - a
            keep[local] = False
            yield t.filter(pa.array(keep)), None
    elif scenario == "edit":
        edited = _scattered(n, k, 2)
        for a, t in zip(range(0, n, BLOCK), chunks(0, n)):
            local = edited[(edited >= a) & (edited < a + t.num_rows)] - a
            if not len(local):
                yield t, None
                continue
            codes = pc.index_in(t["label"], value_set=pa.array(LABELS)).to_numpy().copy()
            codes[local] = (codes[local] + 1 + local % (len(LABELS) - 1)) % len(LABELS)   # another label
            t = t.set_column(t.schema.get_field_index("label"), "label", pa.array(LABELS[codes]))
            yield t, t.take(local)
    elif scenario == "addcol":
        for a, t in zip(range(0, n, BLOCK), chunks(0, n)):
            rng = np.random.default_rng([SEED, 2, a // BLOCK])
            yield t.append_column("quality", pa.array(rng.random(t.num_rows).astype(np.float32))), None
    else:
        raise ValueError(scenario)


def write_version(scenario: str, n: int, folder: Path, base_file: Path | None = None) -> Version:
    """Write one version as a Parquet file with pyarrow's default settings (snappy)."""
    k = max(1, n // 100)
    path = folder / f"{scenario}.parquet"
    writer = None
    rows, changed = 0, []
    for t, part in _pieces(scenario, n, k, base_file):
        if writer is None:
            writer = pq.ParquetWriter(path, t.schema)
        writer.write_table(t, row_group_size=BLOCK)
        rows += t.num_rows
        if part is not None:
            changed.append(part)
    writer.close()
    ch = pa.concat_tables(changed) if changed else None
    return Version(scenario, path, rows, path.stat().st_size,
                   changed_rows=ch.num_rows if ch is not None else (k if scenario == "delete" else 0),
                   changed_zstd_bytes=changed_size(ch) if ch is not None else 0)


FORMAT = 1      # bump when generated rows change, so that kept folders are regenerated


def write_all(n: int, folder: Path, scenarios=SCENARIOS) -> dict[str, Version]:
    """The base and each scenario version as a Parquet file in `folder`; versions already
    there (a kept --work folder) are reused."""
    import json
    from dataclasses import asdict
    index = folder / "versions.json"
    out: dict[str, Version] = {}
    if index.exists():
        doc = json.loads(index.read_text())
        if doc.get("format") == FORMAT and doc.get("rows") == n:
            out = {k: Version(**{**v, "path": Path(v["path"])}) for k, v in doc["versions"].items()
                   if Path(v["path"]).exists()}
    folder.mkdir(parents=True, exist_ok=True)
    if "base" not in out:
        out = {"base": write_version("base", n, folder)}
    for s in scenarios:
        if s == "identical":
            out[s] = Version(s, out["base"].path, out["base"].rows, out["base"].bytes)
        elif s not in out:
            out[s] = write_version(s, n, folder, out["base"].path)
    index.write_text(json.dumps({"format": FORMAT, "rows": n, "versions": {
        k: {**asdict(v), "path": str(v.path)} for k, v in out.items()}}, indent=1))
    return out
