"""Fuzzing CSV and JSON Lines ingest: any file either commits and loads back exactly as
pyarrow reads it (and as Python's csv / json read it, where they can), or is refused with a
one-line DsregError that leaves the registry byte for byte as it was. Never another
exception, never a silent difference.

Files are structured-random (rows of fields quoted right, quoted wrong, cut short, bytes
that are not UTF-8, integers beyond int64) and plain random bytes. Bounded: a fixed number
of examples per test (DSREG_FUZZ_EXAMPLES), derandomized so a run is repeatable.
"""
from __future__ import annotations

import csv
import io
import itertools
import json
import os

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.json as pjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dsreg.errors import DsregError
from dsreg.rows.equality import tables_equal
from dsreg.rows.ingest import csv_parse_options
from helpers.reliability import tree_hash

EXAMPLES = int(os.environ.get("DSREG_FUZZ_EXAMPLES", "100"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large])
_names = itertools.count()
OUTCOMES = {"committed": 0, "refused": 0}


def _commit(reg, data: bytes, ext: str, tmp_path) -> pa.Table | DsregError:
    """Commit the bytes as a file; the loaded table, or the refusal (checked harmless)."""
    n = next(_names)
    path = tmp_path / f"f{n}{ext}"
    path.write_bytes(data)
    before = tree_hash(reg.root / ".dsreg")
    try:
        reg.commit(f"d{n}", path, message="fuzz")
    except DsregError as e:
        assert "\n" not in str(e), str(e)
        assert tree_hash(reg.root / ".dsreg") == before, f"a refused commit changed the registry: {e}"
        OUTCOMES["refused"] += 1
        return e
    OUTCOMES["committed"] += 1
    return reg.load(f"d{n}").replace_schema_metadata(None)


# -- CSV ------------------------------------------------------------------------------
_TEXT = st.lists(st.sampled_from(list('ab ,"\n\r\t1-.é\x00') + ["10", "2.5", "true", "9" * 20, "2020-01-02"]),
                 max_size=5).map("".join)


@st.composite
def csv_files(draw) -> tuple[bytes, str]:
    ncols = draw(st.integers(1, 4))
    delim = draw(st.sampled_from([",", "\t"]))
    newline = draw(st.sampled_from(["\n", "\r\n"]))

    def field(text: str) -> str:
        how = draw(st.sampled_from(["auto", "auto", "quoted", "raw", "open", "glued"]))
        if how == "raw":                        # as is, whatever it holds
            return text
        if how == "open":                       # a quote opened and never closed
            return '"' + text
        if how == "glued":                      # text after the closing quote
            return '"' + text.replace('"', '""') + '"x'
        if how == "quoted" or any(c in text for c in f'{delim}"\r\n'):
            return '"' + text.replace('"', '""') + '"'
        return text
    header = [f"c{i}" for i in range(ncols)]
    rows = draw(st.lists(st.lists(_TEXT, min_size=ncols, max_size=ncols), max_size=8))
    lines = [delim.join(header)] + [delim.join(field(v) for v in r) for r in rows]
    data = (newline.join(lines) + draw(st.sampled_from([newline, ""]))).encode("utf-8")
    cut = draw(st.one_of(st.none(), st.integers(0, len(data))))
    return (data if cut is None else data[:cut]), delim


def _check_csv(result, data: bytes, delim: str) -> None:
    text = _utf8(data)
    strict_error = None
    if text is not None:
        try:
            python_rows = [r for r in csv.reader(io.StringIO(text, newline=""), delimiter=delim, strict=True) if r]
        except csv.Error as e:
            strict_error = e
    if isinstance(result, DsregError):
        return
    # committed: exactly what pyarrow reads with dsreg's options, and what Python's csv reads
    assert strict_error is None, f"committed a file Python's strict csv refuses: {strict_error}"
    want = pcsv.read_csv(io.BytesIO(data), parse_options=csv_parse_options("tsv" if delim == "\t" else "csv"))
    assert tables_equal(result, want)
    if text is not None:
        assert result.num_rows == len(python_rows) - 1, (result.num_rows, python_rows)
        for i, field in enumerate(result.schema):
            if pa.types.is_string(field.type):
                assert result.column(i).to_pylist() == [r[i] for r in python_rows[1:]]


def _utf8(data: bytes) -> str | None:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None


