"""Vectorized row fingerprints (scheme `rowfp-2`): one uint64 per row, no Python loop per row.

A row's fingerprint is a hash of its logical values, column by column:
dictionaries hash as their decoded values, floats as their bit patterns (so NaN payloads
and -0.0 are told apart, exactly like `rows_equal`), null slots as a constant whatever
bytes lie under them. Variable-length values (strings, binaries, lists) hash each element
with its position and sum the results per value, which numpy does with one cumulative sum.
Strings, binaries and lists of fixed-width numbers (embeddings) are hashed as their bytes,
eight at a time. Fingerprints only propose reuse; `rows_equal` proves it.

`SCHEME` names this function. Every fingerprint object records the scheme it was made
with, and fingerprints of another scheme are computed again from the rows before any
comparison, so changing anything here that changes a value must change `SCHEME` (the
golden values in tests/test_fingerprint.py fail when a value changes).
"""
from __future__ import annotations

import importlib
import os
from types import ModuleType

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dsreg.errors import UnsupportedType


def _native_kernel() -> ModuleType | None:
    """The C kernel (fpkernel.c, built by setup.py where there is a compiler): the same values
    as the numpy code below, several times faster. DSREG_NATIVE_FINGERPRINTS=0 rules it out."""
    if os.environ.get("DSREG_NATIVE_FINGERPRINTS") == "0":
        return None
    try:
        return importlib.import_module("dsreg.rows.fpkernel")
    except ImportError:
        return None


native = _native_kernel()

SCHEME = "rowfp-2"
_U = np.uint64
_M1, _M2 = _U(0xBF58476D1CE4E5B9), _U(0x94D049BB133111EB)
_NULL = _U(0x6A09E667F3BCC908)
_LEN = _U(0x3C6EF372FE94F82B)
_COL = _U(0x9E3779B97F4A7C15)
_S30, _S27, _S31 = _U(30), _U(27), _U(31)
_pos_table = np.zeros(0, dtype=_U)


def mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer, on a copy."""
    return _mix_inplace(np.array(x, dtype=_U, copy=True))


def _mix_inplace(x: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer, in place on a uint64 array the caller owns."""
    with np.errstate(over="ignore"):
        x ^= x >> _S30
        x *= _M1
        x ^= x >> _S27
        x *= _M2
        x ^= x >> _S31
    return x


def _positions(n: int) -> np.ndarray:
    """mix(p + constant) for p < n, grown on demand and cached."""
    global _pos_table
    if len(_pos_table) < n:
        size = max(n, 2 * len(_pos_table), 4096)
        _pos_table = mix(np.arange(size, dtype=_U) + _LEN)
    return _pos_table


def _segments(values: np.ndarray, offsets: np.ndarray, pos: np.ndarray | None = None) -> np.ndarray:
    """Hash each segment values[offsets[i]:offsets[i+1]] as a sequence (`pos`: each
    value's position in its segment, when the caller has it already)."""
    offsets = offsets.astype(np.int64, copy=False)
    start, end = int(offsets[0]), int(offsets[-1])
    rel = offsets - start
    values = values[start:end]
    lengths = np.diff(rel)
    n = len(values)
    if n:
        if pos is None:
            pos = np.arange(n, dtype=np.int64) - np.repeat(rel[:-1], lengths)
        terms = _mix_inplace(values.astype(_U, copy=False) ^ _positions(int(lengths.max()))[pos])
        csum = np.zeros(n + 1, dtype=_U)
        np.cumsum(terms, out=csum[1:])
        sums = csum[rel[1:]] - csum[rel[:-1]]
    else:
        sums = np.zeros(len(lengths), dtype=_U)
    return mix(sums ^ mix(lengths.astype(_U) + _LEN))


_TAIL_MASK = np.array([(1 << (8 * r)) - 1 if r else (1 << 64) - 1 for r in range(8)], dtype=_U)


