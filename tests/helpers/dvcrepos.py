"""Real git repositories with real DVC for the DVC bridge's tests: git through its command
line, DVC through its Python API in this process (what `dvc add` and `dvc push` call),
and the `dvc` command itself where a test checks what a DVC user would see."""
from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

DVC_BIN = str(Path(sys.executable).parent / "dvc")
BASE_TIME = 1_700_000_000


def quiet_env(tmp: Path) -> dict:
    """What every git and DVC call here runs with: no user config, no analytics, caches in tmp."""
    return {"DVC_NO_ANALYTICS": "1", "DVC_SITE_CACHE_DIR": str(tmp / "dvc-site-cache"),
            "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_AUTHOR_NAME": "Nobody", "GIT_AUTHOR_EMAIL": "nobody@example.com",
            "GIT_COMMITTER_NAME": "Nobody", "GIT_COMMITTER_EMAIL": "nobody@example.com"}


def git(repo: Path, *args: str, env: dict | None = None) -> str:
    proc = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, env={**os.environ, **(env or {})})
    assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
    return proc.stdout.strip()


def dvc_cli(repo: Path, *args: str, code: int = 0) -> subprocess.CompletedProcess:
    proc = subprocess.run([DVC_BIN, *args], cwd=repo, capture_output=True, text=True, timeout=300)
    assert proc.returncode == code, (args, proc.stdout, proc.stderr)
    return proc


def reviews(n: int, start: int = 0) -> pa.Table:
    ids = list(range(start, start + n))
    return pa.table({"id": pa.array(ids, pa.int64()), "text": [f"review number {i}" for i in ids],
                     "score": pa.array([float(i % 5) for i in ids])})


def labels(ids: list[int], flip: int = -1) -> pa.Table:
    return pa.table({"id": ids, "label": ["pos" if (i % 3 == 0) != (i == flip) else "neg" for i in ids]})


def edited(table: pa.Table, ids: set[int], score: float) -> pa.Table:
    col = [score if i in ids else s for i, s in zip(table["id"].to_pylist(), table["score"].to_pylist())]
    return table.set_column(2, "score", pa.array(col))


def write(path: Path, table: pa.Table) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".csv":
        pcsv.write_csv(table, path)
    else:
        pq.write_table(table, path)


@dataclass
class GitCommit:
    sha: str
    message: str
    author: str
    timestamp: int


@dataclass
class History:
    """A git + DVC repository, and what each first-parent commit holds."""
    root: Path
    remote: Path
    commits: dict[str, GitCommit] = field(default_factory=dict)         # label -> commit
    data: dict[str, dict[str, object]] = field(default_factory=dict)    # path -> {label: table or {file: table}}

    def sha(self, label: str) -> str:
        return self.commits[label].sha


class Builder:
    def __init__(self, root: Path, env: dict):
        self.root, self.env, self.clock = root, env, BASE_TIME
        root.mkdir(parents=True)
        git(root, "init", "-q", "-b", "main", env=env)
        from dvc.repo import Repo
        Repo.init(str(root)).close()

    def add(self, *paths: str) -> None:
        from dvc.repo import Repo
        with Repo(str(self.root)) as repo:
            repo.add([str(self.root / p) for p in paths])
        git(self.root, "add", "-A", env=self.env)

    def commit(self, message: str, author: str, *extra: str) -> GitCommit:
        self.clock += 3600
        name, _, email = author.partition(" <")
        env = {**self.env, "GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email.rstrip(">"),
               "GIT_AUTHOR_DATE": f"@{self.clock} +0000", "GIT_COMMITTER_DATE": f"@{self.clock} +0000"}
        git(self.root, "add", "-A", env=self.env)
        git(self.root, "commit", "-q", "-m", message, *extra, env=env)
        return GitCommit(git(self.root, "rev-parse", "HEAD"), message, author, self.clock)

    def set_remote(self, url: str, endpoint: str | None = None) -> None:
        from dvc.repo import Repo
        with Repo(str(self.root)) as repo:
            with repo.config.edit() as conf:
                conf["remote"]["storage"] = {"url": url, **({"endpointurl": endpoint} if endpoint else {})}
                conf["core"]["remote"] = "storage"


