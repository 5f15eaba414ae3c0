"""Sources of rows: files, folders, Arrow tables and readers, pandas DataFrames.

Every source becomes a schema and a stream of record batches, so a dataset larger than
memory is never loaded whole. Files of one split must share a schema; the error names the
first file that differs and how.
"""
from __future__ import annotations

import os
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from dsreg.errors import BadInput, SchemaMismatch, UnsupportedType
from dsreg.model.checked import PARQUET_MAX_DEPTH, parquet_depth
from dsreg.rows.csvquotes import csv_parse_options
from dsreg.rows.jsondepth import check_json_depth

# defaults of open_source's batch_rows and text_block_bytes
BATCH_ROWS = int(os.environ.get("DSREG_BATCH_ROWS", "65536"))
CSV_BLOCK_BYTES = 16 << 20
# Part of every input digest (inputcache.py): bump it whenever what reading files yields
# changes (another reader, other options, other type inference), so that files committed
# before are read again rather than taken for the snapshot they gave then.
INGEST_VERSION = "2"
FORMATS = {
    ".parquet": "parquet", ".pq": "parquet",
    ".csv": "csv", ".tsv": "tsv",
    ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl",
    ".arrow": "arrow", ".feather": "arrow", ".ipc": "arrow", ".arrows": "arrow",
}


@dataclass
class Source:
    """A schema, a way to stream its batches, and what it came from."""
    schema: pa.Schema
    batches: Callable[[], Iterator[pa.RecordBatch]]
    origins: list[str]
    files: list[tuple[Path, str]] = field(default_factory=list)    # (file, format) in reading order
    batch_rows: int = BATCH_ROWS                # how it is read (the input cache's key holds them)
    text_block_bytes: int = CSV_BLOCK_BYTES


def open_source(value: Any, batch_rows: int = BATCH_ROWS, text_block_bytes: int = CSV_BLOCK_BYTES) -> Source:
    """`value` as a schema and a stream of batches of `batch_rows` rows; CSV and JSON are
    parsed (and their types inferred) in blocks of `text_block_bytes`."""
    src = _open_source(value, batch_rows, text_block_bytes)
    src.schema = without_pins(src.schema)
    if not src.files:       # files are checked as they are read, naming the file and row
        src.batches = _in_memory(src.batches, src.schema, src.origins[0])
    src.batches = _rebatched(src.batches, batch_rows)
    src.batch_rows, src.text_block_bytes = batch_rows, text_block_bytes
    return src


def _in_memory(batches: Callable[[], Iterator[pa.RecordBatch]], schema: pa.Schema,
               origin: str) -> Callable[[], Iterator[pa.RecordBatch]]:
    """A table or reader given in Python, streamed and checked: a batch that does not fit
    the reader's schema, what Arrow raises while reading one (a value that is not a batch),
    or arrays Arrow would not have built (invalid UTF-8, ...) are bad input of one line,
    not an Arrow error from deep inside the commit."""
    from dsreg.rows.inputchecks import check_arrays

    def gen() -> Iterator[pa.RecordBatch]:
        it, n, rows = batches(), 0, 0
        while True:
            try:
                batch = next(it)
            except StopIteration:
                return
            except pa.ArrowException as e:
                raise BadInput(f"{origin}: batch {n + 1}: {_first_line(e)}") from None
            n += 1
            if not _same_columns(batch.schema, schema):
                raise BadInput(f"{origin}: batch {n} does not match its schema: "
                               f"{describe_schema_difference(schema, batch.schema)}")
            check_arrays(batch, origin, rows)
            rows += batch.num_rows
            yield batch
    return gen


COALESCE_BYTES = 64 << 20


def known_rows(src: Source) -> int | None:
    """How many rows `src` yields, where that is known without reading them: Parquet files
    know it from their footers; other files only once read (None)."""
    import pyarrow.parquet as pq
    total = 0
    for f, fmt in src.files:
        if fmt != "parquet":
            return None
        try:
            total += pq.ParquetFile(f).metadata.num_rows
        except (OSError, pa.ArrowException):
            return None         # reading it will say what is wrong
    return total if src.files else None


