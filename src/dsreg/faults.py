"""Crash points: named places where the reliability tests kill dsreg, deterministically.

`crashpoint("object.write")` does nothing unless the environment asks for it:

    DSREG_CRASH_AT=object.write:3      SIGKILL this process at the 3rd hit of that label
    DSREG_CRASH_AT=*:17                ... at the 17th crash point hit, whatever its label
    DSREG_CRASH_TRACE=/path/file       append every label hit, one a line (to choose points)

A kill is a real SIGKILL: no `finally`, no atexit, no flushing, exactly what a power cut
or the OOM killer does to the process (the disk keeps what was fsynced or handed to the
kernel). Calls sit at the steps where an interruption could matter: every object write,
both sides of each manifest transaction and remote ref compare-and-swap, each gc deletion.
"""
from __future__ import annotations

import os
import signal
import threading

_lock = threading.Lock()
_hits: dict[str, int] = {}
_total = 0


def crashpoint(label: str) -> None:
    """Die here if DSREG_CRASH_AT names this hit; record it if DSREG_CRASH_TRACE is set."""
    at = os.environ.get("DSREG_CRASH_AT")
    trace = os.environ.get("DSREG_CRASH_TRACE")
    if not at and not trace:
        return
    global _total
    with _lock:
        _total += 1
        n = _hits[label] = _hits.get(label, 0) + 1
        if trace:
            with open(trace, "a") as f:
                f.write(label + "\n")
        if at:
            want, _, count = at.rpartition(":")
            if (want == label and str(n) == count) or (want == "*" and str(_total) == count):
                os.kill(os.getpid(), signal.SIGKILL)


def reset() -> None:
    """Forget the hit counts (for tests that run several operations in one process)."""
    global _total
    with _lock:
        _hits.clear()
        _total = 0
