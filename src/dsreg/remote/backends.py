"""Remotes: an object store plus one small object per ref, moved by compare-and-swap.

Layout under the remote's root (an S3 prefix or a folder):

    objects/ab/cdef...              content-addressed objects, as in the local store
    refs/<dataset>@branch/<name>    {"commit": "<id>"}; '@' cannot appear in a dataset name,
    refs/<dataset>@tag/<name>       so the key parses back unambiguously
    checks/<dataset>@branch/<name>  {"rules": [rule text, ...]}: the branch's checks (checks/)

No server, lock service or database: S3 refs move with conditional PUTs (`If-Match` on
the ETag that was read, `If-None-Match: *` for a new ref); folder refs move under an
exclusive file lock.
"""
from __future__ import annotations

import fcntl
import json
import os
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

from dsreg.errors import EndpointNotApplicable, PreconditionFailed, RefMoved, RemoteError, UsageError
from dsreg.ids import CommitId, ObjectId, is_object_id
from dsreg.manifest.rows import RefKind, ref_kind
from dsreg.model import checked
from dsreg.names import check_dataset_syntax, check_ref_syntax
from dsreg.store import LocalStore, ObjectStore
from dsreg.store.atomic import TEMP_PREFIX, write_atomic
from dsreg.store.s3 import S3Store

KINDS = ("branch", "tag")


@dataclass(frozen=True)
class RemoteRef:
    dataset: str
    kind: RefKind
    name: str
    commit: CommitId
    token: str          # what the next compare-and-swap must match (an ETag, or the commit)


def _ref_key(dataset: str, kind: RefKind, name: str) -> str:
    return f"refs/{dataset}@{kind}/{name}"


def _parse_ref_key(rel: str) -> tuple[str, RefKind, str] | None:
    """(dataset, kind, name) of a ref's key; None for a key no dsreg could have written.
    Names are checked for syntax only: what an older dsreg wrote is listed (so remote gc
    keeps what it reaches), and fetch refuses the names dsreg no longer accepts."""
    if not rel.startswith("refs/") or "@" not in rel:
        return None
    dataset, _, rest = rel[len("refs/"):].partition("@")
    kind_text, _, name = rest.partition("/")
    kind = ref_kind(kind_text)
    if kind is None or not name:
        return None
    try:
        check_dataset_syntax(dataset)
        check_ref_syntax(name, kind)
    except UsageError:
        return None
    return dataset, kind, name


def _decode_ref(data: bytes, dataset: str, kind: RefKind, name: str) -> CommitId:
    try:
        commit = checked.loads(data)["commit"]      # (a ref nested 10,000 deep: no RecursionError)
    except (ValueError, KeyError, TypeError):
        commit = None
    if not isinstance(commit, str) or not is_object_id(commit):
        # named with its dataset: one bad ref among many must be findable
        raise RemoteError(f"remote {kind} {dataset}@{name} is malformed ({_ref_key(dataset, kind, name)} "
                          "holds no commit id)", "fix or delete that ref on the remote")
    return CommitId(ObjectId(commit))


def _encode_ref(commit: CommitId) -> bytes:
    return json.dumps({"commit": commit}).encode() + b"\n"


class Remote:
    """One remote: its objects and its refs."""

    url: str
    objects: ObjectStore

    def refs(self, dataset: str | None = None) -> list[RemoteRef]:
        raise NotImplementedError

    def ref(self, dataset: str, kind: RefKind, name: str) -> RemoteRef | None:
        raise NotImplementedError

    def set_ref(self, dataset: str, kind: RefKind, name: str, commit: CommitId, expected: RemoteRef | None) -> None:
        """Compare-and-swap: succeed only if the ref is still `expected` (None: absent)."""
        raise NotImplementedError

    def probe(self) -> bool:
        """Does the store honour conditional writes? (Needed before any ref update.)"""
        return True

    # -- the checks of each branch: small documents that travel with the refs ------------
    def checks(self, dataset: str, branch: str) -> list[str] | None:
        """The rules (canonical text) of the branch's checks, None when it has none."""
        data = self._read_key(_checks_key(dataset, branch))
        return _decode_checks(data, f"{dataset}@{branch}") if data is not None else None

    def set_checks(self, dataset: str, branch: str, rules: list[str]) -> None:
        """Replace the branch's checks (no rules: remove them)."""
        self._write_key(_checks_key(dataset, branch), json.dumps({"rules": rules}).encode() + b"\n" if rules else None)

    def _read_key(self, rel: str) -> bytes | None:
        raise NotImplementedError

    def _write_key(self, rel: str, data: bytes | None) -> None:
        raise NotImplementedError

    # -- for remote gc (see remotemaint.py) -------------------------------------
    def gc_marker(self) -> dict | None:
        """What the last `gc --remote` wrote ({"id", "started"}, with "running" while it deletes
        and "finished" once it ended), if any."""
        raise NotImplementedError

    def set_gc_marker(self, doc: dict) -> None:
        raise NotImplementedError

    def object_times(self) -> Iterator[tuple[str, float]]:
        """(object id, last-modified time in seconds since the epoch) of every object."""
        raise NotImplementedError


