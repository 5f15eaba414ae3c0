"""The input cache: re-committing byte-identical files reads no rows.

A split committed from files gets a digest of its input: xxh3-128 over what decides the
table reading them yields (the reader's version and options, then each file's format,
length and bytes, in reading order). Names and places do not count, except through the
format a suffix selects and the order a path sorts in, so a moved folder still hits.

The manifest keeps, per digest, each snapshot a commit of those bytes produced. A commit
takes the shortcut only when one of them is the very snapshot the base version already has
for the same split: a full re-commit would then match every row onto it, row for row, and
produce that snapshot again (same runs, same id), so the shortcut changes nothing but time.
The cache is local and never pushed; entries go with their snapshots (gc).
"""
from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

from dsreg.ids import ObjectId, new_hasher
from dsreg.model.serialize import Commit, Snapshot, decode_snapshot
from dsreg.progress import NO_PROGRESS, Progress
from dsreg.rows.ingest import INGEST_VERSION, Source

if TYPE_CHECKING:
    from dsreg.registry import Registry

HASH_BLOCK_BYTES = 4 << 20


def _stat(path: Path) -> tuple[int, int, int, int]:
    st = os.stat(path)
    return st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev


@dataclass(frozen=True)
class InputDigest:
    digest: str
    files: tuple[tuple[Path, tuple[int, int, int, int]], ...]     # each file as it was hashed

    def still_current(self) -> bool:
        """No file changed since it was hashed (a file rewritten while a commit read it
        must not have its new rows recorded under its old bytes' digest)."""
        try:
            return all(_stat(f) == st for f, st in self.files)
        except OSError:
            return False


def _reading_key(src: Source) -> bytes:
    """Everything besides the bytes that decides what reading yields."""
    from dsreg.rows.fingerprint import SCHEME
    from dsreg.version import __version__
    return json.dumps({"ingest": INGEST_VERSION, "dsreg": __version__, "pyarrow": pa.__version__,
                       "fingerprints": SCHEME, "batch_rows": src.batch_rows, "text_block_bytes": src.text_block_bytes},
                      sort_keys=True).encode()


def input_digest(src: Source, label: str = "hash", progress: Progress = NO_PROGRESS) -> InputDigest | None:
    """The digest of a source's files, streamed in blocks; None for a source that is not
    files, or when a file changed while it was hashed."""
    if not src.files:
        return None
    before = [(f, _stat(f)) for f, _ in src.files]
    h = new_hasher()
    h.update(_reading_key(src))
    buf = bytearray(HASH_BLOCK_BYTES)
    view = memoryview(buf)
    progress.start(label, sum(st[0] for _, st in before), unit="bytes")
    try:
        for (f, fmt), (_, st) in zip(src.files, before):
            h.update(f"\0{fmt}\0{st[0]}\0".encode())
            read = 0
            with open(f, "rb") as fh:
                while n := fh.readinto(buf):
                    h.update(view[:n])
                    read += n
                    progress.advance(n)
            if read != st[0]:
                return None
    finally:
        progress.finish()
    digest = InputDigest(h.hexdigest(), tuple(before))
    return digest if digest.still_current() else None


def cached_snapshot(reg: Registry, digest: InputDigest | None, base: Commit | None, split: str,
                    schema: pa.Schema) -> tuple[str, Snapshot] | None:
    """The base's snapshot of `split`, if these exact bytes are known to produce it."""
    if digest is None or base is None or split not in base.splits:
        return None
    sid = base.splits[split]
    if not reg.manifest.has_input_snapshot(digest.digest, sid):
        return None
    snap = decode_snapshot(reg.store.get(ObjectId(sid)))
    # the schema the files read as is the one the snapshot records, metadata included
    if snap.schema_ipc != schema.serialize().to_pybytes():
        return None
    return sid, snap


def record(reg: Registry, entries: Sequence[tuple[InputDigest, str]]) -> None:
    """Remember which snapshot each digest produced; inside the caller's transaction."""
    for digest, sid in entries:
        if digest.still_current():
            reg.manifest.add_input_snapshot(digest.digest, sid)
