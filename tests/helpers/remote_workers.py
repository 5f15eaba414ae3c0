"""Worker processes for the concurrent-push test (spawned, so importable by name)."""
from __future__ import annotations

import pyarrow as pa


def push_rounds(args) -> dict:
    """Commit one split of our own, then push until it lands: on a non-fast-forward,
    pull --rebase and wait for the next round. Reports what happened in each round."""
    path, split, barrier_dir, rounds = args
    import os
    import time

    from dsreg import Registry
    from dsreg.errors import NonFastForward
    from dsreg.remote import transfer
    reg = Registry(path)
    reg.commit("shared", {split: pa.table({"who": [split] * 3, "n": [1, 2, 3]})}, message=f"add {split}")
    outcomes = []
    for r in range(rounds):
        _wait(barrier_dir, r)
        try:
            transfer.push(reg, "origin", "shared@main")
            outcomes.append("ok")
            _arrive(barrier_dir, r, split)
            for later in range(r + 1, rounds):
                _arrive(barrier_dir, later, split)   # done: let later rounds start without us
            break
        except NonFastForward:
            outcomes.append("rejected")
            transfer.pull(reg, "origin", "shared@main", rebase=True)
            _arrive(barrier_dir, r, split)
    reg.close()
    del os, time
    return {"split": split, "outcomes": outcomes}


def _arrive(d: str, r: int, who: str) -> None:
    import os
    os.makedirs(f"{d}/{r}", exist_ok=True)
    open(f"{d}/{r}/{who}", "w").close()


def _wait(d: str, r: int) -> None:
    """Round r starts when every worker has finished round r-1 (the lead writes 'go')."""
    import os
    import time
    deadline = time.time() + 120
    while not os.path.exists(f"{d}/go-{r}"):
        if time.time() > deadline:
            raise TimeoutError(f"round {r} never started")
        time.sleep(0.01)
