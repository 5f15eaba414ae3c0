"""Leftovers of interrupted writes: what they are, and removing the stale ones."""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from dsreg.store.atomic import TEMP_PREFIX

if TYPE_CHECKING:
    from dsreg.registry import Registry

REBUILD_TEMP = "manifest.sqlite.rebuild"   # a new manifest being built (rebuild.py)


def stray_temp_files(reg: Registry) -> list[Path]:
    """Leftovers of interrupted writes: the object store's (`.tmp-*` in its fan-out
    folders), `.tmp-*` in `.dsreg` (config, manifest backups), anything in `.dsreg/tmp`,
    and the new manifest of an interrupted `fsck --rebuild`."""
    out: list[Path] = list(reg.store.leftovers())
    if reg.dir.is_dir():
        out.extend(sorted(p for p in reg.dir.iterdir() if p.name.startswith(TEMP_PREFIX)))
    tmp = reg.dir / "tmp"
    if tmp.is_dir():
        out.extend(sorted(tmp.iterdir()))
    out.extend(p for p in (reg.dir / (REBUILD_TEMP + s) for s in ("", "-wal", "-shm", "-journal")) if p.is_file())
    return out


def clean_temp(reg: Registry, cutoff: float, dry_run: bool) -> tuple[int, int]:
    """Remove the leftovers older than `cutoff` that no commit is using: (files, bytes)."""
    from dsreg.store.staged import in_use
    count = nbytes = 0
    for p in stray_temp_files(reg):
        try:
            newest, size = _tree_stat(p)
        except FileNotFoundError:
            continue
        if newest > cutoff or in_use(p):     # possibly a write still in progress; surely a commit's
            continue
        if not dry_run:
            try:
                shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
            except FileNotFoundError:
                continue
        count += 1
        nbytes += size
    return count, nbytes


def _tree_stat(p: Path) -> tuple[float, int]:
    """(newest mtime, total bytes of files) of a file or a folder tree."""
    st = p.lstat()
    if not p.is_dir() or p.is_symlink():
        return st.st_mtime, st.st_size
    newest, size = st.st_mtime, 0
    for dirpath, dirs, files in os.walk(p):
        for name in [*dirs, *files]:
            try:
                s = os.lstat(os.path.join(dirpath, name))
            except FileNotFoundError:
                continue
            newest = max(newest, s.st_mtime)
            size += s.st_size if name in files else 0
    return newest, size


__all__ = ["REBUILD_TEMP", "stray_temp_files", "clean_temp"]
