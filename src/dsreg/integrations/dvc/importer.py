"""`import-dvc`: the history of a DVC-tracked file or folder as dsreg commits.

Two phases, so that bad input records nothing: first every revision to import is
resolved, checked and downloaded (through DVC: its cache, else its remote) into the
registry's tmp folder, and every tag checked; only then are the commits made, oldest
first, through the public commit API. A failure inside the second phase (a file that
stops parsing halfway, a full disk) keeps the commits made before it, each complete, and
running the import again goes on from there: what is imported is found again through the
git commit each dsreg commit records in its metadata.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from dsreg.errors import DsregError, UsageError
from dsreg.integrations.dvc.history import DataRevision, configs, current_remotes, data_history, git_tags, open_fs
from dsreg.integrations.dvc.repo import first_line, inside, open_repo, quiet, require_dvc, resolve_git_rev
from dsreg.names import check_dataset_name, check_ref_name, check_split_name
from dsreg.progress import NO_PROGRESS, Progress

if TYPE_CHECKING:
    from dsreg.registry import Registry

META_KEY = "dvc"        # commit metadata: {"git_commit", "md5", "path"[, "splits"]}
DEFAULT_SPLIT = "train"


@dataclass(frozen=True)
class ImportedRevision:
    git_commit: str
    commit: str
    md5: str
    message: str
    splits: dict[str, int]          # rows per split
    new_bytes: int
    tags: tuple[str, ...] = ()

    def to_json(self) -> dict:
        return {"git_commit": self.git_commit, "commit": self.commit, "md5": self.md5, "message": self.message,
                "splits": dict(self.splits), "new_bytes": self.new_bytes, "tags": list(self.tags)}


@dataclass(frozen=True)
class ImportResult:
    dataset: str
    branch: str
    path: str
    git_rev: str                    # the full sha REV named
    imported: tuple[ImportedRevision, ...]
    already_imported: str | None    # the git commit found imported, where the walk stopped
    tags: tuple[str, ...] = ()      # every dsreg tag this import created
    downloaded_bytes: int = 0

    def to_json(self) -> dict:
        return {"dataset": self.dataset, "branch": self.branch, "path": self.path, "git_rev": self.git_rev,
                "imported": [r.to_json() for r in self.imported], "already_imported": self.already_imported,
                "tags": list(self.tags), "downloaded_bytes": self.downloaded_bytes}


@dataclass
class _Plan:
    revision: DataRevision
    splits: dict[str, Path]
    tags: list[str] = field(default_factory=list)


def import_dvc(reg: Registry, repo_path: str | os.PathLike, path: str, dataset: str, *, rev: str | None = None,
               every: bool = False, tags: bool = False, split: str | None = None, split_per_file: bool = False,
               branch: str = "main", progress: Progress = NO_PROGRESS) -> ImportResult:
    require_dvc()                   # before anything else can fail: the one thing to fix first
    check_dataset_name(dataset)
    check_ref_name(branch, "branch")
    if split is not None and split_per_file:
        raise UsageError("give either one split name or a split per file, not both")
    split = check_split_name(split) if split is not None else DEFAULT_SPLIT
    imported = _imported(reg, dataset, branch)
    with open_repo(repo_path) as repo, quiet():
        rel = inside(repo, path)
        head = resolve_git_rev(repo, rev or "HEAD")
        history = data_history(repo, rel, head, set(imported), every)
        tag_plan = _tag_plan(reg, dataset, repo, rel, history, imported) if tags else {}
        work = Path(tempfile.mkdtemp(prefix="dvc-import-", dir=reg.tmp_dir))
        try:
            plans, downloaded = _download(repo, rel, history.new, work, split, split_per_file, progress)
            for plan in plans:
                plan.tags = tag_plan.pop(plan.revision.commit, [])
            return _commit_all(reg, dataset, branch, rel, head, history, plans, tag_plan, downloaded, split_per_file,
                               progress)
        finally:
            shutil.rmtree(work, ignore_errors=True)


def _imported(reg: Registry, dataset: str, branch: str) -> dict[str, str]:
    """{git commit: dsreg commit} over the history of the branch the import commits to."""
    from dsreg.errors import UnknownRevision
    m = reg.manifest
    if not m.has_dataset(dataset):
        return {}
    start = branch if m.ref(dataset, "branch", branch) is not None else "main"
    try:
        entries = reg.log(f"{dataset}@{start}")
    except UnknownRevision:
        return {}
    out: dict[str, str] = {}
    for entry in reversed(entries):     # oldest first: the first dsreg commit of a git commit wins
        meta = _metadata(reg, entry.id).get(META_KEY)
        if isinstance(meta, dict) and isinstance(meta.get("git_commit"), str):
            out.setdefault(meta["git_commit"], entry.id)
    return out


def _metadata(reg: Registry, commit_id: str) -> dict:
    from dsreg.ids import ObjectId
    from dsreg.model.serialize import decode_commit
    c = reg.manifest.commit(commit_id)
    return dict((c if c is not None else decode_commit(reg.store.get(ObjectId(commit_id)))).metadata)


def _tag_plan(reg: Registry, dataset: str, repo: Any, rel: str, history,
              imported: dict[str, str]) -> dict[str, list[str]]:
    """{git commit or dsreg commit: [tag]}: a git tag on a first-parent commit tags the
    revision holding that commit's data, whether imported now or before. Checked before
    anything is recorded: a dsreg tag of that name elsewhere is a conflict."""
    by_commit = git_tags(repo.scm)
    plan: dict[str, list[str]] = {}
    targets: list[tuple[str, str | None]] = []      # (tag, existing dsreg commit or None: a new one)
    for revision in history.new:
        for sha in revision.covers:
            for name in by_commit.get(sha, []):
                plan.setdefault(revision.commit, []).append(name)
                targets.append((name, None))
    known = dict(imported)
    if history.imported_at is not None:
        for sha in history.imported_covers:
            known.setdefault(sha, imported[history.imported_at])
        # the line below the imported commit: commits that changed no data carry tags too
        for revision in data_history(repo, rel, history.imported_at, set(), True).new:
            if revision.commit in imported:
                for sha in revision.covers:
                    known.setdefault(sha, imported[revision.commit])
    for sha, known_id in known.items():
        for name in by_commit.get(sha, []):
            targets.append((name, known_id))
    existing = {r.name: r.commit for r in reg.manifest.refs(dataset, "tag")} if reg.manifest.has_dataset(dataset) else {}
    for name, commit_id in targets:
        check_ref_name(name, "tag")
        if name in existing and existing[name] != commit_id:
            raise DsregError(f"tag {name!r} of dataset {dataset!r} already points at {existing[name][:12]}",
                             "delete it ('dsreg tag NAME -d TAG') or import without --tags")
        if commit_id is not None and existing.get(name) != commit_id:
            plan.setdefault(commit_id, []).append(name)
    return plan


def _download(repo: Any, rel: str, revisions: list[DataRevision], work: Path, split: str, per_file: bool,
              progress: Progress) -> tuple[list[_Plan], int]:
    """Each revision's data, through DVC, into `work`; the splits it gives."""
    from dsreg.rows.ingest import list_files
    today = current_remotes(repo)
    name = PurePosixPath(rel).name
    plans, total = [], 0
    progress.start("download from DVC", len(revisions), "revisions")
    for revision in revisions:
        dest = work / revision.commit[:16] / name
        dest.parent.mkdir(parents=True)
        _get(repo.root_dir, rel, revision, dest, today)
        files = list_files(dest)        # refuses files dsreg cannot read, before anything is recorded
        total += sum(f.stat().st_size for f in files)
        plans.append(_Plan(revision, _splits(dest, files, split, per_file, revision)))
        progress.advance(1)
    progress.finish()
    return plans, total


