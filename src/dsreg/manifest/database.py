"""The SQLite manifest: an index of datasets, commits, snapshots, shards, refs and reflog.

Objects are the truth; the manifest makes them fast to find. Schema changes are
registered migration functions, each run once in its own transaction.
"""
from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar


def _import_sqlite_utils():
    """sqlite-utils imports pandas when it is installed (0.5-1.5 s, on every command)
    only to map pandas.Timestamp values, which the manifest never writes: keep pandas
    out of that import unless the process has already loaded it."""
    import sys
    if "sqlite_utils" in sys.modules or "pandas" in sys.modules:
        import sqlite_utils
        return sqlite_utils
    sys.modules["pandas"] = None        # type: ignore[assignment]  # `import pandas` fails
    try:
        import sqlite_utils
        return sqlite_utils
    except ImportError:                 # a plugin of it needs pandas after all
        for name in [m for m in sys.modules if m.split(".")[0] == "sqlite_utils"]:
            del sys.modules[name]
    finally:
        del sys.modules["pandas"]
    import sqlite_utils
    return sqlite_utils


sqlite_utils = _import_sqlite_utils()

from dsreg.errors import ManifestWriteFailed, RefConflict, RefExists, RefNotFound, RegistryReadOnly  # noqa: E402
from dsreg.faults import crashpoint  # noqa: E402
from dsreg.ids import CommitId, ObjectId  # noqa: E402
from dsreg.manifest.rows import Ref, RefKind, ReflogEntry, RemoteInfo, ShardObjects, ShardRow, SnapshotInfo  # noqa: E402
from dsreg.records import Commit, Snapshot  # noqa: E402

if TYPE_CHECKING:
    from sqlite_utils import Database

Id = TypeVar("Id", bound=str)

MIGRATIONS: list[Callable[[Database], None]] = []


def migration(fn: Callable[[Database], None]):
    MIGRATIONS.append(fn)
    return fn


@migration
def _m1_initial(db: Database) -> None:
    db.table("datasets").create({"name": str, "created_at": float}, pk="name")
    db.table("commits").create({
        "id": str, "dataset": str, "parents": str, "message": str, "author": str,
        "timestamp": int, "metadata": str,
    }, pk="id")
    db.table("commits").create_index(["dataset"])
    db.table("commit_splits").create({"commit_id": str, "split": str, "snapshot_id": str}, pk=("commit_id", "split"))
    db.table("snapshots").create({"id": str, "rows": int, "bytes": int, "runs": int, "schema": bytes}, pk="id")
    db.table("snapshot_shards").create({"snapshot_id": str, "shard_id": str}, pk=("snapshot_id", "shard_id"))
    db.table("snapshot_shards").create_index(["shard_id"])
    db.table("shards").create({"id": str, "rows": int, "bytes": int, "fingerprints": str, "fp_bytes": int,
                         "stats": str}, pk="id")
    db.table("refs").create({"dataset": str, "kind": str, "name": str, "commit_id": str}, pk=("dataset", "kind", "name"))
    db.table("reflog").create({"id": int, "dataset": str, "ref": str, "old": str, "new": str, "at": float,
                         "message": str}, pk="id")
    db.table("reflog").create_index(["dataset", "ref"])
    db.table("remotes").create({"name": str, "url": str, "endpoint_url": str}, pk="name")


@migration
def _m2_remotes(db: Database) -> None:
    db.table("remotes").add_column("cas_ok", int)
    db.table("remotes").add_column("probed_at", float)
    db.table("remote_objects").create({"remote": str, "object_id": str}, pk=("remote", "object_id"))
    db.table("remote_refs").create({"remote": str, "dataset": str, "kind": str, "name": str, "commit_id": str},
                             pk=("remote", "dataset", "kind", "name"))


@migration
def _m3_card_caches(db: Database) -> None:
    # what cards compute once per version (see splitstats.py, card/model.py): finished column
    # statistics of a split, by snapshot id; a commit's row changes against its first parent
    db.table("split_stats").create({"snapshot_id": str, "stats": str}, pk="snapshot_id")
    db.table("commit_changes").create({"commit_id": str, "changes": str}, pk="commit_id")


