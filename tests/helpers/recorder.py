"""A Progress that records what a long operation reports."""
from __future__ import annotations

from dsreg.progress import Progress


class Recorder(Progress):
    """A Progress that records every event, for tests of what a long operation reports."""

    def __init__(self):
        self.events = []

    def start(self, label, total, unit="rows"):
        self.events.append(("start", label, total, unit))

    def advance(self, n):
        self.events.append(("advance", n))

    def finish(self):
        self.events.append(("finish",))

    @property
    def advanced(self) -> int:
        return sum(e[1] for e in self.events if e[0] == "advance")
