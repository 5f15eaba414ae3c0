"""Checks on the rows a source yields, for what readers let through silently.

- Arrays that are not valid Arrow, text that is not UTF-8 in `string` columns above all:
  pyarrow's JSON reader, Arrow IPC and Parquet files, and tables built from buffers do not
  validate it; such rows would commit and then fail whoever reads them.
- Integers beyond int64 in CSV and JSON: Arrow reads them as float64, rounded. A float
  column is looked at closely (its file read again) only when it holds a value that large,
  so ordinary files pay one min/max per float column and batch.
"""
from __future__ import annotations

import re
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from dsreg.errors import BadInput

_INT64_LIMIT = 2.0 ** 63


def check_arrays(batch: pa.RecordBatch, where: str, first_row: int = 0) -> None:
    """Refuse a batch whose arrays are not valid Arrow: text that is not UTF-8 (string
    columns, nested ones too), offsets past the end of their values (pyarrow's own JSON
    reader builds such lists of nulls), anything later code would trip on or crash in."""
    for name, col in zip(batch.schema.names, batch.columns):
        if pa.types.is_primitive(col.type) or pa.types.is_null(col.type):
            continue            # fixed-width values: nothing to check that can be wrong
        try:
            _validate(col)
        except pa.ArrowInvalid as e:
            if "whole number of days" in str(e):
                raise BadInput(f"{where}: column {name}: date64 values must be whole days; Parquet would "
                               "truncate them", "cast the column to timestamp[ms] to keep the time of day") from None
            if "UTF8" not in str(e):
                raise BadInput(f"{where}: column {name} is not a valid Arrow array "
                               f"({str(e).splitlines()[0][:200]})", "convert the data to Parquet another way") from None
            at = re.search(r"string index (\d+)", str(e))
            row = f" (row {first_row + int(at.group(1)) + 1})" if at and pa.types.is_string(col.type) else ""
            raise BadInput(f"{where}: column {name} holds text that is not valid UTF-8{row}",
                           "fix the encoding, or give the column a binary type") from None


def _validate(col: pa.Array) -> None:
    try:
        col.validate(full=True)
    except pa.ArrowInvalid as e:
        # Arrow validates nested children whole, values no row references (a slice's)
        # included: when a value is what is wrong (so the offsets were found sound), look
        # again at a copy holding only what the rows reference (on this rare path only)
        if not pa.types.is_nested(col.type) or not any(w in str(e) for w in ("UTF8", "whole number of days")):
            raise
        pa.concat_arrays([col]).validate(full=True)


def _float_leaves(arr: pa.Array):
    t = arr.type
    if pa.types.is_floating(t):
        yield arr
    elif pa.types.is_struct(t):
        for child in arr.flatten():
            yield from _float_leaves(child)
    elif pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        yield from _float_leaves(arr.flatten())


def _very_large(arr: pa.Array) -> bool:
    """Holds a finite value at least 2**63 in size (every float that large is an integer)."""
    for leaf in _float_leaves(arr):
        lo, hi = pc.min_max(leaf).values()      # no temporaries: the common case is cheap
        if (hi.as_py() or 0) < _INT64_LIMIT and (lo.as_py() or 0) > -_INT64_LIMIT:
            continue
        biggest = pc.max(pc.if_else(pc.is_finite(leaf), pc.abs(leaf), 0.0)).as_py()     # infinities aside
        if biggest is not None and biggest >= _INT64_LIMIT:
            return True
    return False


class BigIntegers:
    """Per file: refuse integers beyond int64 that a float column would round."""

    def __init__(self, path: Path, fmt: str, schema: pa.Schema):
        self.path, self.fmt, self.schema = path, fmt, schema
        self.checked = False        # the file's text is looked at once at most

    def check(self, batch: pa.RecordBatch) -> None:
        if self.checked:
            return
        suspects = [name for name, col in zip(batch.schema.names, batch.columns) if _very_large(col)]
        if not suspects:
            return
        self.checked = True
        if self.fmt == "jsonl":
            _check_json_text(self.path, self.schema)
        else:
            _check_csv_text(self.path, self.fmt, self.schema, suspects)


def _refuse(path: Path, column: str, where: str, literal: str) -> BadInput:
    shown = literal if len(literal) <= 40 else literal[:40] + "..."
    return BadInput(f"{path}: column {column} holds an integer beyond int64 at {where} ({shown}), which "
                    "would be rounded to a float", "convert the file to Parquet with the column as a decimal or "
                    "string, or quote it in JSON")


_INTEGER_TEXT = r"^\s*[+-]?[0-9]+\s*$"


def _check_csv_text(path: Path, fmt: str, schema: pa.Schema, columns: list[str]) -> None:
    """Read the suspect columns again as text, for integer literals beyond int64."""
    import pyarrow.csv as pcsv

    from dsreg.rows.csvquotes import csv_parse_options
    convert = pcsv.ConvertOptions(column_types={c: pa.string() for c in columns}, include_columns=columns)
    table = pcsv.read_csv(path, parse_options=csv_parse_options(fmt), convert_options=convert)
    for name in columns:
        text = table.column(name)
        ints = pc.match_substring_regex(text, _INTEGER_TEXT)
        for i in pc.indices_nonzero(pc.fill_null(ints, False)).to_pylist():
            literal = text[i].as_py()
            if not -2**63 <= int(literal) < 2**63:
                raise _refuse(path, name, f"row {i + 1}", literal.strip())


# an integer literal of 19 or more digits, not part of a float or a word
_LONG_INT = re.compile(rb"(?<![0-9A-Za-z_.+-])-?[0-9]{19,}(?![0-9A-Za-z_.])")


def _check_json_text(path: Path, schema: pa.Schema) -> None:
    """Find long integer literals in the raw lines, then parse only those lines."""
    import json
    import mmap
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        for m in _LONG_INT.finditer(data):
            start = data.rfind(b"\n", 0, m.start()) + 1
            end = data.find(b"\n", m.end())
            try:
                row = json.loads(data[start:end if end >= 0 else len(data)])
            except ValueError:
                continue
            if not isinstance(row, dict):
                continue
            for name, value in row.items():
                big = _big_int_in(value)
                if big is not None and name in schema.names and _floats_in(schema.field(name).type):
                    line = data[:start].count(b"\n") + 1
                    raise _refuse(path, name, f"line {line}", str(big))


def _big_int_in(v):
    if isinstance(v, int) and not isinstance(v, bool) and not -2**63 <= v < 2**63:
        return v
    items = v.values() if isinstance(v, dict) else v if isinstance(v, list) else ()
    for x in items:
        big = _big_int_in(x)
        if big is not None:
            return big
    return None


def _floats_in(t: pa.DataType) -> bool:
    if pa.types.is_floating(t):
        return True
    return any(_floats_in(t.field(i).type) for i in range(t.num_fields))
