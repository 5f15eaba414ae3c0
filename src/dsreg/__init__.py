"""dsreg: a versioned dataset registry with a Git-like command line."""
from __future__ import annotations

from typing import TYPE_CHECKING

from dsreg.errors import DsregError, MergeConflict
from dsreg.version import __version__

if TYPE_CHECKING:
    from dsreg.integrations.dataset import Dataset
    from dsreg.registry import Registry


def __getattr__(name: str):
    # Registry pulls in sqlite-utils (and through it pandas and numpy): load it on first use
    # so `import dsreg` (and `dsreg --help`) stays cheap.
    if name == "Registry":
        from dsreg.registry import Registry
        globals()["Registry"] = Registry
        return Registry
    if name == "Dataset":
        from dsreg.integrations.dataset import Dataset
        globals()["Dataset"] = Dataset
        return Dataset
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), "Registry", "Dataset"})


def dataset(spec: str, split: str = "train", columns: list[str] | None = None, filter=None, *,
            registry=None, remote: str | None = None, endpoint_url: str | None = None) -> Dataset:
    """One split of a pinned version as a `dsreg.Dataset`: streamed, filtered, read in units,
    or handed to pandas, polars, DuckDB, Hugging Face datasets or torch.

    `spec` is NAME[@REV] (the registry is found like git finds a repository, or given), or
    `lock:ALIAS`, an entry of the project's `dsreg.lock`, read from the local registry when
    it has that commit, else from the remote the entry records. With `remote=URL` no
    registry is needed: objects are fetched as they are read, verified, into the user
    cache (`DSREG_CACHE`). `filter` is a pyarrow compute expression.
    """
    import functools

    from dsreg.integrations.dataset import Dataset
    if remote is not None and not spec.startswith("lock:"):
        from dsreg.remote.read import remote_dataset
        ds = remote_dataset(spec, remote, endpoint_url, split=split, columns=columns, filter=filter)
        ds.reopen = functools.partial(dataset, f"{ds.dataset}@{ds.commit}", split, remote=remote,
                                      endpoint_url=endpoint_url)
        return Dataset.of(ds)
    from dsreg.errors import RegistryNotFound
    from dsreg.read.dataset import open_dataset
    from dsreg.registry import Registry
    if isinstance(registry, Registry):
        reg: Registry | None = registry
    else:
        try:
            reg = Registry(registry)
        except RegistryNotFound:
            if not spec.startswith("lock:"):
                raise
            reg = None          # a pinned version is read from its remote
    try:
        if spec.startswith("lock:"):
            from dsreg.remote.pinned import open_locked
            ds, pin, local = open_locked(spec[len("lock:"):], reg, split=split, columns=columns, filter=filter)
            where = {"registry": str(reg.root)} if local and reg is not None else \
                {"remote": pin.remote, "endpoint_url": pin.endpoint_url}
            # in another process, the same commit (the lock file may move meanwhile)
            ds.reopen = functools.partial(dataset, f"{pin.dataset}@{pin.commit}", split, **where)
            return Dataset.of(ds)
        assert reg is not None
        ds = open_dataset(reg, spec, split=split, columns=columns, filter=filter)
        ds.reopen = functools.partial(dataset, f"{ds.dataset}@{ds.commit}", split, registry=str(reg.root))
        return Dataset.of(ds)
    finally:
        if reg is not None and reg is not registry:
            # the Dataset reads objects only; a clone's store reopens the manifest to find
            # its remotes if an object is missing
            reg.close()


def load(spec: str, split: str = "train", columns: list[str] | None = None, *, registry=None,
         remote: str | None = None, endpoint_url: str | None = None):
    """Read one split of a pinned version as a pyarrow.Table: `dataset(...).to_table()`.

    `spec` is NAME[@REV] or `lock:ALIAS`; the registry is found like git finds a repository
    (or given). With `remote=URL` no registry is needed: the version is read from the remote
    through the user cache (`DSREG_CACHE`), fetching only that split (and, where the store
    allows range reads, only those columns).
    The table's schema metadata records the dataset, commit id and split it came from.
    """
    if spec.startswith("lock:") or remote is not None:
        return dataset(spec, split, columns, registry=registry, remote=remote, endpoint_url=endpoint_url).to_table()
    from dsreg.read.dataset import open_dataset
    from dsreg.registry import Registry
    reg = registry if isinstance(registry, Registry) else Registry(registry)
    try:
        return open_dataset(reg, spec, split=split, columns=columns).to_table()
    finally:
        if reg is not registry:
            reg.close()


__all__ = ["load", "dataset", "Dataset", "Registry", "DsregError", "MergeConflict", "__version__"]
