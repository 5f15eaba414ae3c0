"""stable_argsort gives numpy's stable permutation, ties and all."""
import numpy as np
import pytest

from dsreg.rows.sorting import stable_argsort


@pytest.mark.parametrize("n", [0, 1, 2, 7, 1000, 50_000])
@pytest.mark.parametrize("distinct", [None, 1, 3, 0.5, 0.9])
def test_same_permutation_as_numpys_stable_sort(n, distinct):
    rng = np.random.default_rng(n)
    if distinct is None:            # fingerprints: practically never equal
        values = rng.integers(0, 2**64 - 1, n, dtype=np.uint64)
    else:                           # a fixed number, or a share, of distinct values
        k = distinct if isinstance(distinct, int) else max(int(n * distinct), 1)
        values = rng.integers(0, 2**64 - 1, k, dtype=np.uint64)[rng.integers(0, k, n)]
    got = stable_argsort(values)
    assert got.tolist() == np.argsort(values, kind="stable").tolist()


def test_a_few_repeats_among_many_keep_position_order():
    values = np.random.default_rng(1).integers(0, 2**64 - 1, 100_000, dtype=np.uint64)
    values[::997] = values[3]           # one value at 102 positions (and 3), the rest distinct
    values[500::1009] = values[7]
    order = stable_argsort(values)
    assert order.tolist() == np.argsort(values, kind="stable").tolist()
    at = order[values[order] == values[3]]
    assert (np.diff(at) > 0).all() and len(at) == 102