def _byte_segments(data: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Hash byte strings a little-endian 64-bit word at a time (tail bytes zero-masked):
    natively when the kernel is built, else with numpy (`byte_segments_numpy`, the reference)."""
    if native is None:
        return byte_segments_numpy(data, offsets)
    offsets = np.ascontiguousarray(offsets, dtype=np.int64)
    out = np.empty(len(offsets) - 1, dtype=_U)
    native.byte_segments(np.ascontiguousarray(data, dtype=np.uint8), offsets, out)
    return out


def byte_segments_numpy(data: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Hash byte strings a little-endian 64-bit word at a time (tail bytes zero-masked).

    An overlapping strided view reads a word at any byte offset, so no byte is copied
    one at a time: the work is per word, not per byte.
    """
    offsets = offsets.astype(np.int64, copy=False)
    start, end = int(offsets[0]), int(offsets[-1])
    rel = offsets - start
    lengths = np.diff(rel)
    words = (lengths + 7) // 8
    if len(lengths) and end > start and lengths[0] % 8 == 0 and (lengths == lengths[0]).all():
        # every value as long, a whole number of words (embeddings): a matrix, no gather;
        # the same sums as the general path below
        w = int(lengths[0]) // 8
        matrix = np.ascontiguousarray(data[start:end]).view("<u8").reshape(len(lengths), w)
        terms = _mix_inplace(matrix ^ _positions(w)[:w])
        with np.errstate(over="ignore"):
            sums = terms.sum(axis=1, dtype=_U)
        h = _mix_inplace(sums ^ mix(words.astype(_U) + _LEN))
        return _mix_inplace(h ^ lengths.astype(_U))
    woff = np.zeros(len(words) + 1, dtype=np.int64)
    np.cumsum(words, out=woff[1:])
    total = int(woff[-1])
    pos = None
    if total:
        padded = np.zeros(end - start + 8, dtype=np.uint8)
        padded[: end - start] = data[start:end]
        word_view = np.ndarray(shape=(end - start + 1,), dtype="<u8", buffer=padded, strides=(1,))
        pos = np.arange(total, dtype=np.int64) - np.repeat(woff[:-1], words)   # word within its value
        values = word_view[np.repeat(rel[:-1], words) + 8 * pos].astype(_U, copy=False)
        has_tail = (lengths % 8 != 0)
        last = woff[1:][has_tail] - 1
        values[last] &= _TAIL_MASK[lengths[has_tail] % 8]
    else:
        values = np.zeros(0, dtype=_U)
    h = _segments(values, woff, pos)
    return _mix_inplace(h ^ lengths.astype(_U))


def _buffer(arr: pa.Array, index: int, dtype, count: int, extra: int = 0) -> np.ndarray:
    buf = arr.buffers()[index]
    if buf is None:
        return np.zeros(count + extra, dtype=dtype)
    data = np.frombuffer(buf, dtype=dtype)
    return data[arr.offset: arr.offset + count + extra]


def _valid(arr: pa.Array) -> np.ndarray:
    """The validity of each slot, as bools, from the bitmap (slice-aware)."""
    n = len(arr)
    buf = arr.buffers()[0]
    if buf is None:
        return np.ones(n, dtype=bool)
    first, last = arr.offset // 8, (arr.offset + n + 7) // 8
    bits = np.unpackbits(np.frombuffer(buf, np.uint8)[first:last], bitorder="little")
    return bits[arr.offset % 8: arr.offset % 8 + n].view(bool)


def _number_lists(arr: pa.Array) -> np.ndarray:
    """Lists of fixed-width numbers (embeddings), each hashed as the bytes of its values;
    a list holding a null element element by element instead, since null slots hash as
    a constant whatever bytes lie under them. Either way, decided by the row alone."""
    t = arr.type
    n = len(arr)
    width = t.value_type.bit_width // 8
    if pa.types.is_fixed_size_list(t):
        child = arr.values.slice(arr.offset * t.list_size, n * t.list_size)
        offsets = np.arange(n + 1, dtype=np.int64) * t.list_size
    else:
        child = arr.values
        offsets = offsets_of(arr)
    buf = child.buffers()[1]
    data = np.frombuffer(buf, np.uint8)[child.offset * width:(child.offset + len(child)) * width] \
        if buf is not None else np.zeros(0, np.uint8)
    h = _byte_segments(data, offsets * width)
    if child.null_count:
        nulls = np.zeros(len(child) + 1, dtype=np.int64)
        np.cumsum(~_valid(child), out=nulls[1:])
        has_null = nulls[offsets[1:]] > nulls[offsets[:-1]]
        h = np.where(has_null, _segments(hash_array(child), offsets), h)
    return h


def hash_array(arr: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """One uint64 per slot of `arr`."""
    if isinstance(arr, pa.ChunkedArray):
        if arr.num_chunks == 0:
            return np.zeros(0, dtype=_U)
        return np.concatenate([hash_array(c) for c in arr.chunks])
    t = arr.type
    n = len(arr)
    if isinstance(t, pa.ExtensionType):
        return hash_array(arr.storage)
    if pa.types.is_null(t):
        return np.full(n, _NULL, dtype=_U)
    if pa.types.is_dictionary(t):
        values = hash_array(arr.dictionary)
        idx = pc.fill_null(arr.indices, 0).to_numpy(zero_copy_only=False).astype(np.int64)
        h = values[idx] if len(values) else np.zeros(n, dtype=_U)
    elif pa.types.is_boolean(t):
        h = mix(pc.fill_null(arr, False).cast(pa.uint8()).to_numpy(zero_copy_only=False).astype(_U) + _U(7))
    elif pa.types.is_fixed_size_binary(t) or pa.types.is_decimal(t):
        width = t.byte_width
        raw = _buffer(arr, 1, np.uint8, n * width) if arr.offset == 0 else \
            np.frombuffer(arr.buffers()[1], np.uint8)[arr.offset * width:(arr.offset + n) * width]
        h = _segments(raw, np.arange(n + 1, dtype=np.int64) * width)
    elif _is_fixed_width(t):
        width = t.bit_width // 8
        dtype = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}[width]
        h = mix(_buffer(arr, 1, dtype, n).astype(_U) + _U(width))
    elif pa.types.is_string(t) or pa.types.is_binary(t) or pa.types.is_large_string(t) or pa.types.is_large_binary(t):
        h = _byte_segments(np.frombuffer(arr.buffers()[2] or b"", np.uint8), offsets_of(arr))
    elif pa.types.is_string_view(t) or pa.types.is_binary_view(t):
        return hash_array(arr.cast(pa.large_string() if pa.types.is_string_view(t) else pa.large_binary()))
    elif (pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t)) and \
            _is_fixed_width(t.value_type):
        h = _number_lists(arr)
    elif pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_map(t):
        h = _segments(hash_array(arr.values), offsets_of(arr))
    elif pa.types.is_fixed_size_list(t):
        size = t.list_size
        child = arr.values.slice(arr.offset * size, n * size)
        h = _segments(hash_array(child), np.arange(n + 1, dtype=np.int64) * size)
    elif pa.types.is_list_view(t) or pa.types.is_large_list_view(t):
        # gathered here: pyarrow's list_view -> list cast can build invalid offsets
        dtype = np.int64 if pa.types.is_large_list_view(t) else np.int32
        starts = _buffer(arr, 1, dtype, n).astype(np.int64)
        sizes = _buffer(arr, 2, dtype, n).astype(np.int64)
        if arr.null_count:
            sizes = np.where(arr.is_valid().to_numpy(zero_copy_only=False), sizes, 0)
        offsets = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(sizes, out=offsets[1:])
        gather = np.repeat(starts - offsets[:-1], sizes) + np.arange(int(offsets[-1]), dtype=np.int64)
        if _is_fixed_width(t.value_type):       # as the same values in a list would hash
            h = _number_lists(pa.LargeListArray.from_arrays(pa.array(offsets), arr.values.take(pa.array(gather))))
        else:
            h = _segments(hash_array(arr.values)[gather], offsets)
    elif pa.types.is_struct(t):
        h = np.zeros(n, dtype=_U)
        with np.errstate(over="ignore"):
            for i in range(t.num_fields):
                h += mix(hash_array(arr.field(i)) + _COL * _U(i + 1))
        h = mix(h ^ _U(t.num_fields))
    else:
        raise UnsupportedType(f"column type {t} is not supported (Parquet cannot store it)")
    if arr.null_count:
        h = np.where(_valid(arr), h, _NULL)
    return h