def _decode_marker(data: bytes) -> dict | None:
    try:
        doc = checked.loads(data)
        out = {"id": str(doc["id"]), "started": float(doc["started"])}
        if doc.get("running"):              # a gc deleting now (markers of older dsregs: not known)
            out["running"] = True
        if doc.get("finished") is not None:
            out["finished"] = float(doc["finished"])
        return out
    except (ValueError, KeyError, TypeError, OverflowError):
        return {"id": "malformed", "started": 0.0}


GC_MARKER = "gc/started"


def _folder_path(url: str) -> str:
    """The folder a file:// URL names, its %XX escapes decoded as every URL parser does
    (file:///srv/my%20data is '/srv/my data'); a plain path is taken as it is."""
    malformed = UsageError(f"malformed folder remote URL {url!r}", "use file:///absolute/path")
    if not url.startswith("file://"):
        path = url
    else:
        raw = url[len("file://"):]
        if not raw.startswith("/") or re.search(r"%(?![0-9A-Fa-f]{2})", raw):
            raise malformed
        try:
            path = unquote(raw, errors="strict")
        except UnicodeDecodeError:
            raise malformed from None
    if not path or not os.path.isabs(path) or "\x00" in path:
        raise malformed
    return path


def _checks_key(dataset: str, branch: str) -> str:
    return f"checks/{dataset}@branch/{branch}"


def _decode_checks(data: bytes, where: str) -> list[str]:
    try:
        rules = json.loads(data)["rules"]
    except (ValueError, KeyError, TypeError):
        raise RemoteError(f"the checks of remote branch {where} are malformed") from None
    if not isinstance(rules, list) or not all(isinstance(r, str) for r in rules):
        raise RemoteError(f"the checks of remote branch {where} are malformed")
    return rules


class FolderRemote(Remote):
    objects: LocalStore

    def __init__(self, url: str):
        self.url = url
        self.root = Path(_folder_path(url))
        self.objects = LocalStore(self.root / "objects")
        self.objects.where = url

    def _check(self) -> None:
        if not self.root.is_dir():
            raise RemoteError(f"remote folder {self.root} does not exist", "create it, or check the URL")

    def probe(self) -> bool:
        self._check()       # refs move under a file lock here: conditional writes are ours
        return True

    @contextmanager
    def _locked(self):
        self._check()
        with open(self.root / "refs.lock", "a+") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def refs(self, dataset: str | None = None) -> list[RemoteRef]:
        self._check()
        base = self.root / "refs"
        out = []
        if base.is_dir():
            for p in sorted(base.rglob("*")):
                if not p.is_file() or p.name.startswith(TEMP_PREFIX):
                    continue
                parsed = _parse_ref_key(p.relative_to(self.root).as_posix())
                if parsed and (dataset is None or parsed[0] == dataset):
                    commit = _decode_ref(p.read_bytes(), *parsed)
                    out.append(RemoteRef(*parsed, commit, commit))
        return out

    def ref(self, dataset: str, kind: RefKind, name: str) -> RemoteRef | None:
        p = self.root / _ref_key(dataset, kind, name)
        self._check()
        try:
            commit = _decode_ref(p.read_bytes(), dataset, kind, name)
        except FileNotFoundError:
            return None
        return RemoteRef(dataset, kind, name, commit, commit)

    def set_ref(self, dataset: str, kind: RefKind, name: str, commit: CommitId, expected: RemoteRef | None) -> None:
        with self._locked():
            current = self.ref(dataset, kind, name)
            if (current.token if current else None) != (expected.token if expected else None):
                raise RefMoved(dataset, name)
            write_atomic(self.root / _ref_key(dataset, kind, name), _encode_ref(commit))

    def gc_marker(self) -> dict | None:
        self._check()
        try:
            return _decode_marker((self.root / GC_MARKER).read_bytes())
        except FileNotFoundError:
            return None

    def set_gc_marker(self, doc: dict) -> None:
        write_atomic(self.root / GC_MARKER, json.dumps(doc).encode())

    def _read_key(self, rel: str) -> bytes | None:
        self._check()
        try:
            return (self.root / rel).read_bytes()
        except FileNotFoundError:
            return None

    def _write_key(self, rel: str, data: bytes | None) -> None:
        self._check()
        if data is None:
            (self.root / rel).unlink(missing_ok=True)
        else:
            write_atomic(self.root / rel, data)

    def object_times(self) -> Iterator[tuple[str, float]]:
        for oid in self.objects.iter():
            try:
                yield oid, self.objects.path(oid).stat().st_mtime
            except FileNotFoundError:
                continue


