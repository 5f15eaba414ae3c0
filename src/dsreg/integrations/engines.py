"""What the Ray and Dask adapters share: opening the version read and the registry
committed to, and a commit from an engine's partitions with the branch's checks (the
two phases themselves are engine-neutral: versions/distributed.py)."""
from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from dsreg.errors import UsageError
from dsreg.read import dataset as core
from dsreg.versions.commit import CommitResult
from dsreg.versions.distributed import Engine, commit_partitions

if TYPE_CHECKING:
    import pyarrow.compute as pc

    from dsreg.registry import Registry


def open_version(spec: Any, split: str, columns: list[str] | None, filter: pc.Expression | None,
                 registry: Any, remote: str | None, endpoint_url: str | None) -> core.Dataset:
    """The version read, as a `Dataset` that workers reopen by themselves when it is
    pickled: `spec` is NAME[@REV] in `registry` (an open `dsreg.Registry`, whose folder
    they must reach) or on `remote`, or already a `dsreg.Dataset`."""
    if isinstance(spec, core.Dataset):
        ds = spec
        if columns is not None:
            ds = ds.select(columns)
        if filter is not None:
            ds = ds.where(filter)
        return ds
    if remote is not None:
        from dsreg.remote.read import remote_dataset
        ds = remote_dataset(spec, remote, endpoint_url, split=split, columns=columns, filter=filter)
        ds.reopen = functools.partial(_remote, f"{ds.dataset}@{ds.commit}", split, remote, endpoint_url)
        return ds
    reg = _registry(registry)
    ds = core.open_dataset(reg, spec, split=split, columns=columns, filter=filter)
    # the class from the instance: this layer sits below the registry's
    ds.reopen = functools.partial(_local, type(reg), str(reg.root), f"{ds.dataset}@{ds.commit}", split)
    return ds


def _remote(spec: str, split: str, remote: str, endpoint_url: str | None) -> core.Dataset:
    from dsreg.remote.read import remote_dataset
    return remote_dataset(spec, remote, endpoint_url, split=split)


def _local(registry_class: type, root: str, spec: str, split: str) -> core.Dataset:
    reg = registry_class(root)
    try:
        ds = core.open_dataset(reg, spec, split=split)
    finally:
        reg.close()         # the Dataset reads objects only
    ds.reopen = functools.partial(_local, registry_class, root, spec, split)
    return ds


def _registry(registry: Any) -> Registry:
    if registry is None or not hasattr(registry, "manifest"):
        raise UsageError("registry= takes an open dsreg.Registry (or read from remote=URL)",
                         "e.g. registry=dsreg.Registry('.')")
    return registry


def commit_engine(engine: Engine, name: str, *, registry: Any, remote: str | None, origin: str,
                  endpoint_url: str | None = None, no_verify: bool = False, **options: Any) -> CommitResult:
    """Commit the engine's partitions to `registry` (an open `dsreg.Registry` on a disk
    the workers share) and check the branch's rules, as `Registry.commit` does; or, with
    `remote`, straight to that remote's branch, its checks enforced as push enforces them."""
    if remote is not None:
        if registry is not None:
            raise UsageError("give registry= or remote=, not both",
                             "commit to the registry, then push it; or commit straight to the remote")
        return _commit_to_remote(engine, name, remote, endpoint_url, origin, no_verify, options)
    from dsreg.checks.verify import CommitVerifier
    reg = _registry(registry)
    verifier = None if no_verify else CommitVerifier(reg)
    result = commit_partitions(reg, engine, name, verify=verifier, origin=origin, **options)
    if verifier is not None and not result.unchanged:
        verifier.recorded(result.id, "commit")
    return result


def _commit_to_remote(engine: Engine, name: str, url: str, endpoint_url: str | None, origin: str,
                      no_verify: bool, options: dict[str, Any]) -> CommitResult:
    from dsreg.checks.verify import push_verifier
    from dsreg.remote.direct import remote_destination
    branch = options.get("branch", "main")
    with remote_destination(url, endpoint_url, name, branch,
                            None if no_verify else push_verifier) as (scratch, destination):
        return commit_partitions(scratch, engine, name, origin=origin,  # type: ignore[arg-type]
                                 destination=destination, **options)