def _rebatched(batches: Callable[[], Iterator[pa.RecordBatch]], batch_rows: int
               ) -> Callable[[], Iterator[pa.RecordBatch]]:
    """Batches of `batch_rows` rows whatever the source's chunking (the last one shorter,
    or one sooner at COALESCE_BYTES, far below 2 GiB of offsets): each batch has a fixed
    cost downstream, which a table of many tiny chunks must not pay per chunk. Tiny
    batches are joined, big ones sliced; memory stays bounded by one batch."""
    def gen() -> Iterator[pa.RecordBatch]:
        pending: list[pa.RecordBatch] = []
        rows = nbytes = 0
        for batch in batches():
            start = 0
            while start < batch.num_rows:
                piece = batch.slice(start, batch_rows - rows)
                start += piece.num_rows
                pending.append(piece)
                rows += piece.num_rows
                nbytes += piece.nbytes
                if rows >= batch_rows or nbytes >= COALESCE_BYTES:
                    yield from _joined(pending)
                    pending, rows, nbytes = [], 0, 0
        if pending:
            yield from _joined(pending)
    return gen


def _joined(batches: list[pa.RecordBatch]) -> list[pa.RecordBatch]:
    if len(batches) == 1:
        return batches
    try:
        return [pa.concat_batches(batches)]
    except (AttributeError, pa.ArrowInvalid, pa.ArrowTypeError):   # pyarrow < 19; unjoinable
        return batches


# the keys `load` adds to the schema metadata to say where rows came from
READ_KEYS = (b"dsreg.dataset", b"dsreg.commit", b"dsreg.split")


def without_pins(schema: pa.Schema) -> pa.Schema:
    """The schema without the `dsreg.*` metadata keys `load` adds to say where rows came
    from: they describe a read, not the data, so committing a loaded table back does not
    store them (and identical data stays `unchanged`). Other `dsreg.*` keys are reserved:
    refused rather than dropped without a word."""
    meta = schema.metadata
    if not meta or not any(k.startswith(b"dsreg.") for k in meta):
        return schema
    other = sorted(k for k in meta if k.startswith(b"dsreg.") and k not in READ_KEYS)
    if other:
        raise BadInput(f"schema metadata key {other[0].decode('utf-8', 'replace')!r} is reserved: keys starting "
                       "with 'dsreg.' describe where loaded rows came from", "rename the key")
    kept = {k: v for k, v in meta.items() if not k.startswith(b"dsreg.")}
    return schema.with_metadata(kept) if kept else schema.remove_metadata()


_READERS_READ: weakref.WeakSet[pa.RecordBatchReader] = weakref.WeakSet()


def _open_source(value: Any, batch_rows: int, block_bytes: int) -> Source:
    if isinstance(value, (str, os.PathLike)):
        return _open_paths([Path(value)], batch_rows, block_bytes)
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, (str, os.PathLike)) for v in value):
        return _open_paths([Path(v) for v in value], batch_rows, block_bytes)
    if isinstance(value, pa.Table):
        return Source(value.schema, lambda: iter(value.to_batches(max_chunksize=batch_rows)), ["<pyarrow.Table>"])
    if isinstance(value, pa.RecordBatch):
        return Source(value.schema, lambda: iter([value]), ["<pyarrow.RecordBatch>"])
    if isinstance(value, pa.RecordBatchReader):
        # claimed when opened: a commit opens every split's source before it reads any
        if value in _READERS_READ:
            raise BadInput("this RecordBatchReader was already read (by another split, or an earlier commit): "
                           "a reader gives its rows only once", "pass a new reader, or a Table")
        _READERS_READ.add(value)
        used: list[bool] = []

        def once():
            if used:
                raise BadInput("a RecordBatchReader can be read only once")
            used.append(True)
            return iter(value)
        return Source(value.schema, once, ["<pyarrow.RecordBatchReader>"])
    if type(value).__module__.startswith("pandas") and type(value).__name__ == "DataFrame":
        _check_frame_labels(value)
        # a named index is data (a key, a timestamp), kept as a column as pandas does;
        # an unnamed one is positions, left out
        named = any(n is not None for n in value.index.names)
        try:
            table = pa.Table.from_pandas(value, preserve_index=named)
        except (pa.ArrowException, ValueError) as e:   # (ArrowNotImplementedError: complex numbers)
            raise BadInput(f"cannot convert the DataFrame to Arrow: {_first_line(e)}") from None
        return Source(table.schema, lambda: iter(table.to_batches(max_chunksize=batch_rows)), ["<pandas.DataFrame>"])
    raise BadInput(f"cannot commit a {type(value).__name__}: give a path, a pyarrow Table or "
                   "RecordBatchReader, or a pandas DataFrame")


