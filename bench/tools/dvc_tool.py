"""DVC: `dvc add` + `dvc push` to the same moto S3 server, `dvc pull` in a fresh clone.

DVC lives in its own virtual environment (bench/.venv-dvc), created on first use, so it
never touches dsreg's dependencies. The repository is made with `dvc init --no-scm`; a
"fresh clone" is a new folder holding what `git clone` would bring (the DVC config and
the `.dvc` pointer file), followed by `dvc pull`.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from ..procs import measured, merge_repeats, python, run
from .dsreg_tool import folder_bytes

PACKAGES = ["dvc", "dvc-s3"]


def ensure_venv(venv: Path, packages: list[str], log=print) -> Path:
    """The venv's python, creating the venv and installing `packages` if needed."""
    py = venv / "bin" / "python"
    marker = venv / ".bench-installed"
    if marker.exists() and py.exists():
        return py
    log(f"  creating {venv} and installing {' '.join(packages)} (once)")
    subprocess.run(["python3", "-m", "venv", str(venv)], check=True)
    subprocess.run([str(py), "-m", "pip", "install", "-q", *packages], check=True)
    marker.write_text(" ".join(packages) + "\n")
    return py


class DvcTool:
    name = "dvc"

    def __init__(self, work: Path, s3, venv: Path, repeat: int = 1):
        self.work, self.s3, self.venv, self.repeat = work / "dvc", s3, venv, repeat
        self.env = {"DVC_NO_ANALYTICS": "1", "DVC_SITE_CACHE_DIR": str(self.work / "site-cache")}

    def dvc(self, *args: str, cwd: Path, **kw):
        return run([str(self.venv / "bin" / "dvc"), *args], cwd=cwd, env=self.env, **kw)

    def _init(self, repo: Path, bucket: str) -> None:
        repo.mkdir(parents=True)
        self.dvc("init", "--no-scm", "-q", cwd=repo)
        self.dvc("remote", "add", "-d", "s3", f"s3://{bucket}/dvc", cwd=repo)
        self.dvc("remote", "modify", "s3", "endpointurl", self.s3.endpoint, cwd=repo)
        self.dvc("config", "core.analytics", "false", cwd=repo)

    def run_all(self, versions: dict, scenarios: list[str], log=print) -> dict:
        ensure_venv(self.venv, PACKAGES, log)
        version = run([str(self.venv / "bin" / "dvc"), "--version"], env=self.env).stdout.strip()
        out = merge_repeats([self._run_once(r, versions, scenarios, log) for r in range(self.repeat)])
        out["version"] = version
        return out

    def _run_once(self, r: int, versions: dict, scenarios: list[str], log) -> dict:
        root = self.work / f"r{r}"
        shutil.rmtree(root, ignore_errors=True)
        bucket = self.s3.new_bucket("dvc")
        repo = root / "repo"
        self._init(repo, bucket)
        out: dict = {}
        pointer = None
        for name in ["base", *scenarios]:
            v = versions[name]
            shutil.copyfile(v.path, repo / "data.parquet")      # the user's new file, not timed
            res: dict = {}
            step = self.dvc("add", "-q", "data.parquet", cwd=repo)
            res["add"] = measured(step)
            before = self.s3.stored_bytes(bucket)
            step = self.dvc("push", "-q", cwd=repo)
            after = self.s3.stored_bytes(bucket)
            res["push"] = measured(step, uploaded_bytes=after - before, stored_bytes=after)
            res["local_cache_bytes"] = folder_bytes(repo / ".dvc" / "cache")
            if name == "base":
                pointer = (repo / "data.parquet.dvc").read_text()
            out[name] = res
            log(f"  dvc {name}: add {res['add']['wall']:.2f}s push {res['push']['wall']:.2f}s "
                f"up {res['push']['uploaded_bytes']:,} B")
        out["clone_load"] = self._clone_load(root, bucket, pointer, log)
        return out

    def _clone_load(self, root: Path, bucket: str, pointer: str, log) -> dict:
        clone = root / "clone"
        self._init(clone, bucket)                              # what `git clone` would bring
        (clone / "data.parquet.dvc").write_text(pointer)
        res: dict = {}
        step = self.dvc("pull", "-q", cwd=clone)
        res["pull"] = measured(step, downloaded_bytes=(clone / "data.parquet").stat().st_size)
        code = ("import json, sys, pyarrow.parquet as pq; t = pq.read_table(sys.argv[1]); "
                "print(json.dumps({'rows': t.num_rows, 'nbytes': t.nbytes}))")
        step = python(code, str(clone / "data.parquet"))
        res["load"] = measured(step, **step.json())
        res["wall"] = res["pull"]["wall"] + res["load"]["wall"]
        log(f"  dvc pull+load base: {res['wall']:.2f}s")
        return res


__all__ = ["DvcTool", "ensure_venv"]
