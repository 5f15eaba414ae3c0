"""CSV and JSON Lines checkout files that commit back to the same values.

Text formats carry no types, and each has values it cannot hold: a null in a one-column
CSV is an empty line, which readers skip; a null string is an empty field, which reads
back as ""; "007" reads back as 7; JSON has no NaN. Rather than write such a file, the
writer refuses it, naming the column and the first row, and suggests Parquet.

How: each chunk is rendered, then parsed again the way `dsreg commit` parses files, and
every column compared with what was rendered (cast to its type, since types may widen:
int32 reads back as int64). Only a chunk that passes is written. Types a format has no
form for at all are refused before the first row.
"""
from __future__ import annotations

import io
import json
from pathlib import Path

import pyarrow as pa

from dsreg.errors import DsregError
from dsreg.rows.equality import canonical_column

_HINT = "use --format parquet, which holds every type"


def _refuse(fmt: str, column: str, why: str) -> DsregError:
    return DsregError(f"cannot check out as {fmt}: column {column} {why}", _HINT)


def _nested(t: pa.DataType) -> bool:
    return pa.types.is_nested(t) or (pa.types.is_dictionary(t) and _nested(t.value_type))


def _binary(t: pa.DataType) -> bool:
    if pa.types.is_dictionary(t):
        return _binary(t.value_type)
    return pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t) or \
        pa.types.is_binary_view(t)


def _binary_inside(t: pa.DataType) -> bool:
    return _binary(t) or any(_binary_inside(t.field(i).type) for i in range(t.num_fields))


def _plain(t: pa.DataType) -> pa.DataType:
    """String views as plain strings: pyarrow's CSV writer has no view support."""
    if pa.types.is_string_view(t):
        return pa.large_string()
    if pa.types.is_dictionary(t) and pa.types.is_string_view(t.value_type):
        return pa.large_string()
    return t


class CsvWriter:
    def __init__(self, path: Path, schema: pa.Schema, first_row: int = 0):
        for f in schema:
            if _nested(f.type):
                raise _refuse("CSV", f.name, f"is {f.type}: CSV has no form for nested values")
            if _binary(f.type):
                raise _refuse("CSV", f.name, f"is {f.type}: CSV holds text, not bytes")
        self.schema = schema
        self.f = open(path, "wb")
        self.header = True
        self.rows = first_row           # rows of the split before this chunk, for messages

    def write(self, table: pa.Table) -> None:
        import pyarrow.csv as pcsv
        plain = pa.schema([pa.field(f.name, _plain(f.type)) for f in table.schema])
        if not plain.equals(table.schema):
            table = table.cast(plain)
        buf = io.BytesIO()
        pcsv.write_csv(table, buf, pcsv.WriteOptions(include_header=self.header))
        data = buf.getvalue()
        self._check(table, data)
        self.f.write(data)
        self.header = False
        self.rows += table.num_rows

    def _check(self, table: pa.Table, data: bytes) -> None:
        import pyarrow.csv as pcsv

        from dsreg.rows.csvquotes import csv_parse_options
        from dsreg.rows.ingest import CSV_BLOCK_BYTES
        read = pcsv.ReadOptions(block_size=CSV_BLOCK_BYTES, skip_rows=1 if self.header else 0,
                                column_names=table.column_names)
        try:
            back = pcsv.read_csv(io.BytesIO(data), read_options=read, parse_options=csv_parse_options("csv"))
        except pa.ArrowInvalid as e:
            import re
            at = re.search(r"column #(\d+)", str(e))
            if at and int(at.group(1)) < table.num_columns:
                raise _refuse("CSV", table.column_names[int(at.group(1))], "would not read back as written") from None
            raise DsregError("cannot check out as CSV: the file would not read back as written", _HINT) from None
        if back.num_rows != table.num_rows and table.num_columns == 1:
            raise _refuse("CSV", table.column_names[0], "holds a null: a one-column CSV writes it as an "
                          "empty line, and readers skip empty lines")
        _compare("CSV", table, back, self.rows)

    def close(self) -> None:
        if self.header:         # nothing written: the header alone keeps the column names
            import pyarrow.csv as pcsv
            buf = io.BytesIO()
            pcsv.write_csv(pa.schema([pa.field(f.name, _plain(f.type)) for f in self.schema]).empty_table(), buf)
            self.f.write(buf.getvalue())
        self.f.close()