def _check_frame_labels(df) -> None:
    """Column labels Arrow would turn into other names (a MultiIndex's tuples, None as
    'nan', timestamps) or into the same name twice: refused, not renamed silently."""
    labels = list(df.columns)
    for i, label in enumerate(labels):
        if isinstance(label, bool) or not isinstance(label, (str, int)):
            raise BadInput(f"DataFrame column {i} is labelled {label!r} ({type(label).__name__}): column labels "
                           "must be strings", "rename the columns, e.g. df.columns = ['_'.join(map(str, c)) "
                           "for c in df.columns] for a MultiIndex")
    names = [str(label) for label in labels]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise BadInput(f"the DataFrame has duplicate column label(s) {', '.join(dupes)}")


def list_files(path: Path) -> list[Path]:
    if path.is_dir():
        files = sorted(p for p in path.rglob("*")
                       if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts))
        if not files:
            raise BadInput(f"folder {path} holds no data files")
        for f in files:
            _format_of(f)
        return files
    if path.is_file():
        _format_of(path)
        return [path]
    if path.exists():       # a FIFO, a socket, a device: reading could block or never end
        raise BadInput(f"{path} is not a regular file or folder", "write the data to a file first")
    raise BadInput(f"no such file or folder: {path}")


def _format_of(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise BadInput(f"{path}: unknown file type {path.suffix or '(none)'!r}",
                       f"use one of {', '.join(sorted(set(FORMATS)))}")
    return fmt


def _open_paths(paths: list[Path], batch_rows: int, block_bytes: int) -> Source:
    files = [f for p in paths for f in list_files(p)]
    first_schema = None
    schemas = []
    for f in files:
        schema = _file_schema(f, first_schema, block_bytes)
        if first_schema is None:
            first_schema = schema
        elif not _same_columns(first_schema, schema):
            raise SchemaMismatch(f"{f} does not match {files[0]}: {describe_schema_difference(first_schema, schema)}",
                                 "files of one split must share a schema")
        schemas.append(schema)
    assert first_schema is not None

    def batches() -> Iterator[pa.RecordBatch]:
        for f in files:
            for batch in _read_file(f, first_schema, batch_rows, block_bytes):
                yield batch if batch.schema.equals(first_schema) else _cast_batch(batch, first_schema, f)
    return Source(first_schema, batches, [str(f) for f in files], [(f, _format_of(f)) for f in files])


def _same_columns(a: pa.Schema, b: pa.Schema) -> bool:
    return [(f.name, f.type) for f in a] == [(f.name, f.type) for f in b]


def _cast_batch(batch: pa.RecordBatch, schema: pa.Schema, f: Path) -> pa.RecordBatch:
    try:
        return pa.RecordBatch.from_arrays(batch.columns, schema=schema)
    except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError) as e:
        raise SchemaMismatch(f"{f}: {e}") from None


def describe_schema_difference(a: pa.Schema, b: pa.Schema) -> str:
    an, bn = a.names, b.names
    parts = []
    missing = [n for n in an if n not in bn]
    extra = [n for n in bn if n not in an]
    if missing:
        parts.append("missing column(s) " + ", ".join(missing))
    if extra:
        parts.append("extra column(s) " + ", ".join(extra))
    for f in a:
        if f.name in bn and b.field(f.name).type != f.type:
            parts.append(f"column {f.name} is {b.field(f.name).type}, expected {f.type}")
    if not parts and an != bn:
        parts.append("columns are in a different order")
    return "; ".join(parts) or "schemas differ"


