"""`export-dvc`: a version written into a DVC repository as data DVC tracks (`Repo.add`).

PATH ending in .parquet, .csv or .jsonl becomes one file holding one split; any other
PATH a folder laid out as `dsreg checkout` lays it out (PATH/SPLIT/part-00000.FORMAT).
The `.dvc` file records the dsreg commit in its `meta`. The files are written beside the
repository's data first (in .dvc/tmp) and moved into place only when complete; a PATH
that holds data DVC does not track, or changes DVC has not recorded, is refused, since
replacing it could lose them.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dsreg.errors import DsregError, UsageError
from dsreg.integrations.dvc.repo import first_line, inside, open_repo, quiet, require_dvc

if TYPE_CHECKING:
    from dsreg.registry import Registry

FORMATS = ("parquet", "csv", "jsonl")
SUFFIXES = {".parquet": "parquet", ".csv": "csv", ".jsonl": "jsonl"}


@dataclass(frozen=True)
class ExportResult:
    dataset: str
    commit: str
    repo: str
    path: str                   # relative to the repository's root
    dvc_file: str
    gitignore: str              # where DVC listed PATH, for `git add`
    md5: str
    format: str
    rows: dict[str, int]
    files: tuple[str, ...]      # relative to the repository's root

    def to_json(self) -> dict:
        return {"dataset": self.dataset, "commit": self.commit, "repo": self.repo, "path": self.path,
                "dvc_file": self.dvc_file, "gitignore": self.gitignore, "md5": self.md5, "format": self.format, "rows": dict(self.rows),
                "files": list(self.files)}


def export_dvc(reg: Registry, spec: str, repo_path: str | os.PathLike, path: str, *, format: str | None = None,
               split: str | None = None) -> ExportResult:
    if format is not None and format not in FORMATS:
        raise UsageError(f"unknown format {format!r}; use one of {', '.join(FORMATS)}")
    require_dvc()                   # before anything else can fail: the one thing to fix first
    from dsreg.model.revisions import resolve
    rev = resolve(reg, spec)
    splits = reg.show(f"{rev.dataset}@{rev.commit_id}").splits
    with open_repo(repo_path) as repo, quiet():
        root = Path(repo.root_dir)
        rel = inside(repo, path)
        target = root / rel
        single = SUFFIXES.get(target.suffix.lower())
        if single is not None and format is not None and format != single:
            raise UsageError(f"{rel} names a .{single} file but the format asked for is {format}")
        fmt = single or format or "parquet"
        one = _one_split(spec, splits, split) if single is not None else None
        if one is not None:
            split = one
        if one is None and split is not None and split not in splits:
            raise DsregError(f"{spec} has no split {split!r}", f"it has {', '.join(sorted(splits))}")
        _check_replaceable(repo, target, rel)
        tmp_root = root / ".dvc" / "tmp"
        tmp_root.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix="dsreg-export-", dir=tmp_root))
        try:
            reg.checkout(f"{rev.dataset}@{rev.commit_id}", work / "out", split=split, format=fmt)
            new = _single_file(work / "out" / one, fmt, work / "file") if one is not None else work / "out"
            stage = _swap_and_add(repo, target, new, work / "old")
            stage.meta = {**(stage.meta or {}), "dsreg": {"dataset": rev.dataset, "commit": rev.commit_id}}
            stage.dump()
            out = stage.outs[0]
            files = [p for p in ([target] if target.is_file() else sorted(target.rglob("*"))) if p.is_file()]
            rows = {s: splits[s].rows for s in ([split] if split else sorted(splits))}
            gitignore = (Path(rel).parent / ".gitignore").as_posix()
            return ExportResult(rev.dataset, rev.commit_id, str(root), rel, os.path.relpath(stage.path, root),
                                gitignore, out.hash_info.value, fmt, rows,
                                tuple(p.relative_to(root).as_posix() for p in files))
        finally:
            shutil.rmtree(work, ignore_errors=True)


def _one_split(spec: str, splits: dict, split: str | None) -> str:
    if split is not None:
        if split not in splits:
            raise DsregError(f"{spec} has no split {split!r}", f"it has {', '.join(sorted(splits))}")
        return split
    if len(splits) != 1:
        raise UsageError(f"{spec} has {len(splits)} splits ({', '.join(sorted(splits))}) and one file holds one",
                         "choose one split, or give a folder path")
    return next(iter(splits))


def _check_replaceable(repo: Any, target: Path, rel: str) -> None:
    """PATH is new, or data DVC tracks whose every change DVC has recorded (so its bytes are
    in DVC's cache and replacing it loses nothing)."""
    from dvc.exceptions import DvcException, OutputNotFoundError
    if not (target.exists() or target.is_symlink()):
        if target.parent.exists() and not target.parent.is_dir():
            raise DsregError(f"{target.parent} is not a folder")
        return
    try:
        outs = repo.find_outs_by_path(str(target))
    except OutputNotFoundError:
        raise DsregError(f"{rel} exists in {repo.root_dir} and DVC does not track it",
                         "choose a new PATH, or remove it first") from None
    if any(Path(o.fs_path) != target for o in outs):
        raise DsregError(f"{rel} is inside data DVC tracks as a whole ({outs[0]})", "choose a PATH outside it")
    try:
        dirty = repo.status(targets=[str(target)])
    except DvcException as e:
        raise DsregError(f"DVC cannot tell whether {rel} has unrecorded changes: {first_line(e)}") from None
    if dirty:
        raise DsregError(f"{rel} has changes DVC has not recorded, which the export would overwrite",
                         "record them with 'dvc add', or restore them with 'dvc checkout', first")


def _single_file(folder: Path, fmt: str, dest: Path) -> Path:
    """The part files of one split as one file (a split over a million rows has several)."""
    parts = sorted(folder.iterdir())
    if len(parts) == 1:
        return parts[0]
    if fmt == "parquet":
        import pyarrow.parquet as pq
        with pq.ParquetWriter(dest, pq.read_schema(parts[0]), compression="zstd") as writer:
            for p in parts:
                for batch in pq.ParquetFile(p).iter_batches():
                    writer.write_batch(batch)
        return dest
    with open(dest, "wb") as out:
        for i, p in enumerate(parts):
            with open(p, "rb") as f:
                if fmt == "csv" and i:
                    f.readline()            # each part repeats the header
                shutil.copyfileobj(f, out)
    return dest


def _swap_and_add(repo: Any, target: Path, new: Path, old: Path) -> Any:
    """Move `new` to `target` and `dvc add` it; on failure the previous data comes back."""
    from dvc.exceptions import DvcException
    had = target.exists() or target.is_symlink()
    if had:
        os.replace(target, old)
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(new, target)
    try:
        stages = repo.add(str(target))
    except BaseException as e:
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        else:
            target.unlink(missing_ok=True)
        if had:
            os.replace(old, target)
        if isinstance(e, DvcException):
            raise DsregError(f"DVC could not track {target}: {first_line(e)}") from None
        raise
    return stages[0]
