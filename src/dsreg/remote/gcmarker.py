"""The remote gc marker: how a push and a `gc --remote` keep out of each other's way.

gc deletes remote objects that no remote ref reaches and that are older than a grace
period. The grace period covers pushes in flight: a push uploads every object it adds
before the ref that reaches it, so those objects are young. What a push reuses without
uploading (an object the remote already held) is covered by a marker: gc writes
`gc/started` first, then waits SETTLE seconds before it reads the refs; a push reads the
marker at its start and again right before each ref update, and stops (to be run again)
if a gc started in between. So a ref update gc cannot see is one whose request took
longer than SETTLE after that check; pushes forget what they believed the remote holds
whenever the marker changed, and ask again. A push that starts while a gc runs (its
marker says `running`) is refused: the gc chose what to delete before the push could
make it reachable. A gc replaces `running` by `finished` however it ends (if the marker
is still its own), except when it is killed; then the next gc finishes the marker.
"""
from __future__ import annotations

import os

from dsreg.errors import RemoteGcRan, RemoteGcRunning


def settle_seconds() -> float:
    """How long gc waits between writing its marker and reading the refs."""
    return float(os.environ.get("DSREG_REMOTE_GC_SETTLE", "60"))


def check_no_gc_running(remote_name: str, marker: dict | None) -> None:
    """Refuse to start a push while a gc deletes: what the push finds on the remote now
    may be on the gc's list already."""
    if marker is not None and marker.get("running"):
        raise RemoteGcRunning(remote_name, float(marker.get("started") or 0))


def check_gc_marker(remote_name: str, remote, seen: dict | None) -> None:
    """Raise RemoteGcRan if a gc started on the remote since `seen` was read."""
    if remote.gc_marker() != seen:
        raise RemoteGcRan(remote_name)


__all__ = ["settle_seconds", "check_no_gc_running", "check_gc_marker"]
