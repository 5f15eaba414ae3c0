"""Cloning: the remote-layer half of `Registry.clone`.

The registry itself is created above this layer (`Registry.clone`, with `Registry.init`);
here: checking the target folder and the remote before anything is created, removing
what a failed clone created, and filling the new registry: origin set, every ref's
metadata fetched, a local branch or tag for each.
"""
from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from dsreg.errors import DsregError
from dsreg.progress import NO_PROGRESS, Progress
from dsreg.remote.backends import open_remote
from dsreg.remote.transfer import FetchResult, add_remote, adopt_checks, fetch

if TYPE_CHECKING:
    from dsreg.registry import Registry


class CloneResult(NamedTuple):
    registry: Registry
    fetched: FetchResult


def clone_target(directory: str | os.PathLike[str]) -> Path:
    """`directory` as an absolute path, if it is new or an empty folder (as git clone wants)."""
    directory = Path(directory).absolute()
    if directory.exists() and not (directory.is_dir() and not any(directory.iterdir())):
        raise DsregError(f"{directory} already exists and is not an empty folder",
                         "clone into a new or empty folder")
    return directory


def remote_url(url: str) -> str:
    """A remote given as a plain folder path (git accepts one) as its `file://` URL."""
    if "://" in url:
        return url
    return Path(url).expanduser().resolve().as_uri()


def check_readable(url: str, endpoint_url: str | None = None) -> None:
    """Fail early, before anything is created, if the remote cannot be read."""
    open_remote(url, endpoint_url).refs()


@contextmanager
def removed_on_failure(directory: Path) -> Iterator[None]:
    """Whatever the body creates in `directory` (and `directory` itself, and its missing
    parents) is removed again if it fails or is interrupted."""
    created: Path | None = None     # what to remove on failure: the folder, or its new contents
    if not directory.exists():
        created = directory
        while not created.parent.exists():
            created = created.parent
    try:
        yield
    except BaseException:
        for path in [created] if created is not None else list(directory.iterdir()):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        raise


def fill_clone(reg: Registry, url: str, endpoint_url: str | None = None, *,
               progress: Progress = NO_PROGRESS) -> FetchResult:
    """Set `url` as origin of the new, empty registry `reg`, fetch every ref's metadata,
    and create the same branches and tags locally, with the branches' checks."""
    add_remote(reg, "origin", url, endpoint_url)
    fetched = fetch(reg, "origin", progress=progress)
    m = reg.manifest
    with m.transaction():
        for ref in m.remote_refs("origin"):
            m.add_dataset(ref.dataset)
            if m.ref(ref.dataset, ref.kind, ref.name) is None:
                m.set_ref(ref.dataset, ref.kind, ref.name, ref.commit, None, f"clone: from {url}")
    remote = open_remote(url, endpoint_url)
    for ref in m.remote_refs("origin"):
        if ref.kind == "branch":        # the checks travel with the branches
            adopt_checks(reg, remote, ref.dataset, ref.name)
    return fetched


__all__ = ["CloneResult", "clone_target", "remote_url", "check_readable", "removed_on_failure", "fill_clone"]
