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


NO_PROGRESS = Progress()
