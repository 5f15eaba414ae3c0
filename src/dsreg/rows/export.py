"""Writing a split out as files (`dsreg checkout`)."""
from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa

from dsreg.errors import DsregError
from dsreg.model.serialize import Snapshot
from dsreg.progress import Progress
from dsreg.rows.snapshots import iter_snapshot
from dsreg.store import ObjectStore

ROWS_PER_FILE = 1 << 20


def check_folders(folders: Iterable[Path]) -> None:
    """Refuse, before anything is written, any output folder that is not new or empty."""
    for folder in map(Path, folders):
        if folder.is_dir():
            if any(folder.iterdir()):
                raise DsregError(f"{folder} is not empty", "choose an empty or new output folder")
            continue
        # the folder itself, or the first ancestor that exists, must be a folder
        there = next((p for p in (folder, *folder.parents) if p.exists() or p.is_symlink()), None)
        if there is not None and not there.is_dir():
            raise DsregError(f"{there} is not a folder", "choose an empty or new output folder")


@contextmanager
def all_or_nothing(folders: Iterable[Path]) -> Iterator[None]:
    """Writes into `folders` (checked new or empty) either all complete or leave nothing behind.

    On failure, the folders (and parents) this created are removed, and those that existed
    (empty) are emptied again.
    """
    folders = [Path(f) for f in folders]
    check_folders(folders)
    created: list[Path] = []       # the outermost folder each write will create
    existed: list[Path] = []
    for folder in folders:
        if folder.is_dir():
            existed.append(folder)
        else:
            top = folder
            while not top.parent.exists() and top.parent != top:
                top = top.parent
            created.append(top)
    try:
        yield
    except BaseException as e:
        _undo(created, existed)
        if isinstance(e, OSError) and e.filename and _inside(Path(e.filename), folders + created):
            raise DsregError(f"cannot write {e.filename}: {e.strerror or e}") from e
        raise


def _inside(path: Path, folders: list[Path]) -> bool:
    return any(path == f or f in path.parents for f in folders)


def _undo(created: list[Path], existed: list[Path]) -> None:
    for top in created:
        shutil.rmtree(top, ignore_errors=True)
    for folder in existed:
        if not folder.is_dir():
            continue
        for child in folder.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)


def write_split(store: ObjectStore, snap: Snapshot, folder: Path, fmt: str, progress: Progress) -> list[Path]:
    """Write the split as `part-00000.<fmt>`, ... in `folder` (created; must be empty)."""
    folder = Path(folder)
    check_folders([folder])
    folder.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    writer = None
    rows_in_file = done = 0
    try:
        for table in iter_snapshot(store, snap):
            if writer is None or rows_in_file >= ROWS_PER_FILE:
                if writer is not None:
                    writer.close()
                path = folder / f"part-{len(files):05d}.{fmt}"
                files.append(path)
                writer = _writer(path, table.schema, fmt, done)
                rows_in_file = 0
            writer.write(table)
            rows_in_file += table.num_rows
            done += table.num_rows
            progress.advance(table.num_rows)
        if writer is None:   # an empty split still gets a file holding its schema
            path = folder / f"part-00000.{fmt}"
            files.append(path)
            writer = _writer(path, snap.schema, fmt)
    finally:
        if writer is not None:
            writer.close()
    return files


def _writer(path: Path, schema: pa.Schema, fmt: str, first_row: int = 0):
    if fmt == "parquet":
        import pyarrow.parquet as pq
        return pq.ParquetWriter(path, schema, compression="zstd")
    # text formats refuse what would not commit back to the same values (textformats.py)
    from dsreg.rows.textformats import CsvWriter, JsonLinesWriter
    return (CsvWriter if fmt == "csv" else JsonLinesWriter)(path, schema, first_row)


__all__ = ["write_split", "check_folders", "all_or_nothing", "os"]
