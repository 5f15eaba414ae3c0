"""Worker processes for the concurrency suite (spawned, so importable by name).

Each runs the real command line in-process (click's CliRunner: the same code path, exit
codes and `Error:` lines as the `dsreg` executable) after waiting at a start line, and
reports every attempt: (exit code, stderr)."""
from __future__ import annotations

import os
import time


def _wait_for(path: str, timeout: float = 180) -> None:
    deadline = time.time() + timeout
    while not os.path.exists(path):
        if time.time() > deadline:
            raise TimeoutError(f"{path} never appeared")
        time.sleep(0.005)


def _invoke(args: list[str]):
    from click.testing import CliRunner

    from dsreg.cli import cli
    r = CliRunner().invoke(cli, args)
    return r.exit_code, r.stderr


def commit_until_done(job) -> dict:
    """Commit one split to a shared registry's main, again while told to run it again."""
    project, split, path, go, max_attempts = job
    os.environ["DSREG_AUTHOR"] = f"worker {split}"
    import dsreg.cli  # noqa: F401 - import before the start line, so all start together
    _wait_for(go)
    attempts = []
    for _ in range(max_attempts):
        code, err = _invoke(["--registry", project, "commit", "shared", f"{split}={path}", "-m", f"add {split}"])
        attempts.append((code, err))
        if code == 0:
            break
        if "run the command again" not in err:
            break
    return {"split": split, "attempts": attempts}


def gc_while_others_commit(job) -> dict:
    """Run gc over and over on the shared registry until the committers are done."""
    project, go, stop = job
    import dsreg.cli  # noqa: F401
    _wait_for(go)
    runs = []
    while not os.path.exists(stop) and len(runs) < 200:
        runs.append(_invoke(["--registry", project, "gc"]))
        time.sleep(0.05)
    return {"runs": runs}


def push_until_done(job) -> dict:
    """Commit a split in our own clone, then push to the shared remote branch; when told
    to pull, pull --rebase and push again."""
    project, split, path, go, max_attempts = job
    os.environ["DSREG_AUTHOR"] = f"worker {split}"
    import dsreg.cli  # noqa: F401
    code, err = _invoke(["--registry", project, "commit", "shared", f"{split}={path}", "-m", f"add {split}"])
    assert code == 0, err
    _wait_for(go)
    attempts = []
    for _ in range(max_attempts):
        code, err = _invoke(["--registry", project, "push", "origin", "shared@main"])
        attempts.append((code, err))
        if code == 0:
            break
        if "run 'dsreg pull" not in err:
            break
        pulled = _invoke(["--registry", project, "pull", "--rebase", "origin", "shared@main"])
        attempts.append(("pull",) + pulled)
    return {"split": split, "attempts": attempts}


def commit_and_push(job) -> dict:
    """On a registry shared with the other workers: commit our split to main, then push
    main to the shared remote, doing what each error says until both are done."""
    project, split, path, go, max_attempts = job
    os.environ["DSREG_AUTHOR"] = f"worker {split}"
    import dsreg.cli  # noqa: F401
    _wait_for(go)
    attempts = []
    for _ in range(max_attempts):
        code, err = _invoke(["--registry", project, "commit", "shared", f"{split}={path}", "-m", f"add {split}"])
        attempts.append(("commit", code, err))
        if code == 0 or "run the command again" not in err:
            break
    for _ in range(max_attempts):
        code, err = _invoke(["--registry", project, "push", "origin", "shared@main"])
        attempts.append(("push", code, err))
        if code == 0 or "run 'dsreg pull" not in err:
            break
        attempts.append(("pull",) + _invoke(["--registry", project, "pull", "--rebase", "origin", "shared@main"]))
    return {"split": split, "attempts": attempts}