def offsets_of(arr: pa.Array) -> np.ndarray:
    """The n+1 value offsets of a string, binary or list array (slice-aware), as int64."""
    t = arr.type
    wide = pa.types.is_large_string(t) or pa.types.is_large_binary(t) or pa.types.is_large_list(t)
    return _buffer(arr, 1, np.int64 if wide else np.int32, len(arr), 1).astype(np.int64, copy=False)


def _is_fixed_width(t: pa.DataType) -> bool:
    return (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_temporal(t)) and \
        not pa.types.is_interval(t) and t.bit_width in (8, 16, 32, 64)


def row_fingerprints(table: pa.Table | pa.RecordBatch) -> np.ndarray:
    """One uint64 fingerprint per row, combining every column in order."""
    return combine_columns((hash_array(column) for column in table.columns), table.num_rows)


def combine_columns(hashes, rows: int) -> np.ndarray:
    """Row fingerprints from the hashes of each column's values (an iterable of uint64
    arrays, in column order): what `row_fingerprints` does with `hash_array`'s."""
    h = np.zeros(rows, dtype=_U)
    k = 0
    with np.errstate(over="ignore"):
        for k, column in enumerate(hashes, 1):
            h += mix(column ^ (_COL * _U(k)))
    return mix(h ^ _U(k))