@migration
def _m4_remote_gc(db: Database) -> None:
    # the last `gc --remote` marker seen on each remote: when it changes, what the manifest
    # believes the remote holds may have been collected, so push asks again
    db.table("remotes").add_column("gc_seen", str)


@migration
def _m5_input_cache(db: Database) -> None:
    # a local cache (never pushed; a rebuilt manifest starts it empty): the digest of the
    # files a split was committed from (see inputcache.py) -> each snapshot a commit of
    # exactly those bytes produced, so re-committing them need not read a row
    db.table("input_snapshots").create({"digest": str, "snapshot_id": str}, pk=("digest", "snapshot_id"))
    db.table("input_snapshots").create_index(["snapshot_id"])


@migration
def _m6_checks(db: Database) -> None:
    # the contracts a branch's versions must keep (see checks/): one rule a row, in its
    # canonical text; travels with push and pull. The last result of each, for the card.
    # (terse SQL, no key indexes: the schema page is nearly full, and a manifest whose schema
    # spills onto a second page reads worse once damaged; both tables stay small, and
    # writers serialize on the database lock)
    db.execute("CREATE TABLE checks(dataset TEXT,branch TEXT,id INT,rule TEXT)")
    db.execute("CREATE TABLE check_results(commit_id TEXT,result TEXT)")



class RemotesMixin:
    """Remotes, what each is known to hold, and where its refs were last seen."""

    conn: sqlite3.Connection

    def remotes(self) -> list[RemoteInfo]:
        rows = self.conn.execute("SELECT name, url, endpoint_url, cas_ok FROM remotes ORDER BY name")
        return [RemoteInfo(r[0], r[1], r[2], None if r[3] is None else bool(r[3])) for r in rows]

    def remote(self, name: str) -> RemoteInfo | None:
        return next((r for r in self.remotes() if r.name == name), None)

    def add_remote(self, name: str, url: str, endpoint_url: str | None, cas_ok: bool | None) -> None:
        self.conn.execute("INSERT INTO remotes (name, url, endpoint_url, cas_ok, probed_at) VALUES (?, ?, ?, ?, ?)",
                          (name, url, endpoint_url, None if cas_ok is None else int(cas_ok),
                           time.time() if cas_ok is not None else None))

    def set_remote_cas(self, name: str, cas_ok: bool) -> None:
        self.conn.execute("UPDATE remotes SET cas_ok=?, probed_at=? WHERE name=?", (int(cas_ok), time.time(), name))

    def remove_remote(self, name: str) -> None:
        for table in ("remotes", "remote_objects", "remote_refs"):
            col = "name" if table == "remotes" else "remote"
            self.conn.execute(f"DELETE FROM {table} WHERE {col}=?", (name,))

    def remote_has(self, remote: str, object_ids: Sequence[Id]) -> set[Id]:
        """Those of `object_ids` the remote is known to hold."""
        found: set[str] = set()
        for i in range(0, len(object_ids), 500):
            chunk = object_ids[i:i + 500]
            q = f"SELECT object_id FROM remote_objects WHERE remote=? AND object_id IN ({','.join('?' * len(chunk))})"
            found.update(r[0] for r in self.conn.execute(q, [remote, *chunk]))
        return {o for o in object_ids if o in found}

    def gc_seen(self, remote: str) -> str | None:
        row = self.conn.execute("SELECT gc_seen FROM remotes WHERE name=?", (remote,)).fetchone()
        return row[0] if row else None

    def forget_remote_objects(self, remote: str, gc_seen: str | None) -> None:
        """A gc ran on the remote: forget what it was believed to hold; remember the marker."""
        self.conn.execute("DELETE FROM remote_objects WHERE remote=?", (remote,))
        self.conn.execute("UPDATE remotes SET gc_seen=? WHERE name=?", (gc_seen, remote))

    def mark_remote_has(self, remote: str, object_ids) -> None:
        self.conn.executemany("INSERT OR IGNORE INTO remote_objects VALUES (?, ?)", [(remote, o) for o in object_ids])

    def remote_refs(self, remote: str, dataset: str | None = None) -> list[Ref]:
        q, args = "SELECT dataset, kind, name, commit_id FROM remote_refs WHERE remote=?", [remote]
        if dataset is not None:
            q += " AND dataset=?"
            args.append(dataset)
        return [Ref(*r) for r in self.conn.execute(q + " ORDER BY dataset, kind, name", args)]

    def set_remote_ref(self, remote: str, dataset: str, kind: RefKind, name: str, commit: str | None) -> None:
        if commit is None:
            self.conn.execute("DELETE FROM remote_refs WHERE remote=? AND dataset=? AND kind=? AND name=?",
                              (remote, dataset, kind, name))
        else:       # (an unchanged row is left alone: a fetch that finds nothing new writes nothing)
            self.conn.execute("INSERT INTO remote_refs VALUES (?, ?, ?, ?, ?) "
                              "ON CONFLICT (remote, dataset, kind, name) DO UPDATE SET commit_id=excluded.commit_id "
                              "WHERE commit_id != excluded.commit_id", (remote, dataset, kind, name, commit))