def _file_schema(f: Path, like: pa.Schema | None, block_bytes: int) -> pa.Schema:
    schema = _read_schema(f, like, block_bytes)
    names_are_text(schema, str(f))
    return schema


def names_are_text(schema: pa.Schema, where: str) -> None:
    """Refuse column and field names that are not UTF-8 (a CSV header, JSON keys, Arrow
    and Parquet field names are bytes): no Python string can name them."""
    try:
        _all_names(schema)
    except UnicodeDecodeError:
        raise BadInput(f"{where}: a column or field name is not valid UTF-8", "fix the encoding of the names") from None


def _all_names(schema: pa.Schema) -> list[str]:
    """Every column and nested field name (pyarrow decodes each as it is read); a loop, not
    recursion: types may nest thousands deep."""
    out = list(schema.names)
    stack = [fl.type for fl in schema]
    while stack:
        t = stack.pop()
        for i in range(t.num_fields):
            field = t.field(i)
            out.append(field.name)
            stack.append(field.type)
    return out


def _read_schema(f: Path, like: pa.Schema | None, block_bytes: int) -> pa.Schema:
    fmt = _format_of(f)
    try:
        if fmt == "parquet":
            from dsreg.rows.parquetinput import open_parquet
            return open_parquet(f).schema_arrow
        if fmt == "arrow":
            with _open_ipc(f) as reader:
                return reader.schema
        if fmt == "jsonl":
            check_json_depth(f)     # Arrow's reader would crash on it, whatever block it is in
        # CSV and JSON: infer from the first block, as the reader will
        return _text_schema(f, fmt, like, block_bytes)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError, UnicodeDecodeError) as e:
        if fmt in ("csv", "tsv"):     # broken quoting explains it better than Arrow's message
            from dsreg.rows.csvquotes import check_quoting
            check_quoting(f, "\t" if fmt == "tsv" else ",")
        raise BadInput(f"{f}: cannot read it as {fmt.upper()}: {_first_line(e)}") from None


def _first_line(e: Exception) -> str:
    line = (str(e).strip().splitlines() or [type(e).__name__])[0]
    # Arrow quotes whole values in its messages: a 40 MiB field makes a 40 MiB line
    return line if len(line) <= 300 else line[:300] + "..."


class _ClosingReader:
    def __init__(self, reader, closer=None):
        self.reader, self.closer = reader, closer

    @property
    def schema(self):
        return self.reader.schema

    def __iter__(self):
        return iter(self.reader)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.closer:
            self.closer()
        return False


def _open_ipc(f: Path) -> _ClosingReader:
    src = pa.memory_map(str(f), "r")
    try:
        return _IpcFile(pa.ipc.open_file(src), src.close)
    except pa.ArrowInvalid:
        src.seek(0)
        return _ClosingReader(pa.ipc.open_stream(src), src.close)


class _IpcFile(_ClosingReader):
    def __iter__(self):
        for i in range(self.reader.num_record_batches):
            yield self.reader.get_batch(i)


def _text_reader(f: Path, fmt: str, like: pa.Schema | None, block: int) -> _ClosingReader:
    if fmt in ("csv", "tsv"):
        import pyarrow.csv as pcsv
        convert = pcsv.ConvertOptions(column_types={fl.name: fl.type for fl in like}) if like is not None else None
        reader = pcsv.open_csv(f, read_options=pcsv.ReadOptions(block_size=block),
                               parse_options=csv_parse_options(fmt), convert_options=convert)
        return _ClosingReader(reader, reader.close)
    import pyarrow.json as pjson
    parse = pjson.ParseOptions(explicit_schema=like) if like is not None else None
    reader = pjson.open_json(f, read_options=pjson.ReadOptions(block_size=block), parse_options=parse)
    return _ClosingReader(reader, reader.close)


MAX_BLOCK_BYTES = 1 << 30


def _straddles(e: Exception) -> bool:
    return isinstance(e, pa.ArrowInvalid) and "straddl" in str(e)


