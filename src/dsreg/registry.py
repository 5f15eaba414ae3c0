"""A registry on disk: a `.dsreg/` folder holding the manifest, the object store and config.

`Registry` is the handle the porcelain verbs take; its verb methods are the Python API.
"""
from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dsreg.errors import ManifestMissing, ManifestUnreadable, RegistryExists, RegistryNotFound, RegistryReadOnly
from dsreg.manifest.database import Manifest
from dsreg.progress import NO_PROGRESS, Progress
from dsreg.store.atomic import write_atomic
from dsreg.store.overlay import OverlayStore

if TYPE_CHECKING:
    import pyarrow as pa

    from dsreg.diff.compare import DiffResult
    from dsreg.ids import CommitId
    from dsreg.maintenance.fsck import FsckResult
    from dsreg.maintenance.gc import GcResult
    from dsreg.maintenance.rebuild import RebuildResult
    from dsreg.manifest.rows import ReflogEntry
    from dsreg.model.log import LogEntry
    from dsreg.porcelain import CheckoutResult
    from dsreg.remote.clone import CloneResult
    from dsreg.remote.transfer import FetchResult, PullResult, PushResult
    from dsreg.rows.settings import RowSettings
    from dsreg.store.staged import StagedStore
    from dsreg.versions.commit import CommitResult
    from dsreg.versions.describe import VersionInfo
    from dsreg.versions.merge import MergeResult
    from dsreg.versions.refs import CreatedRef, DatasetRefs, DeletedRef

DIRNAME = ".dsreg"
MANIFEST = "manifest.sqlite"


def find_registry(start: str | os.PathLike | None = None, need_manifest: bool = True) -> Path:
    """The project folder holding `.dsreg/`: DSREG_DIR, else walk up from `start` (or cwd).

    A `.dsreg/` whose manifest is gone but whose object store is there is still this
    registry, not a reason to look further up: ManifestMissing, unless `need_manifest`
    is False (`fsck --rebuild` makes a new one)."""
    if start is None and os.environ.get("DSREG_DIR"):
        start = os.environ["DSREG_DIR"]
        if not (Path(start) / DIRNAME).is_dir():
            raise RegistryNotFound(str(start))
        return Path(start).resolve()
    here = Path(start or os.getcwd()).resolve()
    for folder in [here, *here.parents]:
        if (folder / DIRNAME / MANIFEST).is_file():
            return folder
        if (folder / DIRNAME / "objects").is_dir():
            if need_manifest:
                raise ManifestMissing(str(folder / DIRNAME / MANIFEST))
            return folder
    raise RegistryNotFound(str(here))