class ChecksMixin:
    """The checks of each dataset and branch (see checks/), and their last results."""

    conn: sqlite3.Connection

    def checks(self, dataset: str, branch: str) -> list[tuple[int, str]]:
        """(id, rule text) of the branch's checks, by id."""
        rows = self.conn.execute("SELECT id, rule FROM checks WHERE dataset=? AND branch=? ORDER BY id",
                                 (dataset, branch))
        return [(r[0], r[1]) for r in rows]

    def checked_branches(self, dataset: str) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT DISTINCT branch FROM checks WHERE dataset=? ORDER BY branch",
                                                (dataset,))]

    def add_check(self, dataset: str, branch: str, rule: str) -> int:
        """Add a rule (a rule already there keeps its id); its id, one more than the
        highest so far, so an id is never reused for another rule of the branch."""
        for cid, text in self.checks(dataset, branch):
            if text == rule:
                return cid
        row = self.conn.execute("SELECT MAX(id) FROM checks WHERE dataset=? AND branch=?", (dataset, branch)).fetchone()
        cid = (row[0] or 0) + 1
        self.conn.execute("INSERT INTO checks VALUES (?, ?, ?, ?)", (dataset, branch, cid, rule))
        return cid

    def remove_check(self, dataset: str, branch: str, check_id: int) -> str | None:
        row = self.conn.execute("SELECT rule FROM checks WHERE dataset=? AND branch=? AND id=?",
                                (dataset, branch, check_id)).fetchone()
        if row is not None:
            self.conn.execute("DELETE FROM checks WHERE dataset=? AND branch=? AND id=?", (dataset, branch, check_id))
        return row[0] if row else None

    def check_result(self, commit_id: str) -> dict | None:
        row = self.conn.execute("SELECT result FROM check_results WHERE commit_id=?", (commit_id,)).fetchone()
        return json.loads(row[0]) if row else None

    def set_check_result(self, commit_id: str, result: dict) -> None:
        self.conn.execute("DELETE FROM check_results WHERE commit_id=?", (commit_id,))
        self.conn.execute("INSERT INTO check_results VALUES (?, ?)", (commit_id, json.dumps(result)))


