"""Opening a DVC repository: the lazy import of DVC, one-line errors, and DVC kept quiet.

DVC logs hints ("To track the changes with git, run: ...") through its own logger; the
library never prints, so those are silenced while a DVC call runs. DVC's failures come
back as exceptions, which become DsregErrors here.
"""
from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from dsreg.errors import DsregError, UsageError

INSTALL_HINT = "install it with: pip install 'dsreg[dvc]'"


def require_dvc() -> None:
    """Import DVC and scmrepo, or say in one line how to get them."""
    for module in ("dvc.repo", "dvc.api", "scmrepo.git"):
        try:
            importlib.import_module(module)
        except ImportError:
            raise DsregError("the DVC bridge needs DVC, which is not installed", INSTALL_HINT) from None


@contextmanager
def quiet() -> Iterator[None]:
    """DVC's own log lines (hints, warnings) do not reach the terminal from the library."""
    logger = logging.getLogger("dvc")
    level = logger.level
    logger.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        logger.setLevel(level)


def first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


@contextmanager
def open_repo(path: str | os.PathLike) -> Iterator[Any]:
    """The `dvc.repo.Repo` of the git repository at `path`, closed afterwards.

    Refused: a path that does not exist, a folder that is no git repository, and a git
    repository in which DVC was never initialized."""
    require_dvc()
    from dvc.exceptions import NotDvcRepoError
    from dvc.repo import Repo
    from dvc.scm import NoSCM
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise DsregError(f"no such folder: {path}")
    folder = folder.resolve()
    with quiet():
        try:
            repo = Repo(str(folder))
        except NotDvcRepoError:
            if not is_git_repo(folder):
                raise DsregError(f"{path} is not a git repository",
                                 "give the folder of a git repository in which DVC tracks data") from None
            raise DsregError(f"{path} is a git repository without DVC (no .dvc folder)",
                             "run 'dvc init' there first") from None
        try:
            if isinstance(repo.scm, NoSCM):
                raise DsregError(f"the DVC repository {repo.root_dir} is not in a git repository "
                                 "(made by DVC without git)", "the DVC bridge follows DVC data through git history")
            yield repo
        finally:
            repo.close()


def is_git_repo(folder: Path) -> bool:
    from scmrepo.exceptions import SCMError
    from scmrepo.git import Git
    try:
        Git(str(folder)).close()
    except SCMError:
        return False
    return True


def inside(repo: Any, path: str | os.PathLike) -> str:
    """PATH relative to the repository's root, in git's form (`data/train.parquet`).

    A relative PATH is taken from the repository's root, as `dvc.api.open(path, repo=...)`
    takes it; an absolute one must lie inside the repository."""
    root = Path(repo.root_dir)
    p = Path(path)
    full = p.resolve() if p.is_absolute() else Path(os.path.normpath(root / p))
    try:
        rel = full.relative_to(root)
    except ValueError:
        raise UsageError(f"{path} is outside the repository {root}") from None
    if not rel.parts or rel.parts[0] in (".git", ".dvc"):
        raise UsageError(f"{path!r} names no data inside the repository {root}")
    return rel.as_posix()


def resolve_git_rev(repo: Any, rev: str) -> str:
    """The full sha of a git revision (a branch, tag, sha, HEAD~2, ...)."""
    from scmrepo.exceptions import SCMError
    try:
        return repo.scm.resolve_rev(rev)
    except SCMError:
        raise DsregError(f"unknown git revision {rev!r} in {repo.root_dir}",
                         "give a branch, tag or commit git knows ('git log' lists them)") from None
