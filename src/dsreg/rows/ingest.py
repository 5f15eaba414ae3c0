"""Sources of rows: files, folders, Arrow tables and readers, pandas DataFrames.

Every source becomes a schema and a stream of record batches, so a dataset larger than
memory is never loaded whole. Files of one split must share a schema; the error names the
first file that differs and how.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import pyarrow as pa

from dsreg.errors import BadInput, SchemaMismatch, UnsupportedType

# defaults of open_source's batch_rows and text_block_bytes
BATCH_ROWS = int(os.environ.get("DSREG_BATCH_ROWS", "65536"))
CSV_BLOCK_BYTES = 16 << 20
# Part of every input digest (inputcache.py): bump it whenever what reading files yields
# changes (another reader, other options, other type inference), so that files committed
# before are read again rather than taken for the snapshot they gave then.
INGEST_VERSION = "1"
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
    src.batches = _rebatched(src.batches, batch_rows)
    src.batch_rows, src.text_block_bytes = batch_rows, text_block_bytes
    return src


COALESCE_BYTES = 64 << 20


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


def without_pins(schema: pa.Schema) -> pa.Schema:
    """The schema without the `dsreg.*` metadata keys `load` adds to say where rows came
    from: they describe a read, not the data, so committing a loaded table back does not
    store them (and identical data stays `unchanged`)."""
    meta = schema.metadata
    if not meta or not any(k.startswith(b"dsreg.") for k in meta):
        return schema
    kept = {k: v for k, v in meta.items() if not k.startswith(b"dsreg.")}
    return schema.with_metadata(kept) if kept else schema.remove_metadata()


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
        used: list[bool] = []

        def once():
            if used:
                raise BadInput("a RecordBatchReader can be read only once")
            used.append(True)
            return iter(value)
        return Source(value.schema, once, ["<pyarrow.RecordBatchReader>"])
    if type(value).__module__.startswith("pandas") and type(value).__name__ == "DataFrame":
        try:
            table = pa.Table.from_pandas(value, preserve_index=False)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
            raise BadInput(f"cannot convert the DataFrame to Arrow: {e}") from None
        return Source(table.schema, lambda: iter(table.to_batches(max_chunksize=batch_rows)), ["<pandas.DataFrame>"])
    raise BadInput(f"cannot commit a {type(value).__name__}: give a path, a pyarrow Table or "
                   "RecordBatchReader, or a pandas DataFrame")


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
    fmt = _format_of(f)
    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq
            return pq.read_schema(f)
        if fmt == "arrow":
            with _open_ipc(f) as reader:
                return reader.schema
        # CSV and JSON: infer from the first block, as the reader will
        with _text_reader(f, fmt, like, block_bytes) as reader:
            return reader.schema
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError, UnicodeDecodeError) as e:
        raise BadInput(f"{f}: cannot read it as {fmt.upper()}: {_first_line(e)}") from None


def _first_line(e: Exception) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0]


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


def _text_reader(f: Path, fmt: str, like: pa.Schema | None, block_bytes: int) -> _ClosingReader:
    if fmt in ("csv", "tsv"):
        import pyarrow.csv as pcsv
        convert = pcsv.ConvertOptions(column_types={fl.name: fl.type for fl in like}) if like is not None else None
        parse = pcsv.ParseOptions(delimiter="\t" if fmt == "tsv" else ",")
        reader = pcsv.open_csv(f, read_options=pcsv.ReadOptions(block_size=block_bytes),
                               parse_options=parse, convert_options=convert)
        return _ClosingReader(reader, reader.close)
    import pyarrow.json as pjson
    parse = pjson.ParseOptions(explicit_schema=like) if like is not None else None
    reader = pjson.open_json(f, read_options=pjson.ReadOptions(block_size=block_bytes), parse_options=parse)
    return _ClosingReader(reader, reader.close)


def _read_file(f: Path, like: pa.Schema, batch_rows: int, block_bytes: int) -> Iterator[pa.RecordBatch]:
    fmt = _format_of(f)
    rows = 0
    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq
            # no pre-buffering: it keeps every column chunk it read ahead until the file
            # is done, so memory grew with the file (1 GB per 4M rows)
            pf = pq.ParquetFile(f, pre_buffer=False)
            for batch in pf.iter_batches(batch_size=batch_rows):
                rows += batch.num_rows
                yield batch
            return
        opener = _open_ipc(f) if fmt == "arrow" else _text_reader(f, fmt, like, block_bytes)
        with opener as reader:
            for batch in reader:
                rows += batch.num_rows
                yield batch
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError, UnicodeDecodeError) as e:
        raise BadInput(f"{f}: cannot read it as {fmt.upper()} after row {rows}: {_first_line(e)}",
                       "fix the file, or convert it to Parquet") from None


def check_schema(schema: pa.Schema, where: str) -> None:
    """Refuse what cannot round-trip: no columns, duplicate or empty names, types Parquet lacks."""
    if len(schema) == 0:
        raise BadInput(f"{where}: the table has no columns")
    names = schema.names
    if any(n == "" for n in names):
        raise BadInput(f"{where}: a column has an empty name")
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise BadInput(f"{where}: duplicate column name(s) {', '.join(dupes)}")
    for fl in schema:
        _check_type(fl.type, f"{where}: column {fl.name}")


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