def _row_too_long(f: Path) -> BadInput:
    return BadInput(f"{f}: a row is longer than {MAX_BLOCK_BYTES >> 20} MiB, more than dsreg reads at once",
                    "split the value, or convert the file to Parquet")


def _text_schema(f: Path, fmt: str, like: pa.Schema | None, block: int) -> pa.Schema:
    while True:
        try:
            with _text_reader(f, fmt, like, block) as reader:
                return reader.schema
        except pa.ArrowInvalid as e:
            if not _straddles(e):
                raise
            if block >= MAX_BLOCK_BYTES:
                raise _row_too_long(f) from None
            block *= 4


def _text_batches(f: Path, fmt: str, like: pa.Schema, block: int,
                  before_growing: Callable[[], None] | None = None) -> Iterator[pa.RecordBatch]:
    """The file's batches; when a row is longer than a block (Arrow: "straddles two block
    boundaries"), read again with blocks four times larger, past the rows already given
    (`before_growing` first: a quote never closed makes the rest of a file one row)."""
    done = 0
    while True:
        try:
            with _text_reader(f, fmt, like, block) as reader:
                skip = done
                for batch in reader:
                    if skip >= batch.num_rows:
                        skip -= batch.num_rows
                        continue
                    batch, skip = batch.slice(skip), 0
                    done += batch.num_rows
                    yield batch
            return
        except pa.ArrowInvalid as e:
            if not _straddles(e):
                raise
            if block >= MAX_BLOCK_BYTES:
                raise _row_too_long(f) from None
            if before_growing is not None:
                before_growing()
            block *= 4


def _arrow_batches(f: Path) -> Iterator[pa.RecordBatch]:
    with _open_ipc(f) as reader:
        yield from reader


def _read_file(f: Path, like: pa.Schema, batch_rows: int, block_bytes: int) -> Iterator[pa.RecordBatch]:
    from dsreg.rows.inputchecks import BigIntegers, check_arrays
    fmt = _format_of(f)
    rows = 0
    big = BigIntegers(f, fmt, like) if fmt in ("csv", "tsv", "jsonl") else None
    try:
        for batch in _file_batches(f, fmt, like, batch_rows, block_bytes):
            if fmt not in ("csv", "tsv"):       # Arrow's CSV reader checks UTF-8 itself
                check_arrays(batch, str(f), rows)
            if big is not None:
                big.check(batch)
            rows += batch.num_rows
            yield batch
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError, UnicodeDecodeError) as e:
        raise BadInput(f"{f}: cannot read it as {fmt.upper()} after row {rows}: {_first_line(e)}",
                       "fix the file, or convert it to Parquet") from None


def _file_batches(f: Path, fmt: str, like: pa.Schema, batch_rows: int, block_bytes: int) -> Iterator[pa.RecordBatch]:
    if fmt == "parquet":
        from dsreg.rows.parquetinput import open_parquet
        yield from open_parquet(f).iter_batches(batch_size=batch_rows)
        return
    if fmt in ("csv", "tsv"):
        # quoting is checked while Arrow reads (it takes malformed quoting silently); a
        # malformed file is refused at its end, or as soon as Arrow gives up on it
        from dsreg.rows.csvquotes import QuotingCheck
        quoting = QuotingCheck(f, "\t" if fmt == "tsv" else ",")
        try:
            yield from _text_batches(f, fmt, like, block_bytes, quoting.finish)
        except (pa.ArrowInvalid, BadInput):
            quoting.finish()
            raise
        quoting.finish()
        return
    yield from _arrow_batches(f) if fmt == "arrow" else _text_batches(f, fmt, like, block_bytes)


def check_schema(schema: pa.Schema, where: str) -> None:
    """Refuse what cannot round-trip: no columns, duplicate or empty names, types Parquet lacks."""
    if len(schema) == 0:
        raise BadInput(f"{where}: the table has no columns")
    names_are_text(schema, where)
    names = schema.names
    if any(n == "" for n in names):
        raise BadInput(f"{where}: a column has an empty name")
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise BadInput(f"{where}: duplicate column name(s) {', '.join(dupes)}")
    for fl in schema:
        _check_depth(fl.type, f"{where}: column {fl.name}")
        _check_type(fl.type, f"{where}: column {fl.name}")
        if _null_field_in_listed_struct(fl.type):
            raise UnsupportedType(f"{where}: column {fl.name} has type {fl.type}: a struct field of type null "
                                  "inside a list, which pyarrow reads back from Parquet broken",
                                  "give the field a real type (cast it), or drop it")


