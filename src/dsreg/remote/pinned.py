"""The lock file's verbs: pin a version (from a registry or a remote), move pins along
their refs, verify that every pinned version is there and intact, and open a pinned
version with or without a local registry (from the remote the pin records)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dsreg.errors import DsregError, UsageError
from dsreg.ids import ObjectId
from dsreg.model.revisions import split_spec
from dsreg.model.serialize import decode_commit, decode_snapshot
from dsreg.read.dataset import Dataset, open_dataset
from dsreg.read.lock import FILENAME, Pin, check_alias, find_lock, read_lock, write_lock
from dsreg.remote.read import remote_commit, remote_dataset
from dsreg.store import ObjectStore

if TYPE_CHECKING:
    from dsreg.registry import Registry


def lock_path(reg: Registry | None, must_exist: bool = True) -> Path:
    found = find_lock()
    if found is not None:
        return found
    if must_exist:
        raise UsageError(f"no {FILENAME} here or in any parent folder", "create one with 'dsreg lock add NAME'")
    return (reg.root if reg is not None else Path(os.getcwd())) / FILENAME


def _remote_url(reg: Registry | None, remote: str | None) -> tuple[str | None, str | None]:
    """A remote named in the registry, or a URL; with neither, the registry's origin (so the
    pin can be read where there is no registry)."""
    if reg is not None:
        rows = {r.name: r for r in reg.manifest.remotes()}
        row = rows.get(remote) if remote is not None else rows.get("origin")
        if row is not None:
            return row.url, row.endpoint_url
    if remote is not None and "://" not in remote:
        raise UsageError(f"no remote named {remote!r}", "give a remote's name or its URL (s3://..., file://...)")
    return remote, None


def _has_commit(reg: Registry | None, name: str, commit: str) -> bool:
    return reg is not None and reg.manifest.has_dataset(name) and reg.manifest.commit(commit) is not None


def _resolve(reg: Registry | None, spec: str, url: str | None, endpoint: str | None) -> tuple[str, str, str | None]:
    """(dataset, full commit id, the branch or tag it came from) of NAME[@REV]."""
    name, rev, _ = split_spec(spec)
    if reg is not None and reg.manifest.has_dataset(name):
        from dsreg.model.revisions import resolve
        r = resolve(reg, spec)
        ref = r.rev if (r.back == 0 and not r.commit_id.startswith(r.rev)) else None
        return r.dataset, r.commit_id, ref
    if url is None:
        raise UsageError(f"cannot resolve {spec!r}: no local dataset {name!r} and no remote",
                         "name the remote (a registry remote's name or a URL)")
    _, dataset, commit_id, _ = remote_commit(spec, url, endpoint)
    return dataset, commit_id, (rev if not commit_id.startswith(rev) and "~" not in spec else None)


def lock_add(reg: Registry | None, spec: str, alias: str | None = None, remote: str | None = None) -> Pin:
    url, endpoint = _remote_url(reg, remote)
    dataset, commit, ref = _resolve(reg, spec, url, endpoint)
    alias = check_alias(alias or dataset)
    path = lock_path(reg, must_exist=False)
    pins = read_lock(path) if path.is_file() else {}
    pins[alias] = Pin(alias, dataset, commit, ref, url, endpoint)
    write_lock(path, pins)
    return pins[alias]


@dataclass(frozen=True)
class PinUpdate:
    alias: str
    old: str
    new: str


def lock_update(reg: Registry | None, alias: str | None = None) -> list[PinUpdate]:
    """Move pins taken from a branch to where it is now (one, or all); pins of a tag or a
    commit stay."""
    path = lock_path(reg)
    pins = read_lock(path)
    if alias is not None and alias not in pins:
        raise UsageError(f"no pin {alias!r} in {path}", f"pins: {', '.join(sorted(pins)) or 'none'}")
    out = []
    for a, pin in sorted(pins.items()):
        if (alias is not None and a != alias) or pin.ref is None:
            continue
        _, commit, _ = _resolve(reg, f"{pin.dataset}@{pin.ref}", pin.remote, pin.endpoint_url)
        if commit != pin.commit:
            pins[a] = Pin(a, pin.dataset, commit, pin.ref, pin.remote, pin.endpoint_url)
        out.append(PinUpdate(a, pin.commit, commit))
    write_lock(path, pins)
    return out


@dataclass(frozen=True)
class PinCheck:
    alias: str
    commit: str
    ok: bool
    problem: str | None = None


def _verify_objects(store: ObjectStore, commit_id: str) -> None:
    """Every object of the commit read and checked against its id."""
    commit = decode_commit(store.get(ObjectId(commit_id)))
    for sid in commit.splits.values():
        snap = decode_snapshot(store.get(ObjectId(sid)))
        for ref in snap.shards:
            for oid in ref.objects():
                store.get(oid)


def lock_verify(reg: Registry | None) -> list[PinCheck]:
    out = []
    for alias, pin in sorted(read_lock(lock_path(reg)).items()):
        try:
            if _has_commit(reg, pin.dataset, pin.commit):
                assert reg is not None
                _verify_objects(reg.store, pin.commit)
            elif pin.remote is not None:
                store, _, _, _ = remote_commit(f"{pin.dataset}@{pin.commit}", pin.remote, pin.endpoint_url)
                _verify_objects(store, pin.commit)
            else:
                raise UsageError(f"commit {pin.commit[:12]} of {pin.dataset!r} is not here and the pin names no remote")
            out.append(PinCheck(alias, pin.commit, True))
        except DsregError as e:
            out.append(PinCheck(alias, pin.commit, False, str(e)))
    return out


def lock_list(reg: Registry | None = None) -> list[Pin]:
    return [p for _, p in sorted(read_lock(lock_path(reg)).items())]


def open_locked(alias: str, reg: Registry | None, split: str = "train", columns: list[str] | None = None,
                filter: Any = None) -> tuple[Dataset, Pin, bool]:
    """The pinned version, and whether it came from the local registry (which is used when
    it has the commit); else it is read from the pin's remote."""
    path = find_lock(reg.root if reg is not None else None)
    if path is None:
        raise UsageError(f"no {FILENAME} here or in any parent folder", "create one with 'dsreg lock add NAME'")
    pins = read_lock(path)
    if alias not in pins:
        raise UsageError(f"no pin {alias!r} in {path}", f"pins: {', '.join(sorted(pins)) or 'none'}")
    pin = pins[alias]
    spec = f"{pin.dataset}@{pin.commit}"
    if reg is not None and _has_commit(reg, pin.dataset, pin.commit):
        return open_dataset(reg, spec, split=split, columns=columns, filter=filter), pin, True
    if pin.remote is None:
        raise UsageError(f"pin {alias!r}: commit {pin.commit[:12]} is not in a registry here and the pin names "
                         "no remote", "pull it, or pin it again naming a remote")
    return remote_dataset(spec, pin.remote, pin.endpoint_url, split=split, columns=columns, filter=filter), pin, False
