"""Putting good copies back: local objects from remotes, remote objects from the local store.

Every copy is verified against its id before it replaces anything, and replaces the
damaged one atomically (temp file + rename locally; one PUT remotely), so a repair
interrupted halfway leaves each object either as it was or good.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from dsreg.errors import ChecksumMismatch, DsregError, ObjectMissing
from dsreg.ids import ObjectId
from dsreg.maintenance.reach import read_local

if TYPE_CHECKING:
    from dsreg.registry import Registry


def restore_from_remotes(reg: Registry, oids: list[ObjectId]) -> list[str]:
    """Replace each local object in `oids` by a verified copy from the first remote with
    a good one (origin first). Returns one line per object restored, naming the remote;
    objects no remote can supply are left as they are."""
    remotes = sorted(reg.manifest.remotes(), key=lambda r: r.name != "origin")
    opened = []
    for info in remotes:
        try:
            from dsreg.remote.backends import open_remote
            opened.append((info.name, open_remote(info.url, info.endpoint_url)))
        except DsregError:
            continue
    done = []
    for oid in oids:
        for name, remote in opened:
            try:
                data = remote.objects.get(oid)          # verified: a damaged copy raises
            except (ObjectMissing, ChecksumMismatch):
                continue
            except DsregError:
                continue                                # unreachable: try the next remote
            reg.store.restore(oid, data)
            done.append(f"object {oid} from {name}")
            break
    return done


def restore_to_remote(reg: Registry, remote, oids: list[ObjectId]) -> tuple[list[str], list[ObjectId]]:
    """Replace each object in `oids` on `remote` by the verified local copy. Returns (lines
    for what was restored, ids with no good local copy)."""
    done, missing = [], []
    for oid in oids:
        try:
            data = read_local(reg.store, oid)
        except (ObjectMissing, ChecksumMismatch, OSError):
            missing.append(oid)
            continue
        remote.objects.restore(oid, data)
        done.append(f"object {oid} on {remote.url}")
    return done, missing
