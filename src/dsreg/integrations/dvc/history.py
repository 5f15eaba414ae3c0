"""The history of one DVC-tracked path along git's first-parent line.

DVC is the judge of what PATH's data is at a commit (`DVCFileSystem(repo, rev=...)`: its
md5 from the `.dvc` file or `dvc.lock`); git (through scmrepo) walks the commits. Asking
DVC costs a repository opened at that commit, so a commit whose files that define PATH
(its `.dvc` file, or `dvc.yaml` and `dvc.lock`) hold the same git blobs as its child's is
known to hold the same data without asking.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dsreg.errors import DsregError
from dsreg.integrations.dvc.repo import first_line


@dataclass(frozen=True)
class DataRevision:
    """A git commit that changed PATH's data: the oldest of a run of first-parent commits
    holding the same data (`covers`: the run, this commit and those after it)."""
    commit: str
    message: str
    author: str
    timestamp: int
    md5: str
    isdir: bool
    covers: tuple[str, ...]


@dataclass
class History:
    new: list[DataRevision] = field(default_factory=list)     # not imported yet, oldest first
    imported_at: str | None = None          # the imported git commit the walk stopped at
    imported_covers: tuple[str, ...] = ()   # the first-parent commits holding that same data


@dataclass
class _State:
    md5: str | None
    isdir: bool = False
    defining: tuple[str, ...] = ()          # repository files that say what PATH's data is


class _Run:
    def __init__(self, state: _State, commit: Any):
        self.state, self.commits = state, [commit]


def data_history(repo: Any, path: str, head: str, imported: set[str], every: bool) -> History:
    """The revisions of PATH's data on the first-parent line ending at `head` (a full
    sha) that are not in `imported` (git shas), oldest first: all of them with `every`,
    else only the one `head` holds. The walk stops at the first imported commit, and where
    DVC did not track PATH."""
    scm, root = repo.scm, repo.root_dir
    config = current_remotes(repo)
    commit = scm.resolve_commit(head)
    state = _state(root, head, path, config)
    if state.md5 is None:
        raise DsregError(f"DVC does not track {path} at git commit {head[:12]}",
                         "give the path of a file or folder tracked by a .dvc file or dvc.lock "
                         "(as in 'dvc add PATH'), relative to the repository's root")
    runs: list[_Run] = []
    run: _Run | None = _Run(state, commit)
    key = _blobs(scm, head, state.defining)
    history = History()
    while True:
        if commit.hexsha in imported:
            assert run is not None
            history.imported_at, history.imported_covers = commit.hexsha, tuple(c.hexsha for c in run.commits)
            run = None
            break
        if not commit.parents:
            break
        parent_sha = commit.parents[0]
        parent = scm.resolve_commit(parent_sha)
        parent_key = _blobs(scm, parent_sha, state.defining)
        if state.defining and parent_key == key and None not in key:
            parent_state = state            # the same files, so the same data
        else:
            parent_state = _state(root, parent_sha, path, config)
            if parent_state.md5 is None:
                break                       # before this, DVC did not track PATH
            parent_key = _blobs(scm, parent_sha, parent_state.defining)
        assert run is not None
        if parent_state.md5 != state.md5:
            runs.append(run)
            if not every:
                run = None
                break
            run = _Run(parent_state, parent)
        else:
            run.commits.append(parent)
        commit, state, key = parent, parent_state, parent_key
    if run is not None:
        runs.append(run)
    history.new = [_revision(r) for r in reversed(runs)]
    return history


def _revision(run: _Run) -> DataRevision:
    c = run.commits[-1]
    author = f"{c.author_name} <{c.author_email}>" if c.author_email else c.author_name
    assert run.state.md5 is not None
    return DataRevision(commit=c.hexsha, message=c.message.rstrip("\n"), author=author, timestamp=int(c.author_time),
                        md5=run.state.md5, isdir=run.state.isdir, covers=tuple(x.hexsha for x in run.commits))


def current_remotes(repo: Any) -> dict | None:
    """The remotes configured now: an old commit's own config may name no remote yet, or
    one since moved. Reads try these first, then the commit's own (see `configs`)."""
    conf = repo.config
    if not conf.get("remote"):
        return None
    out: dict = {"remote": dict(conf["remote"])}
    if conf.get("core", {}).get("remote"):
        out["core"] = {"remote": conf["core"]["remote"]}
    return out


def configs(today: dict | None) -> list[dict | None]:
    """Today's remotes, then the commit's own config (None)."""
    return [today, None] if today else [None]


def open_fs(root: str, sha: str, config: dict | None) -> Any:
    from dvc.api import DVCFileSystem
    return DVCFileSystem(root, rev=sha, config=config) if config else DVCFileSystem(root, rev=sha)


def _state(root: str, sha: str, path: str, today: dict | None) -> _State:
    failure: Exception | None = None
    for config in configs(today):
        fs = open_fs(root, sha, config)
        try:
            try:
                info = fs.info(path)
            except (FileNotFoundError, NotADirectoryError):
                return _State(None)
            dvc_info = info.get("dvc_info") or {}
            md5 = dvc_info.get("md5")
            if not md5:
                return _State(None)             # a file git tracks, not DVC
            return _State(md5, info.get("type") == "directory", _defining(fs.repo, path))
        except Exception as e:  # noqa: BLE001 - DVC raises many kinds: its own, dvc_data's, fsspec's, boto's
            failure = e                         # (a folder's listing missing from this remote: try the next)
        finally:
            fs.close()
    assert failure is not None
    raise DsregError(f"DVC cannot read {path} at git commit {sha[:12]}: {first_line(failure)}")


def _defining(repo: Any, path: str) -> tuple[str, ...]:
    """The files whose blobs fix PATH's md5: its `.dvc` file, or `dvc.yaml` + `dvc.lock`.
    Empty if DVC cannot say (every commit is then asked)."""
    from dvc.exceptions import DvcException
    try:
        outs = repo.find_outs_by_path(repo.fs.join(repo.root_dir, path), strict=False)
    except (DvcException, OSError):
        return ()
    files: list[str] = []
    for out in outs:
        rel = repo.fs.relpath(out.stage.path, repo.root_dir)
        files.append(rel)
        if repo.fs.name(rel) in ("dvc.yaml", "dvc.yml"):
            files.append(repo.fs.join(repo.fs.parent(rel), "dvc.lock") if repo.fs.parent(rel) else "dvc.lock")
    return tuple(sorted(set(files)))


def _blobs(scm: Any, sha: str, files: tuple[str, ...]) -> tuple[str | None, ...]:
    if not files:
        return ()
    fs = scm.get_fs(sha)
    out: list[str | None] = []
    for f in files:
        try:
            out.append(fs.info(f)["sha"])
        except (FileNotFoundError, NotADirectoryError, KeyError):
            out.append(None)
    return tuple(out)


def git_tags(scm: Any) -> dict[str, list[str]]:
    """{commit sha: [tag names]} (annotated tags peeled to their commit)."""
    out: dict[str, list[str]] = {}
    for name in scm.list_tags():
        try:
            sha = scm.resolve_rev(f"refs/tags/{name}")
        except Exception:  # noqa: BLE001 - a tag of a tree or blob names no commit: not ours
            continue
        out.setdefault(sha, []).append(name)
    return out
