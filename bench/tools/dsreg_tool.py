"""dsreg: commit, push (S3 and file://), diff, clone + load, each step its own process."""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

from ..procs import measured as _m
from ..procs import merge_repeats, python, run

DATASET = "bench"
_CLI = "import sys; from dsreg.cli.commands import main; sys.argv[0] = 'dsreg'; main()"


def dsreg(*args: str, registry: Path | None = None, **kw):
    pre = ["--registry", str(registry)] if registry is not None else []
    return run([sys.executable, "-c", _CLI, *pre, *args], env={"DSREG_AUTHOR": "bench <bench@example.com>"}, **kw)


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


class DsregTool:
    name = "dsreg"

    def __init__(self, work: Path, s3, repeat: int = 1):
        self.work, self.s3, self.repeat = work / "dsreg", s3, repeat
        self.base_objects: list[Path] = []      # the base version's objects (what the raw limits move)

    # -- one fresh registry (and fresh remotes) per repetition ------------------------
    def _fresh(self, r: int) -> tuple[Path, str, Path]:
        root = self.work / f"r{r}"
        shutil.rmtree(root, ignore_errors=True)
        (root / "remote-file").mkdir(parents=True)
        bucket = self.s3.new_bucket("dsreg")
        dsreg("init", str(root / "reg"))
        reg = root / "reg"
        dsreg("remote", "add", "s3", f"s3://{bucket}/data", "--endpoint-url", self.s3.endpoint, registry=reg)
        dsreg("remote", "add", "file", f"file://{root / 'remote-file'}", registry=reg)
        return reg, bucket, root

    def run_all(self, versions: dict, scenarios: list[str], log=print) -> dict:
        return merge_repeats([self._run_once(r, versions, scenarios, log) for r in range(self.repeat)])

    def _run_once(self, r: int, versions: dict, scenarios: list[str], log) -> dict:
        reg, bucket, root = self._fresh(r)
        out: dict = {}
        for name in ["base", *scenarios]:
            v = versions[name]
            branch = "main" if name in ("base", "identical") else name
            res: dict = {}
            step = dsreg("commit", DATASET, str(v.path), "-m", name, "--branch", branch, "--json", registry=reg)
            doc = step.json()
            split = doc["splits"]["train"]
            res["commit"] = _m(step, new_rows=split["new_rows"], reused_rows=split["reused_rows"],
                               new_bytes=split["new_bytes"], unchanged=doc.get("unchanged", False))
            before = self.s3.stored_bytes(bucket)
            step = dsreg("push", "s3", f"{DATASET}@{branch}", "--json", registry=reg)
            after = self.s3.stored_bytes(bucket)
            res["push_s3"] = _m(step, uploaded_bytes=step.json()["uploaded_bytes"], stored_delta=after - before,
                                stored_bytes=after)
            before = folder_bytes(root / "remote-file")
            step = dsreg("push", "file", f"{DATASET}@{branch}", "--json", registry=reg)
            after = folder_bytes(root / "remote-file")
            res["push_file"] = _m(step, uploaded_bytes=step.json()["uploaded_bytes"], stored_delta=after - before,
                                  stored_bytes=after)
            if name != "base":
                step = dsreg("diff", f"{DATASET}@main", f"{DATASET}@{branch}", "--stat", "--json", registry=reg)
                s = step.json()["splits"]["train"]
                res["diff"] = _m(step, added=s["added"], removed=s["removed"], unchanged=s["unchanged"])
            res["local_store_bytes"] = folder_bytes(reg / ".dsreg" / "objects")
            if name == "base" and r == 0:
                self.base_objects = sorted(p for p in (reg / ".dsreg" / "objects").rglob("*") if p.is_file())
            out[name] = res
            log(f"  dsreg {name}: commit {res['commit']['wall']:.2f}s push {res['push_s3']['wall']:.2f}s "
                f"up {res['push_s3']['uploaded_bytes']:,} B" + (f" diff {res['diff']['wall']:.2f}s" if "diff" in res else ""))
        out["clone_load"] = self._clone_load(root, bucket, log)
        return out

    def _clone_load(self, root: Path, bucket: str, log) -> dict:
        res: dict = {}
        clone_dir = root / "clone"
        step = dsreg("clone", f"s3://{bucket}/data", str(clone_dir), "--endpoint-url", self.s3.endpoint, "--json")
        res["clone"] = _m(step, downloaded_bytes=step.json().get("downloaded_bytes", 0))
        objects = clone_dir / ".dsreg" / "objects"
        for branch in ("main", "edit"):
            before = folder_bytes(objects)
            code = ("import json, sys, dsreg; reg = dsreg.Registry(sys.argv[1]); t = reg.load(sys.argv[2]); "
                    "print(json.dumps({'rows': t.num_rows, 'nbytes': t.nbytes}))")
            step = python(code, str(clone_dir), f"{DATASET}@{branch}")
            doc = step.json()
            res[f"load_{branch}"] = _m(step, rows=doc["rows"], nbytes=doc["nbytes"],
                                       downloaded_bytes=folder_bytes(objects) - before)
        res["wall"] = res["clone"]["wall"] + res["load_main"]["wall"]
        log(f"  dsreg clone+load main: {res['wall']:.2f}s ({res['load_main']['downloaded_bytes']:,} B)")
        return res


__all__ = ["DsregTool", "dsreg", "folder_bytes"]
