"""Rebuilding the manifest from the objects: `dsreg fsck --rebuild`.

The manifest is an index (DESIGN.md, storage model 8). Everything in it that describes
versions comes back from the objects, each verified against its id as it is read:
datasets, commits and their parents, snapshots, and shards with their rows, bytes and
fingerprint objects. A corrupt or malformed object is reported and left out. A shard that
is absent or corrupt here is described as the snapshots naming it say, as for a clone
that has not downloaded it yet, so `fsck --repair` or a pull can still put it back.

What no object records is kept from the old manifest when it still reads: refs and the
reflog, remotes, remote-tracking refs and what each remote is known to hold; a ref only
if its commit object is in the store. A dataset left with no ref at all (the old manifest
was lost or unreadable) gets its heads back as branches, like git's lost-found: `main` on
the newest head and, when there are several, also `recovered-<12 hex>` on each one, so
every head keeps a name if `main` is moved. Tags and remotes are not in any object: they
come back only from a readable old manifest. Caches (column statistics, row changes, the
input cache) start empty; a card recomputes what it needs, as it does for a clone.

The new manifest is written beside the old one (`manifest.sqlite.rebuild`) and renamed
over it; the old one is copied to `manifest.sqlite.bak-<time>` first. Killed anywhere,
the registry holds the old manifest or the new one, whole; a leftover temp file is
ignored (fsck notes it, gc removes it, the next rebuild starts afresh). Run it while no
other dsreg command uses the registry: what another process records meanwhile goes to
the old manifest only.
"""
from __future__ import annotations

import json
import os
import sqlite3
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.request import pathname2url

from dsreg.errors import ChecksumMismatch, CorruptObject, DsregError, ObjectMissing, RegistryReadOnly
from dsreg.faults import crashpoint
from dsreg.ids import CommitId, ObjectId, is_object_id
from dsreg.maintenance.fsck import FsckResult, fsck
from dsreg.maintenance.reach import read_local
from dsreg.maintenance.temp import REBUILD_TEMP
from dsreg.manifest.database import Manifest
from dsreg.model.serialize import (
    COMMIT_FORMAT,
    FINGERPRINTS_MAGIC,
    SNAPSHOT_MAGICS,
    Commit,
    ShardRef,
    decode_commit,
    decode_fingerprints,
    decode_snapshot,
    fingerprints_size,
)
from dsreg.progress import NO_PROGRESS, Progress
from dsreg.rows.shards import INDEX_FORMAT
from dsreg.store.atomic import copy_atomic, fsync_dir, fsync_file, rename_atomic

if TYPE_CHECKING:
    from dsreg.registry import Registry

SIDE_FILES = ("-wal", "-shm", "-journal")      # SQLite's companions of a database file
RECOVERED = "recovered-"

# what is kept from the old manifest: table -> columns (those it has are copied)
KEPT = {
    "datasets": ("name", "created_at"),
    "refs": ("dataset", "kind", "name", "commit_id"),
    "reflog": ("id", "dataset", "ref", "old", "new", "at", "message"),
    "remotes": ("name", "url", "endpoint_url", "cas_ok", "probed_at", "gc_seen"),
    "remote_refs": ("remote", "dataset", "kind", "name", "commit_id"),
    "remote_objects": ("remote", "object_id"),
    "checks": ("dataset", "branch", "id", "rule"),     # in no object: kept, like remotes
}


@dataclass(frozen=True)
class Recovered:
    dataset: str
    branch: str
    commit: CommitId
    heads: int                  # heads the dataset had (main goes to the newest)


@dataclass(frozen=True)
class RebuildResult:
    objects_read: int           # read and verified (malformed ones included)
    bytes_read: int
    kinds: dict[str, int]       # objects indexed or recognised, by kind
    commits: int                # rows in the new manifest
    snapshots: int
    shards: int
    refs_kept: int              # branches and tags
    remote_refs_kept: int
    recovered: tuple[Recovered, ...]
    dropped: tuple[str, ...]    # refs of the old manifest left out, and why
    skipped: tuple[str, ...]    # corrupt or malformed objects left out
    old_manifest: str           # "readable" | "damaged" | "unreadable" | "missing"
    backup: str | None
    notes: tuple[str, ...]
    check: FsckResult = field(repr=False)

    @property
    def ok(self) -> bool:
        return self.check.ok

    def to_json(self) -> dict:
        return {"ok": self.ok, "objects_read": self.objects_read, "bytes_read": self.bytes_read,
                "objects": dict(sorted(self.kinds.items())), "commits": self.commits,
                "snapshots": self.snapshots, "shards": self.shards, "refs_kept": self.refs_kept,
                "remote_refs_kept": self.remote_refs_kept, "refs_recreated": len(self.recovered),
                "recovered": [{"dataset": r.dataset, "branch": r.branch, "commit": r.commit} for r in self.recovered],
                "dropped_refs": list(self.dropped), "corrupt_objects": len(self.skipped),
                "skipped": list(self.skipped), "old_manifest": self.old_manifest, "backup": self.backup,
                "notes": list(self.notes), "fsck": self.check.to_json()}


