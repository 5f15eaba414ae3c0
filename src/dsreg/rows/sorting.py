"""Sorting 64-bit keys (row fingerprints, hashes) in a stable order, fast.

numpy's stable argsort of 64-bit integers is a merge sort, 3x slower than its default
quicksort, which is vectorized (SIMD) on x86. Fingerprints rarely repeat, so sorting with
the fast one and then putting the few ties back in position order gives exactly the
stable order for a third of the time.
"""
from __future__ import annotations

import numpy as np

_FEW_TIES = 8       # beyond one tied value in this many, the stable sort is the cheaper path


def stable_argsort(values: np.ndarray) -> np.ndarray:
    """`np.argsort(values, kind="stable")`, the same permutation, faster on keys that
    seldom repeat."""
    order = np.argsort(values)
    if len(order) < 2:
        return order
    s = values[order]
    tie = s[1:] == s[:-1]
    ties = np.flatnonzero(tie)
    if not len(ties):
        return order
    if len(ties) * _FEW_TIES > len(order):
        return np.argsort(values, kind="stable")
    # every position in a group of equal keys, each group sorted by position
    member = np.zeros(len(order), dtype=bool)
    member[ties] = True
    member[ties + 1] = True
    at = np.flatnonzero(member)
    order[at] = order[at][np.lexsort((order[at], s[at]))]
    return order


__all__ = ["stable_argsort"]
