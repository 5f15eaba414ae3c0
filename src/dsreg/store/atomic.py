"""Writing a file so that a reader, or a crash, sees the old file or the new one, whole.

The one way dsreg replaces a file: write a temporary file in the same folder (a rename
cannot cross filesystems), fsync it, rename it over the target, then fsync the folder, so
that the rename itself survives a power cut (and fsync every folder made on the way, so
that it does too). Temporary files are named `.tmp-*` wherever they are: fsck lists those a
killed process left behind, and gc removes them once they are old.
"""
from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from dsreg.faults import crashpoint

TEMP_PREFIX = ".tmp-"


def fsync_dir(path: str | os.PathLike) -> None:
    """Make the entries of folder `path` (a rename, a new file, a new subfolder) durable."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass            # some filesystems refuse fsync on a folder; nothing more to do there
    finally:
        os.close(fd)


def fsync_file(path: str | os.PathLike) -> None:
    """Make a file's bytes durable (one written by someone else, e.g. SQLite)."""
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def make_dirs(folder: Path) -> list[Path]:
    """Make `folder` and its missing parents; return the folders whose listing changed
    (the parent of each folder made), deepest first, for the caller to fsync."""
    missing = []
    p = folder
    while not p.is_dir():
        missing.append(p)
        if p.parent == p:
            break
        p = p.parent
    if missing:
        folder.mkdir(parents=True, exist_ok=True)
    return [m.parent for m in missing]


def write_temp(folder: Path, data: bytes | Callable[[BinaryIO], object], *, prefix: str = TEMP_PREFIX,
               mode: int = 0o600) -> Path:
    """A new file in `folder` holding `data` (or what `data(file)` writes), fsynced: the first
    half of an atomic write. Nothing is left behind if writing fails. `mode` is filtered by
    the umask; the default keeps the file private, as `tempfile.mkstemp` does."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    while True:
        tmp = folder / f"{prefix}{secrets.token_hex(8)}"
        try:
            fd = os.open(tmp, flags, mode)
            break
        except FileExistsError:
            continue
    try:
        with os.fdopen(fd, "wb") as f:
            data(f) if callable(data) else f.write(data)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def write_atomic(path: str | os.PathLike, data: bytes | Callable[[BinaryIO], object], *, mode: int = 0o600,
                 before_rename: str | None = None) -> None:
    """Replace (or create) `path` with `data`, atomically and durably (see the module).
    `before_rename` names the crash point between the fsynced temp file and the rename
    (tests/test_crash.py kills processes there)."""
    path = Path(path)
    made = make_dirs(path.parent)
    tmp = write_temp(path.parent, data, mode=mode)
    try:
        if before_rename is not None:
            crashpoint(before_rename)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    for folder in [path.parent, *made]:
        fsync_dir(folder)


def copy_atomic(src: str | os.PathLike, dst: str | os.PathLike, *, mode: int = 0o600) -> None:
    """Copy file `src` to `dst` atomically and durably, streaming (it may be large)."""
    with open(src, "rb") as source:
        write_atomic(dst, lambda f: shutil.copyfileobj(source, f, 1 << 20), mode=mode)


def rename_atomic(src: str | os.PathLike, dst: str | os.PathLike) -> None:
    """Rename a complete, fsynced file over `dst` in the same folder, durably."""
    os.replace(src, dst)
    fsync_dir(Path(dst).parent)


__all__ = ["TEMP_PREFIX", "fsync_dir", "fsync_file", "make_dirs", "write_temp", "write_atomic", "copy_atomic",
           "rename_atomic"]