# -- values across a type change ----------------------------------------------------
_CAST_ERRORS = (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError)
_INEXACT = _U(0xA54FF53A5F1D36F1)


def castable(old: pa.DataType, new: pa.DataType) -> bool:
    """Whether Arrow can cast values of type `old` to `new` at all (values may still fail)."""
    try:
        pa.array([], old).cast(new)
    except _CAST_ERRORS:
        return False
    return True


def hash_as(arr: pa.Array | pa.ChunkedArray, t: pa.DataType) -> np.ndarray:
    """One uint64 per slot of `arr`, as `hash_array` gives the equal value of type `t`:
    where the value converts to `t` exactly (casting back gives it again; where Arrow
    cannot cast back, its safe cast accepts it), the hash of the converted value;
    elsewhere a hash that no value of type `t` has (but for a 2**-64 chance), since no
    value of type `t` equals it."""
    if isinstance(arr, pa.ChunkedArray):
        return np.concatenate([hash_as(c, t) for c in arr.chunks]) if arr.num_chunks else np.zeros(0, _U)
    h, exact = _hash_cast(arr, t)
    if not exact.all():
        h = np.where(exact, h, mix(hash_array(arr) ^ _INEXACT))
    return h


def _hash_cast(arr: pa.Array, t: pa.DataType) -> tuple[np.ndarray, np.ndarray]:
    """(hash of each value cast to `t`, whether that cast is exact)."""
    try:
        cast, checked = arr.cast(t), True       # safe: refuses overflow, truncation, bad text
    except _CAST_ERRORS:
        cast, checked = None, False
    try:
        if cast is None:                        # some values are refused: let the way back tell
            cast = arr.cast(t, safe=False)
        back = cast.cast(arr.type, safe=False)
        return hash_array(cast), hash_array(back) == hash_array(arr)
    except _CAST_ERRORS:
        if checked:                             # no way back: the safe cast has to do
            return hash_array(cast), np.ones(len(arr), dtype=bool)
    # some values do not convert at all: find them, among distinct values where Arrow can
    if len(arr) <= 1:
        return np.zeros(len(arr), dtype=_U), np.zeros(len(arr), dtype=bool)
    if _is_list(arr.type) and _is_list(t):
        return _hash_cast_lists(arr, t)
    try:
        encoded = arr if pa.types.is_dictionary(arr.type) else arr.dictionary_encode()
    except _CAST_ERRORS:
        encoded = None
    if encoded is not None and (encoded is arr or 0 < len(encoded.dictionary) < len(arr)):
        h, exact = _hash_cast(encoded.dictionary, t)
        if not len(h):                          # every slot null
            return np.full(len(arr), _NULL, dtype=_U), np.ones(len(arr), dtype=bool)
        idx = pc.fill_null(encoded.indices, 0).to_numpy(zero_copy_only=False).astype(np.int64)
        valid = _valid(arr)
        return np.where(valid, h[idx], _NULL), np.where(valid, exact[idx], True)
    half = len(arr) // 2
    # halves copied out: a slice of a nested array keeps all of its children, which a
    # cast would convert whole each time (quadratic)
    (h1, e1), (h2, e2) = (_hash_cast(pa.concat_arrays([arr.slice(0, half)]), t),
                          _hash_cast(pa.concat_arrays([arr.slice(half)]), t))
    return np.concatenate([h1, h2]), np.concatenate([e1, e2])