class Registry:
    """An open registry. Use `Registry(path)` to open one, `Registry.init(path)` to create one."""

    def __init__(self, path: str | os.PathLike | None = None, *, need_manifest: bool = True,
                 _discover: bool = True):
        # need_manifest=False: open a registry whose manifest is missing or unreadable, to
        # rebuild it (`rebuild_manifest`); its `manifest` still refuses until then
        root = find_registry(path, need_manifest) if _discover else Path(path).resolve()  # type: ignore[arg-type]
        self.root = root
        self.dir = root / DIRNAME
        # an object missing here is fetched from the remotes (origin first): a clone's data on demand
        # (a commit in progress stages its objects: store/staged.py)
        self.store: OverlayStore | StagedStore = OverlayStore(self.dir / "objects", self._remote_stores)
        self._manifest: Manifest | None = None
        self._opened_remotes: list | None = None
        self._create_manifest = False       # only `init` may create an empty one

    @classmethod
    def init(cls, path: str | os.PathLike = ".") -> Registry:
        root = Path(path).resolve()
        d = root / DIRNAME
        if (d / "manifest.sqlite").exists():
            raise RegistryExists(f"a registry already exists in {root}")
        (d / "objects").mkdir(parents=True, exist_ok=True)
        (d / "tmp").mkdir(exist_ok=True)
        config = d / "config.json"
        if not config.exists():
            write_atomic(config, (json.dumps({"format": 1}, indent=2) + "\n").encode(), mode=0o666)
        reg = cls(root, _discover=False)
        reg._create_manifest = True
        _ = reg.manifest        # creates and migrates the database
        return reg

    @classmethod
    def clone(cls, url: str, directory: str | os.PathLike[str], endpoint_url: str | None = None, *,
              progress: Progress = NO_PROGRESS) -> CloneResult:
        """A new registry in `directory` (new, or an empty folder) with origin set to `url`
        and every branch and tag of the remote, with their commits' metadata; the data
        arrives on demand. If anything fails (or is interrupted), what the clone created is
        removed again. Returns (registry, what was fetched)."""
        from dsreg.remote.clone import (
            CloneResult,
            check_readable,
            clone_target,
            fill_clone,
            remote_url,
            removed_on_failure,
        )
        url = remote_url(url)        # a plain folder path, as git takes one
        target = clone_target(directory)
        check_readable(url, endpoint_url)
        with removed_on_failure(target):
            reg = cls.init(target)
            try:
                fetched = fill_clone(reg, url, endpoint_url, progress=progress)
            except BaseException:
                reg.close()
                raise
        return CloneResult(reg, fetched)

    @property
    def manifest(self) -> Manifest:
        if self._manifest is None:
            path = self.dir / MANIFEST
            # SQLite would create an empty database in place of a lost one: a registry
            # that silently forgot every ref
            if not self._create_manifest and not path.is_file():
                raise ManifestMissing(str(path))
            try:
                self._manifest = Manifest(path)
            except sqlite3.DatabaseError as e:
                if isinstance(e, sqlite3.OperationalError):     # locked, cannot open: not damage
                    raise
                raise ManifestUnreadable(str(path), str(e)) from None
        return self._manifest

    def close(self) -> None:
        if self._manifest is not None:
            self._manifest.close()
            self._manifest = None

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Registry({str(self.root)!r})"

    def _remotes(self) -> list:
        if self._opened_remotes is None:
            from dsreg.remote.backends import open_remote
            rows = sorted(self.manifest.remotes(), key=lambda r: r.name != "origin")
            self._opened_remotes = [open_remote(r.url, r.endpoint_url) for r in rows]
        return self._opened_remotes

    def _remote_stores(self) -> list:
        return [r.objects for r in self._remotes()]

    def forget_remotes(self) -> None:
        """Open the remotes again on next use: after one was added, removed or changed."""
        self._opened_remotes = None

    @property
    def read_only(self) -> bool:
        """Whether this process may not write the registry (its manifest, or the folders
        objects and temporary files go to): then only reading commands work."""
        return self.manifest.read_only or not all(
            os.access(p, os.W_OK) for p in (self.dir, self.dir / "objects") if p.exists())

    def require_writable(self) -> None:
        """Refuse a writing command before it changes anything, here or on a remote."""
        if self.read_only:
            raise RegistryReadOnly(str(self.dir))

    @property
    def tmp_dir(self) -> Path:
        p = self.dir / "tmp"
        p.mkdir(exist_ok=True)
        return p

    # -- the Python API: thin wrappers over the porcelain verbs ----------------
    def commit(self, dataset: str, splits: dict[str, Any] | Any, message: str = "", *, branch: str = "main",
               append: bool = False, drop_splits: tuple[str, ...] | list[str] = (),
               keys: tuple[str, ...] | list[str] = (), base: str | None = None, metadata: dict | None = None,
               author: str | None = None, timestamp: int | None = None, allow_empty: bool = False,
               empty_files: bool = True, settings: RowSettings | None = None, no_verify: bool = False,
               progress: Progress = NO_PROGRESS) -> CommitResult:
        """Commit `splits` ({split: table or path}, or one source for `train`) to `dataset`'s `branch`
        (options: versions/commit.py; `settings` None: the default sizes)."""
        from dsreg import porcelain
        return porcelain.commit(self, dataset, splits, message=message, branch=branch, append=append,
                                drop_splits=drop_splits, keys=keys, base=base, metadata=metadata, author=author,
                                timestamp=timestamp, no_verify=no_verify, allow_empty=allow_empty, empty_files=empty_files, settings=settings,
                                progress=progress)

    def resolve(self, spec: str) -> CommitId:
        """The full commit id `spec` (NAME[@REV]) names."""
        from dsreg.model import revisions
        return revisions.resolve(self, spec).commit_id

    def load(self, spec: str, split: str = "train", columns: list[str] | None = None) -> pa.Table:
        """One split of the version `spec` names, as a pyarrow.Table."""
        from dsreg import porcelain
        return porcelain.load(self, spec, split=split, columns=columns)

    def dataset(self, spec: str, split: str = "train", columns: list[str] | None = None, filter=None):
        """One split of a pinned version as a streaming `dsreg.Dataset` (see docs/reading.md)."""
        import dsreg
        return dsreg.dataset(spec, split=split, columns=columns, filter=filter, registry=self)

    def log(self, spec: str, n: int | None = None) -> list[LogEntry]:
        """The history of `spec`, newest first; the first `n` entries."""
        from dsreg import porcelain
        return porcelain.log(self, spec, n=n)

    def show(self, spec: str) -> VersionInfo:
        """One version: its commit, and each split's size and schema."""
        from dsreg import porcelain
        return porcelain.show(self, spec)

    def diff(self, a: str, b: str | None = None, *, paths: dict[str, list[str]] | None = None,
             keys: tuple[str, ...] | list[str] = (), rows: bool = False, limit: int | None = None,
             default_keys: bool = True, progress: Progress = NO_PROGRESS) -> DiffResult:
        """Changes from `a` to `b` (or to `paths`; with `a` alone, from its first parent)."""
        from dsreg.diff import compare as diff
        return diff.diff(self, a, b, paths=paths, keys=keys, rows=rows, limit=limit, default_keys=default_keys,
                         progress=progress)

    def datasets(self) -> list[DatasetRefs]:
        """Every dataset with its branches and tags."""
        from dsreg import porcelain
        return porcelain.ls(self)

    def branch(self, dataset: str, new: str | None = None, rev: str | None = None, delete: str | None = None,
               force: bool = False) -> dict[str, CommitId] | CreatedRef | DeletedRef:
        """List the branches ({name: commit}), create `new` at `rev`, or delete `delete`."""
        from dsreg import porcelain
        return porcelain.branch(self, dataset, new, rev, delete=delete, force=force)

    def tag(self, dataset: str, new: str | None = None, rev: str | None = None, delete: str | None = None,
            force: bool = False) -> dict[str, CommitId] | CreatedRef | DeletedRef:
        """List the tags ({name: commit}), create `new` at `rev`, or delete `delete`."""
        from dsreg import porcelain
        return porcelain.tag(self, dataset, new, rev, delete=delete, force=force)

    def merge(self, source: str, into: str = "main", keys: tuple[str, ...] | list[str] = (), strategy: str = "fail",
              resolve: Any = None, message: str | None = None, **kw: Any) -> MergeResult:
        """Merge `source` (NAME@REV) into branch `into`: a fast-forward, or a three-way
        merge recorded as a commit with two parents. Raises MergeConflict (carrying the
        conflicts, a pyarrow.Table per split) when conflicts remain with strategy "fail";
        `resolve` (a Parquet/CSV path or a table of key columns and chosen rows) settles them.
        The version `into` would hold, fast-forward included, must keep its checks
        (CheckFailed, nothing recorded) unless `no_verify=True`.
        Other options: no_ff, dry_run, author, progress, no_verify."""
        from dsreg import porcelain
        return porcelain.merge(self, source, into, keys=keys, strategy=strategy, resolve=resolve, message=message,
                               **kw)

    def revert(self, spec: str, branch: str | None = None, message: str | None = None, **kw: Any) -> MergeResult:
        """A new commit on `branch` (default: the one `spec` names, else main) that undoes
        `spec`'s changes; conflicts and checks (`no_verify`) as in `merge`."""
        from dsreg import porcelain
        return porcelain.revert(self, spec, branch, message=message, **kw)

    def reset(self, dataset: str, branch: str, rev: str) -> dict:
        """Move `branch` to `rev`; the reflog keeps where it was."""
        from dsreg import porcelain
        return porcelain.reset(self, dataset, branch, rev)

    def reflog(self, dataset: str, ref: str | None = None) -> list[ReflogEntry]:
        """Every move of `dataset`'s refs (or of one), newest first."""
        from dsreg import porcelain
        return porcelain.reflog(self, dataset, ref)

    def checkout(self, spec: str, out: str | os.PathLike[str], split: str | None = None, format: str = "parquet",
                 *, progress: Progress = NO_PROGRESS) -> CheckoutResult:
        """Write the version `spec` names into `out`, one folder per split."""
        from dsreg import porcelain
        return porcelain.checkout(self, spec, out, split=split, format=format, progress=progress)

    # -- sharing: the verbs the command line's push, fetch and pull call -----------------
    def push(self, remote: str | None = None, spec: str | None = None, *, force: bool = False,
             progress: Progress = NO_PROGRESS) -> PushResult:
        """Upload what `remote` (default: origin, or the only one) lacks for `spec` (NAME or
        NAME@BRANCH; default every ref), then move its refs by compare-and-swap."""
        from dsreg.remote import transfer
        return transfer.push(self, remote, spec, force=force, progress=progress)

    def fetch(self, remote: str | None = None, dataset: str | None = None, *,
              progress: Progress = NO_PROGRESS) -> FetchResult:
        """Download the commits and snapshots of the remote's refs (no row data); record them
        as remote refs."""
        from dsreg.remote import transfer
        return transfer.fetch(self, remote, dataset, progress=progress)

    def pull(self, spec: str, remote: str | None = None, *, rebase: bool = False,
             progress: Progress = NO_PROGRESS) -> PullResult:
        """Fetch, download the data of `spec` (NAME[@REV]), and move the local branch or tag
        of that name (fast-forward, or `rebase`); a commit id pins without moving a ref."""
        from dsreg.remote import transfer
        return transfer.pull(self, remote, spec, rebase=rebase, progress=progress)

    def fsck(self, *, repair: bool = False, progress: Progress = NO_PROGRESS) -> FsckResult:
        """Verify every object and ref; with `repair`, restore damaged objects from the remotes."""
        from dsreg.maintenance import fsck as maintenance
        return maintenance.fsck(self, progress=progress, repair=repair)

    def gc(self, dry_run: bool = False, *, grace_seconds: float | None = None,
           progress: Progress = NO_PROGRESS) -> GcResult:
        """Delete what no ref or reflog entry reaches (sparing objects younger than `grace_seconds`)."""
        from dsreg.maintenance import gc as maintenance
        if grace_seconds is None:
            return maintenance.gc(self, dry_run=dry_run, progress=progress)
        return maintenance.gc(self, dry_run=dry_run, grace_seconds=grace_seconds, progress=progress)

    def rebuild_manifest(self, *, progress: Progress = NO_PROGRESS) -> RebuildResult:
        """Rebuild the manifest from the objects, keeping the old one as a backup."""
        from dsreg.maintenance import rebuild
        return rebuild.rebuild_manifest(self, progress=progress)
