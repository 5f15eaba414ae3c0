"""Distinct values: HyperLogLog registers over the values' 64-bit hashes (they merge by maximum)."""
from __future__ import annotations

import base64
import math
import zlib

import numpy as np

from dsreg.rows.fingerprint import mix

HLL_P = 11
HLL_M = 1 << HLL_P
_HLL_SALT = np.uint64(0xC2B2AE3D27D4EB4F)
_U = np.uint64


def hll_registers(hashes: np.ndarray) -> np.ndarray:
    """HyperLogLog registers of a set of 64-bit hashes (duplicates do not matter)."""
    regs = np.zeros(HLL_M, dtype=np.uint8)
    if not len(hashes):
        return regs
    h = mix(hashes ^ _HLL_SALT)
    idx = (h >> _U(64 - HLL_P)).astype(np.intp)
    np.maximum.at(regs, idx, _rank(h))
    return regs


_TZ16 = np.array([16] + [(i & -i).bit_length() - 1 for i in range(1, 1 << 16)], dtype=np.uint8)


def _rank(h: np.ndarray) -> np.ndarray:
    """1 + trailing zeros of the low 64 - HLL_P bits: geometric, like leading zeros, but a table look-up."""
    rank = _TZ16[(h & _U(0xFFFF)).astype(np.intp)] + np.uint8(1)
    rest = np.flatnonzero(rank > 16)           # low 16 bits all zero: rare, look further
    shift = 16
    while len(rest) and shift < 64 - HLL_P:
        part = _TZ16[((h[rest] >> _U(shift)) & _U(0xFFFF)).astype(np.intp)]
        rank[rest] = np.minimum(shift + part, 64 - HLL_P) + 1
        rest = rest[part == 16]
        shift += 16
    return rank


def hll_estimate(regs: np.ndarray) -> float:
    m = float(HLL_M)
    alpha = 0.7213 / (1 + 1.079 / m)
    est = alpha * m * m / float(np.sum(np.ldexp(1.0, -regs.astype(np.int64))))
    zeros = int(np.count_nonzero(regs == 0))
    if est <= 2.5 * m and zeros:
        est = m * math.log(m / zeros)     # linear counting for small sets
    return est


def pack(regs: np.ndarray | None) -> str | None:
    return None if regs is None else base64.b64encode(zlib.compress(regs.tobytes(), 6)).decode("ascii")


def unpack(s: str | None) -> np.ndarray | None:
    return None if s is None else np.frombuffer(zlib.decompress(base64.b64decode(s)), dtype=np.uint8).copy()
