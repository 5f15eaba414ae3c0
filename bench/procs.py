"""Run one measured step as its own process: wall time, peak RSS, output."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from statistics import median


class StepFailed(RuntimeError):
    pass


@dataclass
class Step:
    wall: float                 # seconds
    cpu: float                  # user + system CPU seconds of the process (and its waited-for children)
    peak_rss: int               # bytes: the process's own peak resident set (VmHWM)
    stdout: str
    stderr: str
    returncode: int

    def json(self):
        try:
            return json.loads(self.stdout)
        except ValueError:
            raise StepFailed(f"not JSON: {self.stdout[:500]!r} (stderr: {self.stderr[-1500:]})") from None


def _hwm(pid: int) -> int:
    """The process's peak RSS so far (VmHWM, bytes), or 0 once it is gone."""
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


def run(cmd: list[str], *, cwd=None, env: dict | None = None, check: bool = True) -> Step:
    """Run `cmd`; measure its wall time, CPU time (wait4) and peak RSS.

    Peak RSS is read from /proc/PID/status (VmHWM) every few milliseconds while it runs:
    wait4's ru_maxrss would include the RSS of this (large) process at fork time.
    """
    full_env = {**os.environ, **(env or {})}
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, env=full_env, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        peak = 0
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            peak = max(peak, _hwm(proc.pid))
            time.sleep(0.005 if time.perf_counter() - start < 1 else 0.01)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0), err.seek(0)
        step = Step(wall, usage.ru_utime + usage.ru_stime, peak, out.read().decode(errors="replace"),
                    err.read().decode(errors="replace"), proc.returncode)
    if check and step.returncode != 0:
        raise StepFailed(f"{' '.join(map(str, cmd))} exited {step.returncode}:\n{step.stderr[-3000:]}")
    return step


# a snippet's last lines: what it printed is all there is, so it leaves at once (see `answer`)
_EXIT_AT_ONCE = "\nimport os as _os, sys as _sys\n_sys.stdout.flush(); _sys.stderr.flush(); _os._exit(0)\n"


def python(code: str, *args: str, **kw) -> Step:
    """Run a snippet in a fresh interpreter (the one running the bench); once it has run,
    the interpreter exits at once, as `answer` does: pyarrow's teardown at exit can abort a
    finished snippet (a clone + load once exited -6, "terminate called without an active
    exception"). An error in the snippet still exits non-zero."""
    return run([sys.executable, "-c", code + _EXIT_AT_ONCE, *args], **kw)


def measured(step: Step, **extra) -> dict:
    """A step's record: wall time, peak RSS, and what else the caller measured."""
    return {"wall": step.wall, "cpu": step.cpu, "peak_rss": step.peak_rss, **extra}


def answer(doc: dict) -> None:
    """A job process's last act: its result as one JSON line, then exit at once, as the
    dsreg console script does: pyarrow's thread-pool teardown at interpreter exit
    (apache/arrow#34314) can turn a finished job into exit 134, losing its result."""
    print(json.dumps(doc), flush=True)
    sys.stderr.flush()
    os._exit(0)


def merge_repeats(reps: list[dict]) -> dict:
    """Per-repetition records -> one: the median of each wall time (all kept in `walls`),
    the largest peak RSS, the first repetition's other values (byte counts are the same)."""
    if len(reps) == 1:
        return reps[0]
    out: dict = {}
    for key, val in reps[0].items():
        if isinstance(val, dict):
            out[key] = merge_repeats([r[key] for r in reps if key in r])
        elif key in ("wall", "cpu"):
            out[key] = median(r[key] for r in reps)
            out[key + "s"] = [round(r[key], 4) for r in reps]
        elif key == "peak_rss":
            out[key] = max(r[key] for r in reps)
        elif key not in ("walls", "cpus"):
            out[key] = val
    return out
