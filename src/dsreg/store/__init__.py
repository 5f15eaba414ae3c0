"""Content-addressed object stores behind one small interface.

Every backend names an object by the xxh3-128 hash of its bytes, writes it once,
never overwrites it, and verifies the hash of every object it reads back.
"""
from __future__ import annotations

from dsreg.store.base import ObjectStore
from dsreg.store.local import LocalStore
from dsreg.store.memory import MemoryStore
from dsreg.store.overlay import OverlayStore

__all__ = ["ObjectStore", "LocalStore", "MemoryStore", "OverlayStore", "open_store"]


def open_store(url: str) -> ObjectStore:
    """Choose a backend by URL scheme (`file:///path`, `memory://`, or a plain path)."""
    from dsreg.errors import UsageError

    if url.startswith("memory://"):
        return MemoryStore()
    if url.startswith("file://"):
        return LocalStore(url[len("file://"):])
    if "://" in url:
        raise UsageError(f"unsupported store URL {url!r}", "use file:///path")
    return LocalStore(url)