def _non_finite(arr) -> bool:
    import pyarrow.compute as pc
    t = arr.type
    if pa.types.is_floating(t):
        return bool(pc.any(pc.invert(pc.is_finite(arr))).as_py())      # nulls aside
    if pa.types.is_dictionary(t):
        return _non_finite(arr.dictionary)
    if pa.types.is_struct(t):
        return any(_non_finite(c) for c in arr.flatten())
    if pa.types.is_map(t):
        return _non_finite(arr.keys) or _non_finite(arr.items)
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return _non_finite(arr.flatten())
    return False


class JsonLinesWriter:
    def __init__(self, path: Path, schema: pa.Schema, first_row: int = 0):
        for f in schema:
            if _binary_inside(f.type):
                raise _refuse("JSON Lines", f.name, f"is {f.type}: JSON holds text, not bytes")
        self.f = open(path, "w", encoding="utf-8")
        self.rows = first_row

    def write(self, table: pa.Table) -> None:
        from dsreg.jsonvalues import to_jsonable
        for name, col in zip(table.column_names, table.columns):
            if any(_non_finite(c) for c in col.chunks):
                raise _refuse("JSON Lines", name, "holds NaN or infinity, which JSON has no number for")
        text = "".join(json.dumps({k: to_jsonable(v) for k, v in row.items()}, ensure_ascii=False) + "\n"
                       for row in table.to_pylist())
        self._check(table, text)
        self.f.write(text)
        self.rows += table.num_rows

    def _check(self, table: pa.Table, text: str) -> None:
        import pyarrow.json as pjson

        from dsreg.rows.ingest import CSV_BLOCK_BYTES
        data = text.encode("utf-8")
        try:
            back = pjson.read_json(io.BytesIO(data), read_options=pjson.ReadOptions(
                block_size=max(CSV_BLOCK_BYTES, len(data) + 1)))
        except pa.ArrowInvalid:
            back = None
        if back is None or back.column_names != table.column_names:
            # a column read back with mixed types: find it by reading each alone
            for name in table.column_names:
                one = "".join(json.dumps({name: v}, ensure_ascii=False) + "\n"
                              for v in (json.loads(line)[name] for line in text.splitlines()))
                try:
                    pjson.read_json(io.BytesIO(one.encode("utf-8")))
                except pa.ArrowInvalid:
                    raise _refuse("JSON Lines", name, "would not read back as written") from None
            raise DsregError("cannot check out as JSON Lines: the file would not read back", _HINT)
        _compare("JSON Lines", table, back, self.rows)

    def close(self) -> None:
        self.f.close()


def _compare(fmt: str, table: pa.Table, back: pa.Table, offset: int) -> None:
    """Refuse at the first column whose values do not come back (after casting to the
    written type: reading widens int32 to int64, dictionaries to plain values)."""
    for name, want, got in zip(table.column_names, table.columns, back.columns):
        try:
            got = got.cast(want.type)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            raise _refuse(fmt, name, f"would read back as {back.schema.field(name).type}") from None
        a, b = canonical_column(want), canonical_column(got)
        if a.equals(b):
            continue
        row = _first_difference(a, b)
        raise _refuse(fmt, name, f"would read back otherwise: row {offset + row + 1} holds "
                      f"{_show(want[row].as_py())} and would read back as {_show(got[row].as_py())}")


def _first_difference(a: pa.ChunkedArray, b: pa.ChunkedArray) -> int:
    lo, hi = 0, len(a)          # a[lo:hi] and b[lo:hi] differ; halve until one row is left
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if not a.slice(lo, mid - lo).equals(b.slice(lo, mid - lo)):
            hi = mid
        else:
            lo = mid
    return lo


def _show(v) -> str:
    text = repr(v)
    return text if len(text) <= 60 else text[:60] + "..."