def rebuild_manifest(reg: Registry, progress: Progress = NO_PROGRESS) -> RebuildResult:
    """Build a new manifest from every object in the local store, keep the old one as a
    backup, swap the new one in, and check the result with fsck (see the module doc)."""
    path = reg.dir / "manifest.sqlite"
    temp = reg.dir / REBUILD_TEMP
    if not os.access(reg.dir, os.W_OK):
        raise RegistryReadOnly(str(reg.dir))
    reg.close()
    reg.forget_remotes()
    old = _salvage(path)
    _remove(temp)                       # what an interrupted rebuild left
    try:
        built = _build(reg, temp, old, progress)
    except BaseException:
        _remove(temp)
        raise
    crashpoint("rebuild.built")
    if old.status == "readable":
        _checkpoint(path)               # the old file then holds all it knows, without its -wal
    backup = _swap(path, temp)
    check = fsck(reg, progress=progress)
    notes = list(old.notes)
    if built.scan.kinds["other"]:
        notes.append(f"{built.scan.kinds['other']:,} object(s) are of no kind dsreg writes; none is indexed")
    return RebuildResult(
        objects_read=built.scan.read, bytes_read=built.scan.nbytes, kinds=dict(built.scan.kinds),
        commits=len(built.scan.commits), snapshots=built.scan.kinds["snapshot"], shards=built.shards,
        refs_kept=built.refs_kept, remote_refs_kept=built.remote_refs_kept, recovered=tuple(built.recovered),
        dropped=tuple(built.dropped), skipped=tuple(built.scan.skipped), old_manifest=old.status,
        backup=str(backup) if backup else None, notes=tuple(notes), check=check)