class Manifest(RemotesMixin, ChecksMixin):
    def __init__(self, path: Path):
        self.path = Path(path)
        # a manifest we may not write (permissions, a read-only mount) is still read: every
        # reading command works, and `transaction()` says why writing ones cannot
        self.read_only = not writable(self.path)
        if self.read_only:
            conn = _open_read_only(self.path)
        else:
            conn = sqlite3.connect(str(self.path), timeout=60, isolation_level=None)
        conn.execute("PRAGMA busy_timeout=60000")
        self.db = sqlite_utils.Database(conn)
        self.conn = conn
        if self.read_only:
            self._check_version()
            return
        if self.db.journal_mode != "wal":
            self.db.enable_wal()
        # FULL: a transaction that returned is on disk, so a power cut cannot undo a commit
        # or a ref move the user was told about (NORMAL may, in WAL mode)
        conn.execute("PRAGMA synchronous=FULL")
        self._migrate()

    def close(self) -> None:
        self.conn.close()

    # -- transactions ---------------------------------------------------------
    def transaction(self):
        if self.read_only:
            raise RegistryReadOnly(str(self.path))
        return _Transaction(self.conn, self.path)

    def _check_version(self) -> None:
        """Read-only, migrations cannot run: the schema must already be the current one."""
        row = self.conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        if row is None or int(row[0]) != len(MIGRATIONS):
            raise RegistryReadOnly(str(self.path), f"its manifest is at version {row[0] if row else 0} and this "
                                                   f"dsreg needs {len(MIGRATIONS)}, which it can only upgrade to "
                                                   "with write access")

    def _migrate(self) -> None:
        with self.transaction():
            self.conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
            row = self.conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            version = int(row[0]) if row else 0
            for i, fn in enumerate(MIGRATIONS[version:], start=version + 1):
                fn(self.db)
                self.conn.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(i),))

    @property
    def schema_version(self) -> int:
        return int(self.conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0])

    # -- datasets -------------------------------------------------------------
    def datasets(self) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT name FROM datasets ORDER BY name")]

    def has_dataset(self, name: str) -> bool:
        return self.conn.execute("SELECT 1 FROM datasets WHERE name=?", (name,)).fetchone() is not None

    def add_dataset(self, name: str) -> None:
        self.conn.execute("INSERT OR IGNORE INTO datasets VALUES (?, ?)", (name, time.time()))

    # -- objects --------------------------------------------------------------
    def add_shard(self, shard_id: str, rows: int, nbytes: int, fingerprints: str, fp_bytes: int,
                  stats: dict | None = None) -> None:
        self.conn.execute("INSERT OR IGNORE INTO shards VALUES (?, ?, ?, ?, ?, ?)",
                          (shard_id, rows, nbytes, fingerprints, fp_bytes, json.dumps(stats or {})))

    def shard(self, shard_id: str) -> ShardRow | None:
        row = self.conn.execute("SELECT id, rows, bytes, fingerprints, fp_bytes, stats FROM shards WHERE id=?",
                                (shard_id,)).fetchone()
        if row is None:
            return None
        return ShardRow(row[0], row[1], row[2], row[3], row[4], json.loads(row[5] or "{}"))

    # -- statistics: a cache, recomputable from the objects (see splitstats.py) ----
    def shard_stats(self, shard_ids: list[str]) -> dict[str, dict]:
        """Stored statistics of these shards (those with none are left out)."""
        out: dict[str, dict] = {}
        for i in range(0, len(shard_ids), 500):
            chunk = shard_ids[i:i + 500]
            q = f"SELECT id, stats FROM shards WHERE id IN ({','.join('?' * len(chunk))})"
            for sid, stats in self.conn.execute(q, chunk):
                doc = json.loads(stats or "{}")
                if doc:
                    out[sid] = doc
        return out

    def set_shard_stats(self, shard_id: str, stats: dict) -> None:
        self.conn.execute("UPDATE shards SET stats=? WHERE id=?", (json.dumps(stats), shard_id))

    def split_stats(self, snapshot_id: str) -> dict | None:
        row = self.conn.execute("SELECT stats FROM split_stats WHERE snapshot_id=?", (snapshot_id,)).fetchone()
        return json.loads(row[0]) if row else None

    def set_split_stats(self, snapshot_id: str, stats: dict) -> None:
        self.conn.execute("INSERT OR REPLACE INTO split_stats VALUES (?, ?)", (snapshot_id, json.dumps(stats)))

    def commit_changes(self, commit_id: str) -> dict | None:
        row = self.conn.execute("SELECT changes FROM commit_changes WHERE commit_id=?", (commit_id,)).fetchone()
        return json.loads(row[0]) if row else None

    def set_commit_changes(self, commit_id: str, changes: dict) -> None:
        self.conn.execute("INSERT OR REPLACE INTO commit_changes VALUES (?, ?)", (commit_id, json.dumps(changes)))

    # -- the input cache: file digests -> snapshots they produced (see inputcache.py) ----
    def has_input_snapshot(self, digest: str, snapshot_id: str) -> bool:
        return self.conn.execute("SELECT 1 FROM input_snapshots WHERE digest=? AND snapshot_id=?",
                                 (digest, snapshot_id)).fetchone() is not None

    def add_input_snapshot(self, digest: str, snapshot_id: str) -> None:
        self.conn.execute("INSERT OR IGNORE INTO input_snapshots VALUES (?, ?)", (digest, snapshot_id))

    def forget_input_snapshots(self, keep: set[str] | frozenset[str]) -> None:
        """Drop every entry whose snapshot is not in `keep` (gc: the live snapshots)."""
        gone = [r[0] for r in self.conn.execute("SELECT DISTINCT snapshot_id FROM input_snapshots")
                if r[0] not in keep]
        self.conn.executemany("DELETE FROM input_snapshots WHERE snapshot_id=?", [(s,) for s in gone])

    def add_snapshot(self, snapshot_id: str, snap: Snapshot, nbytes: int) -> None:
        self.conn.execute("INSERT OR IGNORE INTO snapshots VALUES (?, ?, ?, ?, ?)",
                          (snapshot_id, snap.rows, nbytes, snap.num_runs, snap.schema_ipc))
        self.conn.executemany("INSERT OR IGNORE INTO snapshot_shards VALUES (?, ?)",
                              [(snapshot_id, s.id) for s in snap.shards])

    def snapshot_info(self, snapshot_id: str) -> SnapshotInfo | None:
        row = self.conn.execute("SELECT rows, bytes, runs FROM snapshots WHERE id=?", (snapshot_id,)).fetchone()
        if row is None:
            return None
        shards = self.conn.execute("SELECT COUNT(*) FROM snapshot_shards WHERE snapshot_id=?",
                                   (snapshot_id,)).fetchone()[0]
        return SnapshotInfo(rows=row[0], bytes=row[1], runs=row[2], shards=shards)

    def add_commit(self, commit_id: CommitId, commit: Commit) -> None:
        self.conn.execute(
            "INSERT OR IGNORE INTO commits VALUES (?, ?, ?, ?, ?, ?, ?)",
            (commit_id, commit.dataset, json.dumps(list(commit.parents)), commit.message, commit.author,
             commit.timestamp, json.dumps(commit.metadata, sort_keys=True)))
        self.conn.executemany("INSERT OR IGNORE INTO commit_splits VALUES (?, ?, ?)",
                              [(commit_id, s, sid) for s, sid in commit.splits.items()])

    def commit(self, commit_id: str) -> Commit | None:
        row = self.conn.execute(
            "SELECT dataset, parents, message, author, timestamp, metadata FROM commits WHERE id=?",
            (commit_id,)).fetchone()
        if row is None:
            return None
        splits = dict(self.conn.execute(
            "SELECT split, snapshot_id FROM commit_splits WHERE commit_id=? ORDER BY split", (commit_id,)))
        return Commit(dataset=row[0], parents=tuple(json.loads(row[1])), splits=splits, message=row[2],
                      author=row[3], timestamp=row[4], metadata=json.loads(row[5] or "{}"))

    def commits_with_prefix(self, dataset: str, prefix: str) -> list[CommitId]:
        rows = self.conn.execute("SELECT id FROM commits WHERE dataset=? AND id LIKE ? ORDER BY id",
                                 (dataset, prefix + "%"))
        return [CommitId(r[0]) for r in rows]

    def all_commit_ids(self) -> list[CommitId]:
        return [CommitId(r[0]) for r in self.conn.execute("SELECT id FROM commits ORDER BY id")]

    def all_snapshot_ids(self) -> list[ObjectId]:
        return [ObjectId(r[0]) for r in self.conn.execute("SELECT id FROM snapshots ORDER BY id")]

    def all_shards(self) -> Iterator[ShardObjects]:
        for r in self.conn.execute("SELECT id, fingerprints FROM shards ORDER BY id"):
            yield ShardObjects(r[0], r[1])

    def delete_objects(self, commits: list[str], snapshots: list[str], shards: list[str]) -> None:
        for c in commits:
            self.conn.execute("DELETE FROM commits WHERE id=?", (c,))
            self.conn.execute("DELETE FROM commit_changes WHERE commit_id=?", (c,))
            self.conn.execute("DELETE FROM check_results WHERE commit_id=?", (c,))
            self.conn.execute("DELETE FROM commit_splits WHERE commit_id=?", (c,))
        for s in snapshots:
            self.conn.execute("DELETE FROM snapshots WHERE id=?", (s,))
            self.conn.execute("DELETE FROM snapshot_shards WHERE snapshot_id=?", (s,))
            self.conn.execute("DELETE FROM split_stats WHERE snapshot_id=?", (s,))
            self.conn.execute("DELETE FROM input_snapshots WHERE snapshot_id=?", (s,))
        for s in shards:
            self.conn.execute("DELETE FROM shards WHERE id=?", (s,))

    # -- refs -----------------------------------------------------------------
    def refs(self, dataset: str | None = None, kind: RefKind | None = None) -> list[Ref]:
        q, args = "SELECT dataset, kind, name, commit_id FROM refs WHERE 1=1", []
        if dataset is not None:
            q += " AND dataset=?"
            args.append(dataset)
        if kind is not None:
            q += " AND kind=?"
            args.append(kind)
        q += " ORDER BY dataset, kind, name"
        return [Ref(*r) for r in self.conn.execute(q, args)]

    def ref(self, dataset: str, kind: RefKind, name: str) -> CommitId | None:
        row = self.conn.execute("SELECT commit_id FROM refs WHERE dataset=? AND kind=? AND name=?",
                                (dataset, kind, name)).fetchone()
        return CommitId(row[0]) if row else None

    def set_ref(self, dataset: str, kind: RefKind, name: str, new: CommitId, expected: CommitId | None,
                message: str, exclusive: bool = True) -> None:
        """Compare-and-swap: move the ref to `new` only if it still points at `expected`
        (None: only if it does not exist). Must run inside a transaction. A new ref may not
        take the name of a ref of the other kind, unless not `exclusive` (a clone mirrors
        a remote that older dsregs let have both)."""
        label = f"{dataset}@{name}"
        if expected is None and exclusive:
            other: RefKind = "tag" if kind == "branch" else "branch"
            if self.ref(dataset, other, name) is not None:
                # NAME@rev resolves branches first: a second ref of the same name would
                # hide a tag (a pinned version would silently change) or never be reached
                raise RefExists(f"a {other} named {name!r} already exists in dataset {dataset!r}; "
                                f"a {kind} of the same name would make {label} ambiguous",
                                f"choose another name, or delete the {other} first")
        if expected is None:
            try:
                self.conn.execute("INSERT INTO refs VALUES (?, ?, ?, ?)", (dataset, kind, name, new))
            except sqlite3.IntegrityError:
                raise RefConflict(label, None, self.ref(dataset, kind, name)) from None
        else:
            cur = self.conn.execute("UPDATE refs SET commit_id=? WHERE dataset=? AND kind=? AND name=? AND commit_id=?",
                                    (new, dataset, kind, name, expected))
            if cur.rowcount != 1:
                raise RefConflict(label, expected, self.ref(dataset, kind, name))
        self._log(dataset, f"{kind}:{name}", expected, new, message)

    def delete_ref(self, dataset: str, kind: RefKind, name: str, expected: CommitId | None = None) -> CommitId:
        old = self.ref(dataset, kind, name)
        if old is None:
            raise RefNotFound(f"no {kind} {name!r} in dataset {dataset!r}")
        if expected is not None and old != expected:
            raise RefConflict(f"{dataset}@{name}", expected, old)
        self.conn.execute("DELETE FROM refs WHERE dataset=? AND kind=? AND name=?", (dataset, kind, name))
        self._log(dataset, f"{kind}:{name}", old, None, "delete")
        return old

    def _log(self, dataset: str, ref: str, old: str | None, new: str | None, message: str) -> None:
        self.conn.execute("INSERT INTO reflog (dataset, ref, old, new, at, message) VALUES (?, ?, ?, ?, ?, ?)",
                          (dataset, ref, old, new, time.time(), message))

    def reflog_commits(self) -> set[CommitId]:
        out: set[CommitId] = set()
        for old, new in self.conn.execute("SELECT old, new FROM reflog"):
            out.update(CommitId(c) for c in (old, new) if c)
        return out

    def reflog(self, dataset: str, ref: str | None = None) -> list[ReflogEntry]:
        """Entries of `dataset` (of one ref, "KIND:NAME"), newest first."""
        q, args = "SELECT ref, old, new, at, message FROM reflog WHERE dataset=?", [dataset]
        if ref:
            q += " AND ref=?"
            args.append(ref)
        return [ReflogEntry(*r) for r in self.conn.execute(q + " ORDER BY id DESC", args)]

    def ref_exists_error(self, dataset: str, kind: str, name: str) -> RefExists:
        return RefExists(f"{kind} {name!r} already exists in dataset {dataset!r}")


