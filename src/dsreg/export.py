"""Writing a split out as files (`dsreg checkout`)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pyarrow as pa

from .errors import DsregError
from .progress import Progress
from .serialize import Snapshot
from .snapshots import iter_snapshot
from .store import ObjectStore

ROWS_PER_FILE = 1 << 20


def write_split(store: ObjectStore, snap: Snapshot, folder: Path, fmt: str, progress: Progress) -> list[Path]:
    """Write the split as `part-00000.<fmt>`, ... in `folder` (created; must be empty)."""
    folder = Path(folder)
    if folder.exists() and any(folder.iterdir()):
        raise DsregError(f"{folder} is not empty", "choose an empty or new output folder")
    folder.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    writer = None
    rows_in_file = 0
    try:
        for table in iter_snapshot(store, snap):
            if writer is None or rows_in_file >= ROWS_PER_FILE:
                if writer is not None:
                    writer.close()
                path = folder / f"part-{len(files):05d}.{fmt}"
                files.append(path)
                writer = _writer(path, table.schema, fmt)
                rows_in_file = 0
            writer.write(table)
            rows_in_file += table.num_rows
            progress.advance(table.num_rows)
        if writer is None:   # an empty split still gets a file holding its schema
            path = folder / f"part-00000.{fmt}"
            files.append(path)
            writer = _writer(path, snap.schema, fmt)
    finally:
        if writer is not None:
            writer.close()
    return files


def _writer(path: Path, schema: pa.Schema, fmt: str):
    if fmt == "parquet":
        import pyarrow.parquet as pq
        return pq.ParquetWriter(path, schema, compression="zstd")
    if fmt == "csv":
        import pyarrow.csv as pcsv
        return pcsv.CSVWriter(path, schema)
    return _JsonLinesWriter(path)


class _JsonLinesWriter:
    def __init__(self, path: Path):
        self.f = open(path, "w", encoding="utf-8")

    def write(self, table: pa.Table) -> None:
        from .jsonvalues import to_jsonable
        for row in table.to_pylist():
            self.f.write(json.dumps({k: to_jsonable(v) for k, v in row.items()}, ensure_ascii=False))
            self.f.write("\n")

    def close(self) -> None:
        self.f.close()


__all__ = ["write_split", "os"]