def _is_list(t: pa.DataType) -> bool:
    return pa.types.is_list(t) or pa.types.is_large_list(t)


def _hash_cast_lists(arr: pa.Array, t: pa.DataType) -> tuple[np.ndarray, np.ndarray]:
    """`_hash_cast` of lists, from their values: a list converts exactly when each of its
    values does; those lists are then cast together (linear, where halving the array
    until the failing values are found costs a cast per value)."""
    values = arr.flatten()                  # the values of the lists in `arr`, in order
    _, value_exact = _hash_cast(values, t.value_type)
    parents = pc.list_parent_indices(arr).to_numpy(zero_copy_only=False).astype(np.int64)
    exact = np.bincount(parents[~value_exact], minlength=len(arr)) == 0
    h = np.zeros(len(arr), dtype=_U)
    rows = np.flatnonzero(exact)
    if len(rows):
        some = arr.take(pa.array(rows))
        try:
            cast = some.cast(t)
        except _CAST_ERRORS:
            cast = some.cast(t, safe=False)
        h[rows] = hash_array(cast)
    return h, exact


def row_nbytes(table: pa.Table | pa.RecordBatch) -> np.ndarray:
    """Approximate in-memory bytes of each row: fixed widths plus value lengths."""
    sizes = np.zeros(table.num_rows, dtype=np.int64)
    for column in table.columns:
        sizes += _column_nbytes(column)
    return sizes


def _column_nbytes(arr) -> np.ndarray | int:
    if isinstance(arr, pa.ChunkedArray):
        if arr.num_chunks == 0:
            return 0
        return np.concatenate([np.broadcast_to(_column_nbytes(c), len(c)) for c in arr.chunks]) \
            if arr.num_chunks > 1 else _column_nbytes(arr.chunk(0))
    t = arr.type
    if isinstance(t, pa.ExtensionType):
        return _column_nbytes(arr.storage)
    if pa.types.is_dictionary(t):
        return max(t.index_type.bit_width // 8, 1)
    if pa.types.is_string(t) or pa.types.is_binary(t) or pa.types.is_large_string(t) or pa.types.is_large_binary(t):
        return np.diff(offsets_of(arr)) + 4
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_map(t):
        offsets = offsets_of(arr)
        child = _column_nbytes(arr.values)
        if np.isscalar(child) or np.ndim(child) == 0:
            return np.diff(offsets) * int(child) + 4
        csum = np.concatenate([[0], np.cumsum(child)])
        return csum[offsets[1:]] - csum[offsets[:-1]] + 4
    if pa.types.is_fixed_size_list(t):
        size = t.list_size
        child = _column_nbytes(arr.values.slice(arr.offset * size, len(arr) * size))
        if np.isscalar(child) or np.ndim(child) == 0:
            return int(child) * size
        return np.asarray(child).reshape(len(arr), size).sum(axis=1)
    if pa.types.is_struct(t):
        total: np.ndarray | int = 0
        for i in range(t.num_fields):
            total = total + _column_nbytes(arr.field(i))
        return total
    try:
        return max(t.bit_width // 8, 1)
    except ValueError:
        return 8