# -- the old manifest: what it holds that no object does ---------------------------------
@dataclass
class _Old:
    status: str
    tables: dict[str, list[dict]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _connect(path: Path, mode: str = "rw") -> sqlite3.Connection:
    """An existing database, never a new empty one in its place. Read-only ("ro"), it is
    left exactly as it is: a read-write connection, the last to close, would fold the
    write-ahead log into a damaged file before it is backed up."""
    return sqlite3.connect(f"file:{pathname2url(str(path))}?mode={mode}", uri=True, timeout=60,
                           isolation_level=None)


def _salvage(path: Path) -> _Old:
    if not path.is_file():
        return _Old("missing", notes=["there was no manifest: refs are recreated from the commits"])
    try:
        conn = _connect(path, "ro")
    except sqlite3.Error as e:
        return _Old("unreadable", notes=[f"the old manifest cannot be opened ({e})"])
    old = _Old("readable")
    try:
        try:
            conn.execute("BEGIN")           # one consistent view of every table
            verdict = " ".join(str(conn.execute("PRAGMA quick_check(1)").fetchone()[0]).split())
        except sqlite3.Error as e:
            return _Old("unreadable", notes=[f"the old manifest cannot be read ({e}): refs are recreated "
                                             "from the commits; tags and remotes are lost"])
        for table, columns in KEPT.items():
            try:
                have = {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}
                if not have and table == "checks":
                    continue            # a manifest from before checks
                if not have:
                    raise sqlite3.OperationalError(f"no table {table}")
                cols = [c for c in columns if c in have]
                rows = conn.execute(f"SELECT {', '.join(cols)} FROM {table}").fetchall()
                old.tables[table] = [dict(zip(cols, r)) for r in rows]
            except sqlite3.Error as e:
                old.notes.append(f"could not read {table} from the old manifest ({e})")
        if not old.tables:
            old.status = "unreadable"
        elif verdict != "ok" or old.notes:
            old.status = "damaged"
            if verdict != "ok":
                old.notes.insert(0, f"the old manifest is damaged ({verdict}); kept what could be read")
    finally:
        conn.close()
    return old


def _checkpoint(path: Path) -> None:
    """Fold the old manifest's write-ahead log into its file (best effort)."""
    try:
        conn = _connect(path)
        try:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        finally:
            conn.close()
    except sqlite3.Error:
        pass


# -- reading every object ----------------------------------------------------------------
def object_kind(data: bytes) -> str:
    """commit, snapshot, shard (Parquet), fingerprints, chunk_index, or other: from the bytes."""
    if data.startswith(SNAPSHOT_MAGICS):
        return "snapshot"
    if data.startswith(FINGERPRINTS_MAGIC):
        return "fingerprints"
    if data[:4] == b"PAR1" and data[-4:] == b"PAR1":
        return "shard"
    if data[:1] == b"{":
        try:
            fmt = json.loads(data).get("format")
        except (ValueError, AttributeError):
            return "other"
        return {COMMIT_FORMAT: "commit", INDEX_FORMAT: "chunk_index"}.get(fmt, "other")
    return "other"


class _Scan:
    """Reads and verifies every local object once; writes commits and snapshots to `m`."""

    def __init__(self, reg: Registry, m: Manifest, progress: Progress):
        self.store, self.m, self.progress = reg.store, m, progress
        self.present: set[ObjectId] = set()             # every object file, good or not
        self.read = self.nbytes = 0
        self.kinds: Counter = Counter()
        self.commits: dict[CommitId, Commit] = {}
        self.shard_refs: dict[str, ShardRef] = {}       # as the first snapshot naming it says
        self.local_shards: dict[str, tuple[int, int]] = {}    # (rows, bytes) as read here
        self.skipped: list[str] = []

    def run(self) -> _Scan:
        oids = list(self.store.iter())
        self.present = set(oids)
        self.progress.start("rebuild", len(oids), unit="objects")
        for oid in oids:
            self.one(oid)
            self.progress.advance(1)
        self.progress.finish()
        for cid, c in sorted(self.commits.items()):
            self.m.add_commit(cid, c)
        return self

    def one(self, oid: ObjectId) -> None:
        try:
            data = read_local(self.store, oid)
        except ObjectMissing:
            self.present.discard(oid)       # gone since the listing
            return
        except ChecksumMismatch as e:
            self.skipped.append(f"object {oid} is corrupt (its bytes hash to {e.got})")
            return
        except OSError as e:
            self.skipped.append(f"object {oid} cannot be read ({e.strerror or e})")
            return
        self.read += 1
        self.nbytes += len(data)
        kind = object_kind(data)
        try:
            self.index(oid, kind, data)
        except CorruptObject as e:
            self.skipped.append(f"{kind} {oid} is malformed ({e.message})")
            return
        except Exception as e:  # noqa: BLE001 - whatever Arrow raises for a bad footer or schema
            self.skipped.append(f"{kind} {oid} is malformed ({e})")
            return
        self.kinds[kind] += 1

    def index(self, oid: ObjectId, kind: str, data: bytes) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq
        if kind == "commit":
            self.commits[CommitId(oid)] = decode_commit(data)
        elif kind == "snapshot":
            snap = decode_snapshot(data)
            snap.schema                     # noqa: B018 - an unreadable schema raises here
            self.m.add_snapshot(oid, snap, snap.nbytes)
            for ref in snap.shards:
                self.shard_refs.setdefault(ref.id, ref)
        elif kind == "shard":
            self.local_shards[oid] = (pq.read_metadata(pa.BufferReader(data)).num_rows, len(data))
        elif kind == "fingerprints":
            decode_fingerprints(data)

    def add_shards(self) -> int:
        """A row for every shard a snapshot names; rows and bytes as read where it is here."""
        for sid, ref in sorted(self.shard_refs.items()):
            rows, nbytes = self.local_shards.get(sid, (ref.rows, ref.bytes))
            self.m.add_shard(sid, rows, nbytes, ref.fingerprints, fingerprints_size(rows))
        return len(self.shard_refs)


# -- the new manifest --------------------------------------------------------------------
@dataclass
class _Built:
    scan: _Scan
    shards: int = 0
    refs_kept: int = 0
    remote_refs_kept: int = 0
    recovered: list[Recovered] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)


def _build(reg: Registry, temp: Path, old: _Old, progress: Progress) -> _Built:
    m = Manifest(temp)
    try:
        with m.transaction():
            built = _Built(_Scan(reg, m, progress).run())
            built.shards = built.scan.add_shards()
            _write_kept(m, old, built)
        # a file that holds everything by itself, so that renaming it is all it takes
        m.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        if m.conn.execute("PRAGMA journal_mode=DELETE").fetchone()[0] != "delete":
            raise DsregError(f"cannot finish the new manifest {temp}: it is in use by another process")
    finally:
        m.close()
    fsync_file(temp)
    return built


