"""Progress reporting as a value the library calls; the CLI turns it into bars."""
from __future__ import annotations


class Progress:
    """Receives progress of long operations. The default does nothing."""

    def start(self, label: str, total: int | None, unit: str = "rows") -> None:
        pass

    def advance(self, n: int) -> None:
        pass

    def finish(self) -> None:
        pass

    # A transfer (push, fetch, pull) counts two things at once: the objects it moves (or
    # commits, snapshots, ...: `unit`) and their bytes. Either total is None where it is
    # not known in advance. By default a transfer is reported as a count of its objects.
    def start_transfer(self, label: str, objects: int | None, nbytes: int | None, unit: str = "objects") -> None:
        self.start(label, objects, unit)

    def advance_transfer(self, objects: int, nbytes: int) -> None:
        self.advance(objects)


NO_PROGRESS = Progress()
