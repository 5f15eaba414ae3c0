"""Integrity checks (`fsck`) of a local registry: every local object verified, and
everything the roots reach (see reach.py) present, decodable, consistent and agreeing
with the manifest.

fsck reads the local store only: a registry's store would fetch a missing object from a
remote, and checking should not touch the network.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dsreg.errors import ChecksumMismatch, CorruptObject, ObjectMissing, UsageError
from dsreg.ids import CommitId, ObjectId, hash_bytes
from dsreg.jsonvalues import JsonFields
from dsreg.maintenance.reach import Names, affects, manifest_snapshot_shards, read_local, roots
from dsreg.maintenance.repair import restore_from_remotes
from dsreg.maintenance.temp import stray_temp_files
from dsreg.model.history import ancestors
from dsreg.model.serialize import Commit, ShardRef, Snapshot, decode_commit, decode_fingerprints, decode_snapshot
from dsreg.progress import NO_PROGRESS, Progress
from dsreg.rows.shards import decode_chunk_index
from dsreg.store import ObjectStore
from dsreg.store.base import check_object_id

if TYPE_CHECKING:
    from dsreg.registry import Registry


@dataclass(frozen=True)
class FsckResult(JsonFields):
    _json_skip = ("notes", "damaged")
    _json_optional = ("repaired",)

    problems: list[str]
    checked_objects: int
    checked_bytes: int
    notes: list[str] = field(default_factory=list)    # harmless findings: temp files, garbage
    repaired: list[str] | None = None                  # with repair=True: what was restored, and from where
    damaged: tuple[ObjectId, ...] = field(default=(), repr=False)   # reachable objects missing or corrupt here

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict:
        return {"ok": self.ok, **super().to_json()}


def fsck(reg: Registry, progress: Progress = NO_PROGRESS, repair: bool = False) -> FsckResult:
    """Verify every local object, and that everything the roots reach exists (here, or
    on a remote known to hold it), decodes, fits together and agrees with the manifest.
    Reports problems; never raises for them.

    With `repair`, every reachable object that is missing or corrupt here is replaced by a
    verified copy from a remote that has one (origin first), and the check runs again;
    what no remote could supply stays a problem."""
    if repair:
        reg.require_writable()
    result = _Fsck(reg, progress).run()
    if not repair:
        return result
    repaired: list[str] = []
    tried: set[ObjectId] = set()
    while True:         # a restored snapshot can name shards that need restoring too
        todo = [oid for oid in result.damaged if oid not in tried]
        if not todo:
            break
        tried.update(todo)
        repaired += restore_from_remotes(reg, todo)
        result = _Fsck(reg, NO_PROGRESS).run()
    return FsckResult(result.problems, result.checked_objects, result.checked_bytes, result.notes,
                      repaired, result.damaged)


_REMOTE = "on a remote"     # status of an object absent here that a remote is known to hold


class _Fsck:
    def __init__(self, reg: Registry, progress: Progress):
        self.reg, self.m, self.store, self.progress = reg, reg.manifest, reg.store, progress
        self.found: list[tuple[str, ObjectId | None]] = []     # (text, object whose users it affects)
        self.status: dict[ObjectId, str | None] = {}           # None: verified; else what is wrong
        self.checked_objects = self.checked_bytes = 0
        self.remote_only = 0
        self.roots = roots(self.m)
        self.first_parent: dict[CommitId, CommitId] = {}
        self.snapshot_users: dict[ObjectId, set[CommitId]] = defaultdict(set)
        self.part_of: dict[ObjectId, set[ObjectId]] = defaultdict(set)    # shard object -> snapshots
        self.fp_count: dict[ObjectId, int | None] = {}          # fingerprints held (None: unreadable)
        self.index_doc: dict[ObjectId, tuple[int, list] | None] = {}       # (size, byte ranges) of a chunk index
        self.schemas: dict[ObjectId, object] = {}               # snapshot -> its schema (pyarrow.Schema)

    def problem(self, text: str, about: ObjectId | None = None) -> None:
        self.found.append((text, about))

    def run(self) -> FsckResult:
        present = list(self.store.iter())
        self.progress.start("fsck", len(present), unit="objects")
        snapshots = self.walk_commits()
        self.check_shards(self.check_snapshots(snapshots))
        garbage = [oid for oid in present if oid not in self.status]
        for oid in garbage:
            if self.read(oid) is None and self.status[oid] != "is missing":
                self.problem(f"object {oid} {self.status[oid]}; no version uses it ('dsreg gc' deletes it)")
        self.progress.finish()
        notes = []
        if self.remote_only:
            notes.append(f"{self.remote_only} object(s) are only on a remote; they are fetched when needed")
        if garbage:
            notes.append(f"{len(garbage)} object(s) no ref or reflog entry reaches; 'dsreg gc' deletes them")
        notes += [f"leftover temporary file {p} ('dsreg gc' removes it)" for p in stray_temp_files(self.reg)]
        problems: list[str] = []
        if self.found:
            names = Names(self.roots, self.first_parent)
            problems = [f"{text}; {self.affects(about, names)}" if about is not None else text
                        for text, about in self.found]
        garbage_set = set(garbage)
        damaged = tuple(sorted(oid for oid, s in self.status.items()
                               if oid not in garbage_set and s is not None and s != _REMOTE
                               and s.startswith(("is missing", "is corrupt", "cannot be read"))))
        return FsckResult(problems, self.checked_objects, self.checked_bytes, notes, damaged=damaged)

    # -- reading objects once --------------------------------------------------
    def read(self, oid: ObjectId) -> bytes | None:
        """The object's verified bytes, or None with `status[oid]` saying why."""
        data, status, size = None, None, 0
        try:
            check_object_id(oid)
            data = read_local(self.store, oid)
            size = len(data)
        except ObjectMissing:
            status = "is missing"
            if self._on_a_remote(oid):
                status = _REMOTE
        except ChecksumMismatch as e:
            status = f"is corrupt (its bytes hash to {e.got})"
            size = _size_or_none(self.store, oid) or 0
        except UsageError:
            status = "is not a well-formed object id"
        except OSError as e:
            status = f"cannot be read ({e.strerror or e})"
        if oid not in self.status:
            if status == _REMOTE:
                self.remote_only += 1
            elif status is None or status.startswith(("is corrupt", "cannot")):
                self.checked_objects += 1
                self.checked_bytes += size
                self.progress.advance(1)
        self.status[oid] = status
        return data

    def _on_a_remote(self, oid: ObjectId) -> bool:
        return any(self.m.remote_has(r.name, [oid]) for r in self.m.remotes())

    def bad(self, oid: ObjectId) -> str | None:
        """What is wrong with an object already read (None: fine, or only on a remote)."""
        s = self.status.get(oid)
        return None if s in (None, _REMOTE) else s

    # -- commits ----------------------------------------------------------------
    def walk_commits(self) -> list[ObjectId]:
        datasets = set(self.m.datasets())
        expect: dict[CommitId, str] = {}
        for r in self.roots:
            expect.setdefault(r.commit, r.dataset)
            if r.kind == "ref" and r.dataset not in datasets:
                self.problem(f"ref {r.ref} belongs to dataset {r.dataset!r}, which the manifest does not list")
        snapshots: dict[ObjectId, None] = {}
        checked: dict[CommitId, Commit] = {}    # the walk asks for parents after the body below
        for cid in ancestors(lambda c: checked.pop(c).parents if c in checked else (),
                             [r.commit for r in self.roots]):
            c = self.check_commit(cid, expect.get(cid))
            if c is None:
                continue
            checked[cid] = c
            if c.parents:
                self.first_parent[cid] = c.parents[0]
            for p in c.parents:
                expect.setdefault(p, c.dataset)
            for sid in c.splits.values():
                self.snapshot_users[sid].add(cid)
                snapshots[sid] = None
        return list(snapshots)

    def check_commit(self, cid: CommitId, dataset: str | None) -> Commit | None:
        """The commit as its object says (else as the manifest says, so the walk goes on)."""
        data = self.read(cid)
        row = self.m.commit(cid)
        c = None
        if self.bad(cid):
            known = "" if row is not None else " and the manifest does not know it"
            self.problem(f"commit {cid} {self.bad(cid)}{known}", cid)
        elif data is not None:
            try:
                c = decode_commit(data)
            except CorruptObject as e:
                self.problem(f"commit {cid} is malformed ({e.message})", cid)
        elif row is None:
            self.problem(f"manifest has no row for commit {cid}, which is only on a remote", cid)
        if c is not None and row is None:
            self.problem(f"manifest has no row for commit {cid}", cid)
        elif c is not None and row != c:
            self.problem(f"manifest row for commit {cid} disagrees with the commit object", cid)
        c = c or row
        if c is not None and dataset is not None and c.dataset != dataset:
            self.problem(f"commit {cid} belongs to dataset {c.dataset!r} but is reached from {dataset!r}", cid)
        return c

    # -- snapshots --------------------------------------------------------------
    def check_snapshots(self, snapshots: list[ObjectId]) -> dict[ObjectId, list[tuple[ShardRef, ObjectId | None]]]:
        """Check each snapshot; return {shard id: [(shard as a snapshot names it, snapshot)]}
        (snapshot None: an unreadable one, its shards as the manifest lists them)."""
        uses: dict[ObjectId, list[tuple[ShardRef, ObjectId | None]]] = defaultdict(list)
        for sid in snapshots:
            snap = self.check_snapshot(sid)
            refs = snap.shards if snap is not None else self._manifest_refs(sid)
            for ref in refs:
                for oid in ref.objects():
                    self.part_of[oid].add(sid)
                uses[ObjectId(ref.id)].append((ref, sid) if snap is not None else (ref, None))
        return uses

    def _manifest_refs(self, sid: ObjectId) -> list[ShardRef]:
        """Shards an unreadable snapshot reads, as far as the manifest knows them."""
        out = []
        for shard_id in manifest_snapshot_shards(self.m, sid) or ():
            row = self.m.shard(shard_id)
            if row is not None:
                out.append(ShardRef(shard_id, ObjectId(row.fingerprints), row.rows, row.bytes, None))
        return out

    def check_snapshot(self, sid: ObjectId) -> Snapshot | None:
        import numpy as np
        import pyarrow as pa

        data = self.read(sid)
        if data is None:
            if self.bad(sid):
                self.problem(f"snapshot {sid} {self.bad(sid)}", sid)
            return None
        try:
            snap = decode_snapshot(data)
            pa.ipc.read_schema(pa.py_buffer(snap.schema_ipc))
            for ref in snap.shards:
                for oid in ref.objects():
                    check_object_id(oid)
        except (CorruptObject, UsageError) as e:
            self.problem(f"snapshot {sid} is malformed ({e.message})", sid)
            return None
        except Exception as e:  # noqa: BLE001 - whatever Arrow raises for a bad schema
            self.problem(f"snapshot {sid} has an unreadable schema ({e})", sid)
            return None
        if snap.num_runs:
            rows = np.asarray([s.rows for s in snap.shards] + [0], dtype=np.int64)
            idx = np.where((snap.run_shard >= 0) & (snap.run_shard < len(snap.shards)), snap.run_shard, -1)
            bad = (idx < 0) | (snap.run_start < 0) | (snap.run_count <= 0) | \
                  (snap.run_start + snap.run_count > rows[idx])
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                self.problem(f"snapshot {sid} has {int(bad.sum())} run(s) outside their shards (run {i}: "
                             f"shard #{int(snap.run_shard[i])}, rows {int(snap.run_start[i])}+"
                             f"{int(snap.run_count[i])})", sid)
        self.schemas[sid] = snap.schema
        info = self.m.snapshot_info(sid)
        if info is None:
            self.problem(f"manifest has no row for snapshot {sid}", sid)
        else:
            listed = set(manifest_snapshot_shards(self.m, sid) or ())
            if (info.rows, info.runs) != (snap.rows, snap.num_runs) or listed != {s.id for s in snap.shards}:
                self.problem(f"manifest row for snapshot {sid} disagrees with the snapshot object "
                             f"({info.rows} rows in {info.runs} runs over {len(listed)} shards; "
                             f"object: {snap.rows} rows in {snap.num_runs} runs over {len(snap.shards)})", sid)
        return snap

    # -- shards and their objects -----------------------------------------------
    def check_shards(self, uses: dict[ObjectId, list[tuple[ShardRef, ObjectId | None]]]) -> None:
        for shard_id in sorted(uses):
            data = self.read(shard_id)
            if self.bad(shard_id):
                self.problem(f"shard {shard_id} {self.bad(shard_id)}", shard_id)
            actual = self.parquet_rows(shard_id, data) if data is not None else None
            for ref, sid in uses[shard_id]:
                if sid is None:             # from the manifest: nothing a snapshot claims
                    continue
                if actual is not None and ref.rows != actual:
                    self.problem(f"shard {shard_id} has {actual} rows but snapshot {sid} says {ref.rows}", shard_id)
                if data is not None and ref.bytes and ref.bytes != len(data):
                    self.problem(f"shard {shard_id} has {len(data)} bytes but snapshot {sid} says {ref.bytes}",
                                 shard_id)
            rows = actual if actual is not None else uses[shard_id][0][0].rows
            for fp in sorted({ref.fingerprints for ref, _ in uses[shard_id]}):
                self.check_fingerprints(fp, shard_id, rows)
            for index in sorted({ref.index for ref, _ in uses[shard_id] if ref.index}):
                self.check_index(index, shard_id, data)
            self.check_shard_row(shard_id, uses[shard_id], actual, data)
            if actual is not None and data is not None:
                self.check_shard_schema(shard_id, data, uses[shard_id])

    def parquet_rows(self, shard_id: ObjectId, data: bytes) -> int | None:
        """Row count from the Parquet footer alone: no column data is decoded."""
        import pyarrow as pa
        import pyarrow.parquet as pq
        try:
            return pq.read_metadata(pa.BufferReader(data)).num_rows
        except Exception as e:  # noqa: BLE001 - Arrow's errors for a bad footer vary
            self.problem(f"shard {shard_id} is not a readable Parquet file ({e})", shard_id)
            return None

    def check_shard_schema(self, shard_id: ObjectId, data: bytes, uses) -> None:
        """Each snapshot's schema must fit the shard's, from the footer alone (see fit.py)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        from dsreg.rows.fit import misfit
        from dsreg.rows.shards import storage_schema
        try:
            schema = pq.read_metadata(pa.BufferReader(data)).schema.to_arrow_schema()
        except Exception as e:  # noqa: BLE001 - Arrow's errors for a bad footer vary
            self.problem(f"shard {shard_id} has an unreadable schema ({e})", shard_id)
            return
        for sid in sorted({sid for _, sid in uses if sid in self.schemas}):
            why = misfit(schema, storage_schema(self.schemas[sid]))
            if why:
                self.problem(f"shard {shard_id} does not fit the schema of snapshot {sid}: {why}", sid)

    def check_fingerprints(self, fp_id: ObjectId, shard_id: ObjectId, rows: int) -> None:
        if fp_id not in self.fp_count:
            data = self.read(fp_id)
            self.fp_count[fp_id] = None
            if self.bad(fp_id):
                self.problem(f"fingerprint object {fp_id} of shard {shard_id} {self.bad(fp_id)}", fp_id)
            elif data is not None:
                try:
                    self.fp_count[fp_id] = len(decode_fingerprints(data))
                except CorruptObject:
                    self.problem(f"fingerprint object {fp_id} of shard {shard_id} is malformed", fp_id)
        n = self.fp_count[fp_id]
        if n is not None and n != rows:
            self.problem(f"fingerprint object {fp_id} of shard {shard_id} holds {n} fingerprints for {rows} rows",
                         fp_id)

    def check_index(self, index_id: ObjectId, shard_id: ObjectId, shard: bytes | None) -> None:
        """The chunk index must describe the shard's bytes exactly (remote reads trust it)."""
        if index_id not in self.index_doc:
            data = self.read(index_id)
            self.index_doc[index_id] = None
            if self.bad(index_id):
                self.problem(f"chunk index {index_id} of shard {shard_id} {self.bad(index_id)}", index_id)
            elif data is not None:
                try:
                    self.index_doc[index_id] = decode_chunk_index(data)
                except CorruptObject:
                    self.problem(f"chunk index {index_id} of shard {shard_id} is malformed", index_id)
        described = self.index_doc[index_id]
        if shard is None or described is None:
            return
        size, ranges = described
        wrong = size != len(shard) or any(
            not (0 <= int(a) and int(a) + int(n) <= len(shard)) or hash_bytes(shard[int(a):int(a) + int(n)]) != h
            for a, n, h in ranges)
        if wrong:
            self.problem(f"chunk index {index_id} does not describe shard {shard_id}", index_id)

    def check_shard_row(self, shard_id, uses, actual: int | None, data: bytes | None) -> None:
        row = self.m.shard(shard_id)
        if row is None:
            self.problem(f"manifest has no row for shard {shard_id}", shard_id)
            return
        mismatch = [what for what, wrong in (
            ("rows", actual is not None and row.rows != actual),
            ("fingerprint object", row.fingerprints not in {ref.fingerprints for ref, _ in uses}),
            ("bytes", data is not None and row.bytes != len(data)),
        ) if wrong]
        if mismatch:
            self.problem(f"manifest row for shard {shard_id} disagrees with the shard ({', '.join(mismatch)})",
                         shard_id)

    # -- naming what a problem affects -----------------------------------------
    def affects(self, about: ObjectId, names: Names) -> str:
        return affects(about, self.snapshot_users, self.part_of, names)


def _size_or_none(store: ObjectStore, oid: ObjectId) -> int | None:
    try:
        return store.size(oid)
    except (ObjectMissing, OSError):
        return None



__all__ = ["fsck", "FsckResult"]
