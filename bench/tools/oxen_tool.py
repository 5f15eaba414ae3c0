"""Oxen (the `oxenai` package): add + commit locally, and its tabular diff of two versions.

Oxen lives in its own virtual environment (bench/.venv-oxen). Each scenario is a branch
made from main, as for dsreg. Oxen's config goes to a HOME of the bench's own.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from ..procs import StepFailed, measured, merge_repeats, run
from .dsreg_tool import folder_bytes
from .dvc_tool import ensure_venv

PACKAGES = ["oxenai"]
STEPS = Path(__file__).with_name("oxen_steps.py")


class OxenTool:
    name = "oxen"

    def __init__(self, work: Path, venv: Path, repeat: int = 1):
        self.work, self.venv, self.repeat = work / "oxen", venv, repeat
        self.env = {"HOME": str(self.work / "home")}

    def step(self, *args: str, **kw):
        return run([str(self.venv / "bin" / "python"), str(STEPS), *args], env=self.env, **kw)

    def run_all(self, versions: dict, scenarios: list[str], log=print) -> dict:
        try:
            ensure_venv(self.venv, PACKAGES, log)
        except Exception as e:      # noqa: BLE001 - recorded, not faked
            return {"error": f"oxenai did not install: {e}"}
        version = run([str(self.venv / "bin" / "python"), "-c", "import oxen; print(oxen.__version__)"],
                      env=self.env).stdout.strip()
        try:
            out = merge_repeats([self._run_once(r, versions, scenarios, log) for r in range(self.repeat)])
        except StepFailed as e:
            return {"version": version, "error": str(e)[-2000:]}
        out["version"] = version
        return out

    def _run_once(self, r: int, versions: dict, scenarios: list[str], log) -> dict:
        root = self.work / f"r{r}"
        shutil.rmtree(root, ignore_errors=True)
        (self.work / "home").mkdir(parents=True, exist_ok=True)
        repo = root / "repo"
        self.step("init", str(repo))
        out: dict = {}
        for name in ["base", *scenarios]:
            v = versions[name]
            branch = "main" if name in ("base", "identical") else name
            self.step("stage", str(repo), branch, str(v.path))          # checkout + copy, not timed
            res: dict = {}
            before = folder_bytes(repo / ".oxen")
            step = self.step("commit", str(repo), name, check=False)
            if step.returncode != 0 and name == "identical":
                res["commit"] = measured(step, note="nothing to commit")
            elif step.returncode != 0:
                raise StepFailed(f"oxen commit {name}: {step.stderr[-1500:]}")
            else:
                res["commit"] = measured(step)
            after = folder_bytes(repo / ".oxen")
            res["stored_delta"], res["stored_bytes"] = after - before, after
            if name != "base":
                step = self.step("diff", str(repo), "main", branch)
                res["diff"] = measured(step, **step.json())
            out[name] = res
            log(f"  oxen {name}: add+commit {res['commit']['wall']:.2f}s"
                + (f" diff {res['diff']['wall']:.2f}s" if "diff" in res else ""))
        return out


__all__ = ["OxenTool"]
