"""dsreg: a versioned dataset registry with a Git-like command line."""
from __future__ import annotations

__version__ = "0.1.0"

from .errors import DsregError  # noqa: E402
from .registry import Registry  # noqa: E402


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
        from .remoteread import load_remote
        return load_remote(spec, remote, endpoint_url, split=split, columns=columns)
    reg = registry if isinstance(registry, Registry) else Registry(registry)
    try:
        return reg.load(spec, split=split, columns=columns)
    finally:
        if reg is not registry:
            reg.close()


__all__ = ["load", "Registry", "DsregError", "__version__"]