class S3Remote(Remote):
    objects: S3Store

    def __init__(self, url: str, endpoint_url: str | None = None):
        self.url = url
        self.objects = S3Store(url, endpoint_url)

    def refs(self, dataset: str | None = None) -> list[RemoteRef]:
        s3 = self.objects
        base = s3.key("")
        prefix = s3.key(f"refs/{dataset}@" if dataset else "refs/")
        out = []
        for key, _ in s3.list_keys(prefix):
            parsed = _parse_ref_key(key[len(base):])
            if parsed:
                got = s3.get_key(key)
                if got is not None:
                    out.append(RemoteRef(*parsed, _decode_ref(got[0], *parsed), got[1]))
        return out

    def ref(self, dataset: str, kind: RefKind, name: str) -> RemoteRef | None:
        got = self.objects.get_key(self.objects.key(_ref_key(dataset, kind, name)))
        if got is None:
            return None
        return RemoteRef(dataset, kind, name, _decode_ref(got[0], dataset, kind, name), got[1])

    def set_ref(self, dataset: str, kind: RefKind, name: str, commit: CommitId, expected: RemoteRef | None) -> None:
        try:
            self.objects.put_key_if(self.objects.key(_ref_key(dataset, kind, name)), _encode_ref(commit),
                                    expected.token if expected else None)
        except PreconditionFailed:
            # A conditional PUT that landed but whose reply was lost is retried by botocore
            # and then fails its own condition: if the ref now holds our commit, we won.
            now = self.ref(dataset, kind, name)
            if now is not None and now.commit == commit:
                return
            raise RefMoved(dataset, name) from None

    def probe(self) -> bool:
        """Write a probe key three ways; a store that honours conditions refuses two."""
        s3 = self.objects
        key = s3.key(f"probes/{secrets.token_hex(8)}")
        try:
            s3.put_key_if(key, b"1", None)
        except PreconditionFailed:
            pass        # our own write landed, its reply was lost, and the retry found the key
        honoured = True
        try:
            s3.put_key_if(key, b"2", None)          # If-None-Match: * on an existing key
            honoured = False
        except PreconditionFailed:
            pass
        try:
            s3.put_key_if(key, b"3", '"0000000000000000000000000000000f"')   # If-Match on a wrong ETag
            honoured = False
        except PreconditionFailed:
            pass
        try:
            s3.delete_key(key, "delete probe")
        except RemoteError:
            pass
        return honoured

    def gc_marker(self) -> dict | None:
        got = self.objects.get_key(self.objects.key(GC_MARKER))
        return _decode_marker(got[0]) if got is not None else None

    def set_gc_marker(self, doc: dict) -> None:
        self.objects.put_key(self.objects.key(GC_MARKER), json.dumps(doc).encode(), "write gc marker")

    def _read_key(self, rel: str) -> bytes | None:
        got = self.objects.get_key(self.objects.key(rel))
        return got[0] if got is not None else None

    def _write_key(self, rel: str, data: bytes | None) -> None:
        if data is None:
            self.objects.delete_key(self.objects.key(rel), "delete checks")
        else:
            self.objects.put_key(self.objects.key(rel), data, "write checks")

    def object_times(self) -> Iterator[tuple[str, float]]:
        s3 = self.objects
        base = s3.key("objects/")
        for key, modified in s3.list_keys(base):
            oid = key[len(base):].replace("/", "")
            if is_object_id(oid) and modified is not None:
                yield oid, modified.timestamp()


def open_remote(url: str, endpoint_url: str | None = None) -> Remote:
    from dsreg.redact import has_userinfo
    if has_userinfo(url) or has_userinfo(endpoint_url or ""):
        # refused before anything could store or print it
        raise UsageError("a remote URL or endpoint must not hold credentials (user:password@)",
                         "credentials come from the usual AWS sources: environment, ~/.aws, AWS_PROFILE")
    if any(c in u for u in (url, endpoint_url or "") for c in "?#"):
        # a query string is where presigned URLs carry their secrets; dsreg would store it
        raise UsageError("a remote URL or endpoint must not hold a query string or fragment ('?...', '#...')",
                         "remove it (credentials come from the usual AWS sources), or write '?' and '#' in "
                         "a folder name as %3F and %23")
    if url.startswith("s3://"):
        return S3Remote(url, endpoint_url)
    if url.startswith("file://"):
        if endpoint_url:
            raise EndpointNotApplicable(url)
        return FolderRemote(url)
    raise UsageError(f"unsupported remote URL {url!r}", "use s3://bucket/prefix or file:///absolute/path")


def iter_kinds() -> Iterator[str]:
    return iter(KINDS)
