"""Chunk-level dedup as the Hugging Face Hub stores files (Xet): bytes only, no timing.

Each version is written as Parquet with pyarrow's content-defined chunking (data pages
cut at content-defined boundaries, as the Hub recommends), then the file's bytes are cut
into ~64 KiB content-defined chunks with a gear hash (Xet's parameters: 64 KiB target,
8 KiB minimum, 128 KiB maximum, a boundary where the top 16 bits of the hash are zero).
A version "uploads" the bytes of its chunks that the store does not hold yet.

The gear hash at byte i is sum_{j<64} G[b(i-j)] << j (mod 2^64); numpy computes it for a
whole block in 6 doubling steps instead of a byte loop.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import xxhash

TARGET, MIN_CHUNK, MAX_CHUNK = 64 << 10, 8 << 10, 128 << 10
MASK = np.uint64(((1 << 16) - 1) << 48)
GEAR = np.random.default_rng(0x6765617268617368).integers(0, 2**64, 256, dtype=np.uint64)
BLOCK = 16 << 20


def gear_candidates(data: memoryview | bytes) -> np.ndarray:
    """Byte offsets i (sorted) where the gear hash of the 64 bytes ending at i matches the mask."""
    buf = np.frombuffer(data, dtype=np.uint8)
    out = []
    for start in range(0, len(buf), BLOCK):
        lo = max(start - 63, 0)
        g = GEAR[buf[lo:start + BLOCK]]
        with np.errstate(over="ignore"):
            for k in range(6):
                step = 1 << k
                g[step:] += g[:-step] << np.uint64(step)
        hits = np.flatnonzero((g & MASK) == 0) + lo
        out.append(hits[hits >= start])
    return np.concatenate(out) if out else np.zeros(0, np.int64)


def chunk_bounds(size: int, candidates: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) of each chunk: the first candidate past the minimum, else the maximum."""
    bounds, start = [], 0
    while start < size:
        k = np.searchsorted(candidates, start + MIN_CHUNK - 1)
        end = int(candidates[k]) + 1 if k < len(candidates) else size
        end = min(end, start + MAX_CHUNK, size)
        bounds.append((start, end))
        start = end
    return bounds


def chunks(path: Path) -> dict[str, int]:
    """Chunk hash -> size for the file's chunks."""
    data = Path(path).read_bytes()
    out = {}
    view = memoryview(data)
    for a, b in chunk_bounds(len(data), gear_candidates(data)):
        out[xxhash.xxh3_128_hexdigest(view[a:b])] = b - a
    return out


def write_cdc(src: Path, dest: Path) -> int:
    """The version as the Hub would store it: Parquet with content-defined data pages."""
    table = pq.read_table(src)
    pq.write_table(table, dest, use_content_defined_chunking=True, write_page_index=True)
    return dest.stat().st_size


def run_all(versions: dict, scenarios: list[str], log=print) -> dict:
    out: dict = {"params": {"target": TARGET, "min": MIN_CHUNK, "max": MAX_CHUNK,
                            "parquet": "pyarrow write_table(use_content_defined_chunking=True, "
                                       "write_page_index=True), other settings default"}}
    with tempfile.TemporaryDirectory(prefix="bench-cdc-") as tmp:
        base_file = Path(tmp) / "base.parquet"
        size = write_cdc(versions["base"].path, base_file)
        base = chunks(base_file)
        os.unlink(base_file)
        stored = sum(base.values())
        out["base"] = {"file_bytes": size, "chunks": len(base), "uploaded_bytes": stored, "stored_bytes": stored}
        for name in scenarios:
            f = Path(tmp) / f"{name}.parquet"
            size_v = write_cdc(versions[name].path, f)
            got = chunks(f)
            os.unlink(f)
            new = sum(n for h, n in got.items() if h not in base)
            out[name] = {"file_bytes": size_v, "chunks": len(got), "uploaded_bytes": new,
                         "stored_bytes": stored + new}
            log(f"  cdc {name}: {new:,} of {size_v:,} B new")
    return out


__all__ = ["run_all", "gear_candidates", "chunk_bounds", "chunks"]
