"""dsreg: a versioned dataset registry with a Git-like command line."""
from __future__ import annotations

__version__ = "0.1.0"

from typing import TYPE_CHECKING  # noqa: E402

from dsreg.errors import DsregError, MergeConflict  # noqa: E402

if TYPE_CHECKING:
    from dsreg.registry import Registry


def __getattr__(name: str):
    # Registry pulls in sqlite-utils (and through it pandas and numpy): load it on first use
    # so `import dsreg` (and `dsreg --help`) stays cheap.
    if name == "Registry":
        from dsreg.registry import Registry
        globals()["Registry"] = Registry
        return Registry
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), "Registry"})


def load(spec: str, split: str = "train", columns: list[str] | None = None, *, registry=None,
         remote: str | None = None, endpoint_url: str | None = None):
    """Read one split of a pinned version as a pyarrow.Table.

    `spec` is NAME[@REV]; the registry is found like git finds a repository (or given).
    With `remote=URL` no registry is needed: the version is read from the remote through
    the user cache (`DSREG_CACHE`), fetching only that split (and, where the store allows
    range reads, only those columns).
    The table's schema metadata records the dataset, commit id and split it came from.
    """
    if remote is not None:
        from dsreg.remote.read import load_remote
        return load_remote(spec, remote, endpoint_url, split=split, columns=columns)
    from dsreg.registry import Registry
    reg = registry if isinstance(registry, Registry) else Registry(registry)
    try:
        return reg.load(spec, split=split, columns=columns)
    finally:
        if reg is not registry:
            reg.close()


__all__ = ["load", "Registry", "DsregError", "MergeConflict", "__version__"]