@FUZZ
@given(file=csv_files())
def test_structured_csv_commits_exactly_or_is_refused(registry, tmp_path, file):
    data, delim = file
    _check_csv(_commit(registry, data, ".tsv" if delim == "\t" else ".csv", tmp_path), data, delim)


@FUZZ
@given(data=st.one_of(st.binary(max_size=120), st.binary(max_size=120).map(lambda b: b"a,b\n" + b)))
def test_random_bytes_as_csv_commit_exactly_or_are_refused(registry, tmp_path, data):
    _check_csv(_commit(registry, data, ".csv", tmp_path), data, ",")


# -- JSON Lines -----------------------------------------------------------------------
_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.integers(-100, 100),
                     st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=6))
_VALUES = st.recursive(_SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                         st.dictionaries(st.sampled_from("xyz"), inner, max_size=2)),
                       max_leaves=6)
_INTS = st.one_of(st.integers(-100, 100), st.integers(-2**63, 2**63 - 1), st.integers(-2**66, 2**66))
# the values of one column, as real files hold them: one kind each, nulls anywhere
_KINDS = [_INTS, st.floats(allow_nan=False, allow_infinity=False), st.booleans(), st.text(max_size=6),
          st.lists(_INTS, max_size=3), st.lists(st.text(max_size=3), max_size=3),
          st.fixed_dictionaries({"x": _INTS, "y": st.text(max_size=3)}),
          st.lists(st.fixed_dictionaries({"x": st.floats(allow_nan=False, allow_infinity=False)}), max_size=2)]


@st.composite
def jsonl_files(draw) -> bytes:
    keys = draw(st.lists(st.sampled_from(["a", "b", "c", "é"]), min_size=1, max_size=3, unique=True))
    kinds = {k: draw(st.sampled_from(_KINDS)) for k in keys}
    typed = st.fixed_dictionaries({k: st.one_of(st.none(), kind) for k, kind in kinds.items()})
    anything = st.fixed_dictionaries({k: _VALUES for k in keys})       # shapes that may clash
    rows = draw(st.lists(st.one_of(typed, typed, typed, anything), min_size=1, max_size=8))
    data = "".join(json.dumps(r, ensure_ascii=draw(st.booleans())) + "\n" for r in rows).encode("utf-8")
    damage = draw(st.sampled_from(["none", "none", "none", "cut", "latin1", "byte"]))
    if damage == "cut":
        data = data[:draw(st.integers(0, len(data)))]
    elif damage == "latin1":
        data = data.replace(b'"', b'"\xe9', 1) if b'": "' not in data else data.replace(b'": "', b'": "\xe9', 1)
    elif damage == "byte":
        at = draw(st.integers(0, len(data) - 1))
        data = data[:at] + bytes([draw(st.integers(0, 255))]) + data[at + 1:]
    return data


def _check_jsonl(result, data: bytes) -> None:
    if isinstance(result, DsregError):
        return
    result.validate(full=True)
    want = pjson.read_json(io.BytesIO(data))
    try:
        want.validate(full=True)
    except pa.ArrowInvalid:
        want = None         # pyarrow's reader built it broken (lists of nulls): Python's json decides
    assert want is None or tables_equal(result, want)
    text = data.decode("utf-8")          # committed: so it was valid text
    rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert result.num_rows == len(rows)
    for row in rows:
        for v in _ints(row):
            assert -2**63 <= v < 2**63, f"committed an integer beyond int64: {v}"
    for i, field in enumerate(result.schema):
        if pa.types.is_string(field.type):
            assert result.column(i).to_pylist() == [r.get(field.name) for r in rows]


def _ints(v):
    if isinstance(v, bool):
        return
    if isinstance(v, int):
        yield v
    elif isinstance(v, dict):
        for x in v.values():
            yield from _ints(x)
    elif isinstance(v, list):
        for x in v:
            yield from _ints(x)


@FUZZ
@given(data=jsonl_files())
def test_structured_json_lines_commit_exactly_or_are_refused(registry, tmp_path, data):
    _check_jsonl(_commit(registry, data, ".jsonl", tmp_path), data)


@FUZZ
@given(data=st.one_of(st.binary(max_size=120), st.binary(max_size=60).map(lambda b: b'{"a": "' + b + b'"}\n')))
def test_random_bytes_as_json_lines_commit_exactly_or_are_refused(registry, tmp_path, data):
    _check_jsonl(_commit(registry, data, ".jsonl", tmp_path), data)