def _get(root: str, rel: str, revision: DataRevision, dest: Path, today: dict | None) -> None:
    """PATH at the revision into `dest`, through DVC: its cache, else today's remote, else
    the remote the commit itself names."""
    missing, failure = False, None
    for config in configs(today):
        fs = open_fs(root, revision.commit, config)
        try:
            fs.get(rel, str(dest), recursive=revision.isdir)
            return
        except FileNotFoundError:
            missing = True
        except Exception as e:  # noqa: BLE001 - DVC raises many kinds: its own, dvc_data's, fsspec's, boto's
            failure = e
        finally:
            fs.close()
        if dest.is_dir():                   # a partial copy: the next try starts afresh
            shutil.rmtree(dest, ignore_errors=True)
        else:
            dest.unlink(missing_ok=True)
    if missing or failure is None:
        raise DsregError(f"the data of {rel} at git commit {revision.commit[:12]} (md5 {revision.md5}) is in "
                         "neither the DVC cache nor the DVC remote",
                         "push it from where it was made ('dvc push'), or check the remote's config")
    raise DsregError(f"DVC cannot get {rel} at git commit {revision.commit[:12]}: {first_line(failure)}")


def _splits(dest: Path, files: list[Path], split: str, per_file: bool, revision: DataRevision) -> dict[str, Path]:
    if not per_file or not revision.isdir:
        return {split: dest}
    out: dict[str, Path] = {}
    for f in files:
        name = f.relative_to(dest).with_suffix("").as_posix().replace("/", "-")
        check_split_name(name)
        if name in out:
            raise DsregError(f"{out[name].name} and {f.name} at git commit {revision.commit[:12]} would both be "
                             f"split {name!r}", "import the folder as one split, not a split per file")
        out[name] = f
    return out