def _check_depth(t: pa.DataType, where: str) -> None:
    # before anything recursive meets the type: a struct 2,000 deep would exhaust the stack
    if parquet_depth(t) > PARQUET_MAX_DEPTH:
        raise UnsupportedType(f"{where} nests too deeply: Parquet reads at most {PARQUET_MAX_DEPTH} levels "
                              "(a struct takes one, a list or map two)", "flatten the column first")


def _check_type(t: pa.DataType, where: str) -> None:
    if pa.types.is_union(t) or pa.types.is_interval(t):
        raise UnsupportedType(f"{where} has type {t}, which Parquet cannot store",
                              "cast it to a supported type first")
    if pa.types.is_decimal(t) and not 0 <= t.scale <= t.precision:
        raise UnsupportedType(f"{where} has type {t}, whose scale Parquet cannot store "
                              "(it must be between 0 and the precision)", "rescale the column first")
    if pa.types.is_list_view(t) or pa.types.is_large_list_view(t):
        # Parquet has no list-view layout, and pyarrow cannot yet convert it reliably
        # (its list_view -> list cast builds invalid offsets; no cast to dictionaries)
        raise UnsupportedType(f"{where} has type {t}, which dsreg cannot store yet",
                              "convert it to a list or large_list column first")
    _check_readable_back(t, where)
    if pa.types.is_struct(t):
        if t.num_fields == 0:
            raise UnsupportedType(f"{where} is a struct with no fields, which Parquet cannot store")
        for fl in t:
            _check_type(fl.type, where)
    elif pa.types.is_map(t):
        _check_type(t.key_type, where)
        _check_type(t.item_type, where)
    elif hasattr(t, "value_type") and not pa.types.is_dictionary(t):
        _check_type(t.value_type, where)


def _check_readable_back(t: pa.DataType, where: str) -> None:
    """Refuse types Parquet and pyarrow would take at commit but not give back: such a
    version would commit fine and then fail every load and checkout."""
    why = None
    if isinstance(t, pa.BaseExtensionType):
        why = "an extension type"
    elif pa.types.is_run_end_encoded(t):
        why = "run-end encoded, which Parquet has no layout for"
    elif pa.types.is_dictionary(t):
        v = t.value_type
        if pa.types.is_string_view(v) or pa.types.is_binary_view(v):
            why = "a dictionary of views, which the Parquet writer cannot write"
        elif pa.types.is_nested(v) or pa.types.is_null(v) or pa.types.is_dictionary(v):
            why = "a dictionary of nested or null values, which Parquet cannot store"
    elif pa.types.is_fixed_size_list(t) and t.list_size == 0:
        why = "a fixed-size list of size 0, which pyarrow cannot read back from Parquet"
    elif pa.types.is_fixed_size_list(t) and pa.types.is_null(t.value_type):
        why = "a fixed-size list of nulls, which pyarrow reads back broken"
    elif pa.types.is_fixed_size_binary(t) and t.byte_width == 0:
        why = "a fixed-size binary of width 0, which Parquet cannot store"
    if why:
        raise UnsupportedType(f"{where} has type {t}: {why}",
                              "cast it to a plain type first (a list, a string, the dictionary's value type)")


def _null_field_in_listed_struct(t: pa.DataType, listed: bool = False) -> bool:
    if pa.types.is_struct(t):
        return any((listed and pa.types.is_null(f.type)) or _null_field_in_listed_struct(f.type, listed) for f in t)
    if pa.types.is_map(t):
        return _null_field_in_listed_struct(t.key_type, True) or _null_field_in_listed_struct(t.item_type, True)
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t) or \
            pa.types.is_list_view(t) or pa.types.is_large_list_view(t):
        return _null_field_in_listed_struct(t.value_type, True)
    return False
