"""Reading a pinned version straight from a remote, without a registry.

Objects land in a user cache (`DSREG_CACHE`, default `~/.cache/dsreg`) only after their
hash is checked. Only the split asked for is fetched; when only some columns are asked
for and a shard is not cached, its footer and just those column chunks are fetched by
range, each verified against the shard's chunk index (itself a verified object).
"""
from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from dsreg.errors import BranchAndTag, ChecksumMismatch, DsregError, UnknownRevision, UnknownSplit, UsageError
from dsreg.ids import CommitId, ObjectId, is_object_id
from dsreg.model.history import nth_first_parent
from dsreg.model.revisions import is_commit_prefix, split_spec
from dsreg.model.serialize import Commit, ShardRef, decode_commit, decode_snapshot
from dsreg.read.dataset import Dataset
from dsreg.read.files import Unverifiable, VerifiedRanges
from dsreg.remote.backends import Remote, open_remote
from dsreg.rows.shards import ShardReader, decode_chunk_index
from dsreg.rows.snapshots import wanted_columns
from dsreg.store import LocalStore, ObjectStore


def cache_dir() -> Path:
    return Path(os.environ.get("DSREG_CACHE") or Path.home() / ".cache" / "dsreg")


class CachedRemoteStore(ObjectStore):
    """Reads through a local cache; writes nothing to the remote."""

    def __init__(self, remote: Remote, cache: LocalStore):
        self.remote, self.cache = remote, cache

    def has(self, oid):
        return self.cache.has(oid) or self.remote.objects.has(oid)

    def get(self, oid):
        if self.cache.has(oid):
            return self.cache.get(oid)
        data = self.remote.objects.get(oid)        # verified
        self.cache.put(data)
        return data

    def read_raw(self, oid):
        return self.cache.read_raw(oid)

    def write_raw(self, oid, data):
        raise DsregError("reading from a remote never writes to it")

    def iter(self):
        return self.cache.iter()

    def delete(self, oid):
        self.cache.delete(oid)

    def size(self, oid):
        return self.cache.size(oid) if self.cache.has(oid) else self.remote.objects.size(oid)

    @property
    def prefers_ranges(self):       # type: ignore[override]
        return self.remote.objects.prefers_ranges

    def read_range(self, oid, start, length):
        # unverified on their own: callers check ranges against a verified chunk index
        if self.cache.has(oid):
            return self.cache.read_range(oid, start, length)
        return self.remote.objects.read_range(oid, start, length)


class _VerifiedRanges(VerifiedRanges):
    """Verified byte ranges of a remote object: a damaged or cut-off reply is asked again,
    and every range is kept (a remote read is slow)."""

    KEEP_ALL = True

    def fetch(self, start: int, length: int, digest: str) -> bytes:
        from dsreg.errors import TransferInterrupted
        from dsreg.store.s3 import again
        return again(lambda: super(_VerifiedRanges, self).fetch(start, length, digest),
                     TransferInterrupted, ChecksumMismatch)


class RangeShardReader(ShardReader):
    """Reads only the wanted columns of uncached shards, by verified ranges."""

    def __init__(self, store: CachedRemoteStore, refs: dict[str, ShardRef], columns):
        super().__init__(store, columns=columns)
        self.refs = refs

    def table(self, shard):
        ref = self.refs.get(shard)
        s: CachedRemoteStore = self.store   # type: ignore[assignment]
        if self.columns is None or ref is None or ref.index is None or s.cache.has(shard) or \
                not s.remote.objects.prefers_ranges:
            return super().table(shard)
        got = self._cache.get(shard)
        if got is None:
            size, ranges = decode_chunk_index(s.get(ref.index))
            footer_start, footer_len, footer_hash = ranges[0]
            file = _VerifiedRanges(s.remote.objects, ref.id, [list(r) for r in ranges], size)
            footer = file.chunk(footer_start, footer_len, footer_hash)
            try:
                md = pq.read_metadata(pa.BufferReader(b"PAR1" + footer))
                got = pq.ParquetFile(file, metadata=md, pre_buffer=False).read(columns=self.columns)
            except Unverifiable:
                return super().table(shard)
            self._cache[shard] = got
        return got


def remote_commit(spec: str, remote_url: str, endpoint_url: str | None = None
                  ) -> tuple[CachedRemoteStore, str, str, Commit]:
    """(store through the cache, dataset, commit id, commit) of NAME[@REV] on a remote."""
    name, rev, back = split_spec(spec)
    remote = open_remote(remote_url, endpoint_url)
    cache = LocalStore(cache_dir() / "objects")
    store = CachedRemoteStore(remote, cache)
    if is_commit_prefix(rev):
        # an id always means that commit, never a ref of that name; a prefix cannot be
        # looked up without listing every commit
        if not is_object_id(rev.lower()):
            raise UnknownRevision(spec, f"{rev!r} is not a full commit id; without a registry, give a branch, "
                                        "a tag or a full commit id (32 hex characters)")
        commit_id = CommitId(ObjectId(rev.lower()))
    else:
        branch, tag = remote.ref(name, "branch", rev), remote.ref(name, "tag", rev)
        if branch is not None and tag is not None:
            raise BranchAndTag(remote_url, name, rev)
        ref = branch or tag
        if ref is None:
            raise UnknownRevision(f"{spec}", f"no branch or tag {rev!r} on {remote_url} "
                                  "(without a registry, give a branch, a tag or a full commit id)")
        commit_id = ref.commit
    commits: dict[str, Commit] = {}

    def read(cid: str) -> Commit:
        if cid not in commits:
            commits[cid] = decode_commit(store.get(ObjectId(cid)))
        return commits[cid]
    found, _ = nth_first_parent(lambda c: read(c).parents, commit_id, back)
    if found is None:
        raise UnknownRevision(spec, "not that many parents")
    commit_id = found
    commit = read(commit_id)
    if commit.dataset != name:
        raise UsageError(f"commit {commit_id[:12]} belongs to dataset {commit.dataset!r}, not {name!r}")
    return store, name, commit_id, commit


def remote_dataset(spec: str, remote_url: str, endpoint_url: str | None = None, split: str = "train",
                   columns: list[str] | None = None, filter=None) -> Dataset:
    """A `Dataset` of a pinned version read straight from a remote, through the cache."""
    store, name, commit_id, commit = remote_commit(spec, remote_url, endpoint_url)
    if split not in commit.splits:
        raise UnknownSplit(f"{spec} has no split {split!r}", f"it has {', '.join(sorted(commit.splits))}")
    snap = decode_snapshot(store.get(commit.splits[split]))
    columns = wanted_columns(columns, snap.schema, f"{spec} split {split!r}")
    refs = {r.id: r for r in snap.shards}
    return Dataset(store, snap, dataset=name, commit=commit_id, split=split, columns=columns, filter=filter,
                   shard_reader=lambda st, cols: RangeShardReader(st, refs, cols), spec=spec)  # type: ignore[arg-type]


def load_remote(spec: str, remote_url: str, endpoint_url: str | None = None, split: str = "train",
                columns: list[str] | None = None) -> pa.Table:
    return remote_dataset(spec, remote_url, endpoint_url, split, columns).to_table()


__all__ = ["load_remote", "remote_dataset", "remote_commit", "cache_dir", "ObjectStore"]