def _insert(m: Manifest, table: str, rows: list[dict]) -> None:
    for row in rows:
        cols = list(row)
        m.conn.execute(f"INSERT OR IGNORE INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                       [row[c] for c in cols])


def _write_kept(m: Manifest, old: _Old, built: _Built) -> None:
    scan = built.scan
    commits = scan.commits
    remotes = old.tables.get("remotes", [])
    _insert(m, "remotes", remotes)
    names = {r["name"] for r in remotes}
    _insert(m, "remote_objects", [r for r in old.tables.get("remote_objects", []) if r["remote"] in names])
    _insert(m, "reflog", old.tables.get("reflog", []))
    _insert(m, "checks", old.tables.get("checks", []))
    with_refs: set[str] = set()
    for table, label in (("refs", ""), ("remote_refs", " on {remote}")):
        kept = []
        for r in old.tables.get(table, []):
            where = label.format(remote=r.get("remote"))
            why = _ref_problem(r, scan.present, commits)
            if table == "remote_refs" and r.get("remote") not in names:
                why = f"remote {r.get('remote')!r} is not known"
            if why:
                built.dropped.append(f"{r.get('dataset')}@{r.get('name')}{where}: {why}")
            else:
                kept.append(r)
                with_refs.add(r["dataset"])
        _insert(m, table, kept)
        if table == "refs":
            built.refs_kept = len(kept)
        else:
            built.remote_refs_kept = len(kept)
    created = {r["name"]: r.get("created_at") for r in old.tables.get("datasets", [])}
    first: dict[str, float] = {}
    for c in commits.values():
        first[c.dataset] = min(first.get(c.dataset, c.timestamp), c.timestamp)
    for name in sorted(set(first) | with_refs):
        m.conn.execute("INSERT INTO datasets VALUES (?, ?)",
                       (name, created.get(name) or first.get(name) or time.time()))
    for name in sorted(set(first) - with_refs):
        built.recovered += _recover(m, name, commits)


def _ref_problem(row: dict, present: set[ObjectId], commits: dict[CommitId, Commit]) -> str | None:
    from dsreg.errors import UsageError
    from dsreg.names import check_dataset_syntax, check_ref_syntax
    cid, dataset, name, kind = row.get("commit_id"), row.get("dataset"), row.get("name"), row.get("kind")
    if not (isinstance(dataset, str) and isinstance(name, str) and isinstance(kind, str)):
        return "not a well-formed ref"
    try:      # syntax only: a ref an older dsreg let take a name refused today is kept
        check_dataset_syntax(dataset)
        check_ref_syntax(name, kind)
    except (UsageError, TypeError, AttributeError):
        return "not a well-formed ref"
    if row.get("kind") not in ("branch", "tag"):
        return "not a well-formed ref"
    if not isinstance(cid, str) or not is_object_id(cid) or cid not in present:
        return f"its commit {str(cid)[:12]} is not in the store"
    c = commits.get(CommitId(ObjectId(cid)))
    if c is not None and c.dataset != row["dataset"]:
        return f"its commit {cid[:12]} belongs to dataset {c.dataset!r}"
    return None


def _recover(m: Manifest, dataset: str, commits: dict[CommitId, Commit]) -> list[Recovered]:
    """Branches for the heads of a dataset no ref names: commits no other commit has as a
    parent. `main` on the newest; with several heads, `recovered-<id>` on each too."""
    named = {p for c in commits.values() for p in c.parents}
    heads = sorted((cid for cid, c in commits.items() if c.dataset == dataset and cid not in named),
                   key=lambda cid: (commits[cid].timestamp, cid), reverse=True)
    out = [Recovered(dataset, "main", heads[0], len(heads))]
    if len(heads) > 1:
        out += [Recovered(dataset, RECOVERED + cid[:12], cid, len(heads)) for cid in heads]
    for r in out:
        m.set_ref(dataset, "branch", r.branch, r.commit, None, "fsck --rebuild: recovered head")
    return out


# -- swapping it in ----------------------------------------------------------------------
def _swap(path: Path, temp: Path) -> Path | None:
    """Copy the old manifest (and its companions) to a backup, then rename the new one
    over it. The old file's -wal/-shm/-journal must not outlive it: SQLite would replay a
    stale write-ahead log into the new file."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    backup = path.with_name(f"{path.name}.bak-{stamp}")
    n = 1
    while any(Path(str(backup) + s).exists() for s in ("", *SIDE_FILES)):
        n += 1
        backup = path.with_name(f"{path.name}.bak-{stamp}-{n}")
    kept = False
    for suffix in ("", *SIDE_FILES):
        src = Path(str(path) + suffix)
        if src.is_file() and (suffix in ("", "-wal", "-journal") and src.stat().st_size):
            copy_atomic(src, str(backup) + suffix, mode=0o666)
            kept = True
    fsync_dir(path.parent)
    crashpoint("rebuild.backup")
    for suffix in SIDE_FILES:
        Path(str(path) + suffix).unlink(missing_ok=True)
    rename_atomic(temp, path)
    crashpoint("rebuild.swap")
    return backup if kept else None


def _remove(db: Path) -> None:
    for suffix in ("", *SIDE_FILES):
        Path(str(db) + suffix).unlink(missing_ok=True)


__all__ = ["rebuild_manifest", "RebuildResult", "Recovered", "object_kind"]
