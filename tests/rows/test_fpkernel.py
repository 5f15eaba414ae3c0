"""The native fingerprint kernel (fpkernel.c) computes exactly rowfp-2: the same values as the
numpy reference for every type family, every layout and every length, so which of the two
a registry was committed with never matters. Skipped only where the kernel is not built."""
from __future__ import annotations

import os
import shutil

import numpy as np
import pyarrow as pa
import pytest
from tests.helpers.typecases import CASES
from tests.rows.test_fingerprint import SAMPLES, golden_table

from dsreg.rows import fingerprint

if os.environ.get("DSREG_NATIVE_FINGERPRINTS") == "0":
    pytest.skip("the native kernel is ruled out by DSREG_NATIVE_FINGERPRINTS=0", allow_module_level=True)
if fingerprint.native is None:
    if shutil.which("cc") or shutil.which("gcc"):
        raise AssertionError("the native fingerprint kernel is not built though a C compiler is there: "
                             "pip install -e . (or python setup.py build_ext --inplace) builds it")
    pytest.skip("no C compiler here: fingerprints use numpy (tested by test_fingerprint.py)", allow_module_level=True)


def both(fn, *args):
    native = fn(*args)
    saved = fingerprint.native
    fingerprint.native = None
    try:
        reference = fn(*args)
    finally:
        fingerprint.native = saved
    return native, reference


@pytest.mark.parametrize("name", sorted({**CASES, **{f"sample_{k}": v for k, v in SAMPLES.items()}}))
def test_every_type_family_hashes_as_numpy_does(name):
    arr = CASES[name] if name in CASES else SAMPLES[name.removeprefix("sample_")]
    for start in range(len(arr)):
        native, reference = both(fingerprint.hash_array, arr.slice(start))
        assert native.dtype == reference.dtype and (native == reference).all(), start
    table = pa.table({"v": arr, "i": pa.array(range(len(arr)))})
    native, reference = both(fingerprint.row_fingerprints, table)
    assert (native == reference).all()


def test_the_golden_table_hashes_as_numpy_does():
    native, reference = both(fingerprint.row_fingerprints, golden_table())
    assert (native == reference).all()


def test_byte_strings_of_every_length_and_offset():
    rng = np.random.default_rng(7)
    lengths = np.concatenate([np.arange(0, 70), rng.integers(0, 5000, 300), [0, 0, 8, 16, 24]])
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    data = rng.integers(0, 256, int(offsets[-1]) + 11, dtype=np.uint8)
    for shift in (0, 3, 11):        # values starting anywhere in the buffer, unaligned
        native, reference = both(fingerprint._byte_segments, data, offsets + shift)
        assert (native == reference).all()
    same = np.arange(0, 32 * 40 + 1, 32, dtype=np.int64)          # equal lengths, whole words: the matrix path
    native, reference = both(fingerprint._byte_segments, data, same)
    assert (native == reference).all()
    embeddings = pa.array([rng.random(16).tolist() for _ in range(50)], pa.list_(pa.float32()))
    native, reference = both(fingerprint.hash_array, embeddings)
    assert (native == reference).all()


def test_bad_offsets_are_refused_not_read_past():
    data = np.zeros(10, np.uint8)
    out = np.empty(1, np.uint64)
    for offsets in ([0, 11], [5, 4], [-1, 3]):
        with pytest.raises(ValueError):
            fingerprint.native.byte_segments(data, np.array(offsets, np.int64), out)