ALICE, BOB, CAROL, DAVE = ("Alice <alice@example.com>", "Bob <bob@example.com>", "Carol <carol@example.com>",
                           "Dave <dave@example.com>")


def build_history(root: Path, remote: Path, env: dict) -> History:
    """main's first-parent line: c1 init; c2 all data v1 (tag v1, annotated); c3 the DVC remote
    and a README (tag release-1: no data change); c4 reviews and labels edited; c5 labels
    edited again; c6 merges branch `feature` (forked at c4: reviews appended, a file added to
    the folder, then a commit with no data change; tag v2); c7 a file removed from the folder."""
    b = Builder(root, env)
    h = History(root, remote)
    h.commits["c1"] = b.commit("Initialize DVC", ALICE)
    r1, l1 = reviews(40), labels(list(range(40)))
    m1 = {"train.csv": labels(list(range(0, 20))), "test.csv": labels(list(range(20, 30)))}
    write(root / "data" / "reviews.parquet", r1)
    write(root / "data" / "labels.csv", l1)
    for name, t in m1.items():
        write(root / "data" / "meta" / name, t)
    b.add("data/reviews.parquet", "data/labels.csv", "data/meta")
    h.commits["c2"] = b.commit("Add reviews, labels and meta\n\nThe first cut.", ALICE)
    git(root, "tag", "-a", "v1", "-m", "first release", env=env)
    b.set_remote(str(remote))
    (root / "README.md").write_text("# project\n")
    h.commits["c3"] = b.commit("Configure the DVC remote", BOB)
    git(root, "tag", "release-1", env=env)
    r2, l2 = edited(r1, {3, 7}, -1.0), labels(list(range(40)), flip=5)
    write(root / "data" / "reviews.parquet", r2)
    write(root / "data" / "labels.csv", l2)
    b.add("data/reviews.parquet", "data/labels.csv")
    h.commits["c4"] = b.commit("Relabel reviews 3 and 7", BOB)
    git(root, "checkout", "-q", "-b", "feature", env=env)
    r3 = pa.concat_tables([r2, reviews(10, start=40)])
    m2 = {**m1, "valid.csv": labels(list(range(30, 35)))}
    write(root / "data" / "reviews.parquet", r3)
    write(root / "data" / "meta" / "valid.csv", m2["valid.csv"])
    b.add("data/reviews.parquet", "data/meta")
    b.commit("More reviews", CAROL)
    (root / "NOTES.md").write_text("notes\n")
    b.commit("Notes", CAROL)
    git(root, "checkout", "-q", "main", env=env)
    l3 = labels(list(range(40)), flip=9)
    write(root / "data" / "labels.csv", l3)
    b.add("data/labels.csv")
    h.commits["c5"] = b.commit("Fix label 9", ALICE)
    h.commits["c6"] = _merge(b, "feature", DAVE)
    git(root, "tag", "v2", env=env)
    m3 = {k: v for k, v in m2.items() if k != "test.csv"}
    (root / "data" / "meta" / "test.csv").unlink()
    b.add("data/meta")
    h.commits["c7"] = b.commit("Drop the test file", BOB)
    h.data = {"data/reviews.parquet": {"c2": r1, "c4": r2, "c6": r3},
              "data/labels.csv": {"c2": l1, "c4": l2, "c5": l3},
              "data/meta": {"c2": m1, "c6": m2, "c7": m3}}
    return h


def _merge(b: Builder, branch: str, author: str) -> GitCommit:
    b.clock += 3600
    name, _, email = author.partition(" <")
    env = {**b.env, "GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email.rstrip(">"),
           "GIT_AUTHOR_DATE": f"@{b.clock} +0000", "GIT_COMMITTER_DATE": f"@{b.clock} +0000"}
    message = f"Merge branch '{branch}'"
    git(b.root, "merge", "-q", "--no-ff", "-m", message, branch, env=env)
    return GitCommit(git(b.root, "rev-parse", "HEAD"), message, author, b.clock)


def push_all(root: Path, remote: str | None = None) -> None:
    """`dvc push --all-commits [-r REMOTE]`: every revision's data on the DVC remote (each
    commit's own default remote, unless one is named)."""
    from dvc.repo import Repo
    with Repo(str(root)) as repo:
        repo.push(all_commits=True, remote=remote)


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