def writable(path: Path) -> bool:
    """Whether SQLite may write the database at `path` and create its -wal and -shm files
    beside it (root's writes succeed whatever the mode bits, unless the mount is read-only)."""
    return (os.access(path, os.W_OK) or not path.exists()) and os.access(path.parent, os.W_OK)


def _open_read_only(path: Path) -> sqlite3.Connection:
    """The manifest opened for reading only. WAL mode needs a -shm file: SQLite creates one
    where it can, reads one that is there; where neither works (a read-only folder a
    clean close left without one), the database is read as immutable, which is exact
    only when there is no write-ahead log to fold in."""
    uri = path.resolve().as_uri()
    conn = sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=60, isolation_level=None)
    try:
        conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        return conn
    except sqlite3.OperationalError:
        conn.close()
    wal = path.with_name(path.name + "-wal")
    if wal.exists() and wal.stat().st_size:
        raise RegistryReadOnly(str(path), f"{wal.name} holds changes that only a writer can fold in")
    return sqlite3.connect(f"{uri}?mode=ro&immutable=1", uri=True, timeout=60, isolation_level=None)


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT/ROLLBACK, so writers serialize on the database lock.

    A write the disk refuses (full, failing, read-only) rolls the whole transaction back
    and says so in one line: what it would have recorded is not recorded at all."""

    def __init__(self, conn: sqlite3.Connection, path: Path | None = None):
        self.conn = conn
        self.path = path
        self.depth = 0

    def __enter__(self):
        if not self.conn.in_transaction:
            self.conn.execute("BEGIN IMMEDIATE")
            self.depth = 1
        return self

    def __exit__(self, exc_type, exc, tb):
        if self.depth:
            if exc_type is None:
                crashpoint("manifest.commit.before")
                try:
                    self.conn.execute("COMMIT")
                except sqlite3.OperationalError as e:
                    self._rollback()
                    refused = self._refused(e)
                    if refused is not None:
                        raise refused from None
                    raise
                crashpoint("manifest.commit")
            else:
                self._rollback()
                if isinstance(exc, sqlite3.OperationalError):
                    refused = self._refused(exc)
                    if refused is not None:
                        raise refused from None
        return False

    def _rollback(self) -> None:
        if self.conn.in_transaction:        # (SQLite ends some failed transactions itself)
            self.conn.execute("ROLLBACK")

    def _refused(self, e: sqlite3.OperationalError):
        """The DsregError for a write the disk refused; None for other errors (locks, bugs)."""
        code = getattr(e, "sqlite_errorcode", 0) & 0xFF
        path = str(self.path or "manifest")
        if code == _SQLITE_FULL:
            return ManifestWriteFailed(path, "the disk is full")
        if code == _SQLITE_IOERR:
            return ManifestWriteFailed(path, f"the disk failed a write ({e})")
        if code == _SQLITE_READONLY:
            return RegistryReadOnly(path)
        return None


_SQLITE_READONLY, _SQLITE_IOERR, _SQLITE_FULL = 8, 10, 13      # primary result codes