def _commit_all(reg: Registry, dataset: str, branch: str, rel: str, head: str, history, plans: list[_Plan],
                old_tags: dict[str, list[str]], downloaded: int, per_file: bool, progress: Progress) -> ImportResult:
    done: list[ImportedRevision] = []
    made_tags: list[str] = []
    previous = _previous_splits(reg, dataset, branch) if per_file else []
    for plan in plans:
        r = plan.revision
        meta: dict[str, Any] = {"git_commit": r.commit, "md5": r.md5, "path": rel}
        drop: list[str] = []
        if per_file and r.isdir:
            meta["splits"] = sorted(plan.splits)
            drop = [s for s in previous if s not in plan.splits]
            previous = meta["splits"]
        result = reg.commit(dataset, {s: str(p) for s, p in plan.splits.items()}, message=r.message, branch=branch,
                            drop_splits=drop, metadata={META_KEY: meta}, author=r.author, timestamp=r.timestamp,
                            progress=progress)
        for p in plan.splits.values():        # committed: the downloaded copy has served
            if p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)
        for name in plan.tags:
            reg.tag(dataset, name, result.id)
            made_tags.append(name)
        done.append(ImportedRevision(r.commit, result.id, r.md5, r.message,
                                     {s: v.rows for s, v in result.splits.items()},
                                     sum(v.new_bytes for v in result.splits.values()), tuple(plan.tags)))
    for commit_id, names in old_tags.items():
        for name in names:
            reg.tag(dataset, name, commit_id)
            made_tags.append(name)
    return ImportResult(dataset, branch, rel, head, tuple(done), history.imported_at, tuple(made_tags), downloaded)


def _previous_splits(reg: Registry, dataset: str, branch: str) -> list[str]:
    """The splits the last imported revision made that the branch head still has, so a
    file gone from the folder drops its split."""
    from dsreg.ids import ObjectId
    from dsreg.model.serialize import decode_commit
    m = reg.manifest
    head = m.ref(dataset, "branch", branch) if m.has_dataset(dataset) else None
    if head is None:
        return []
    c = m.commit(head) or decode_commit(reg.store.get(ObjectId(head)))
    meta = c.metadata.get(META_KEY)
    return [s for s in meta.get("splits", []) if s in c.splits] if isinstance(meta, dict) else []
