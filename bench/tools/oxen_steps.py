"""Oxen steps, run by the Python of bench/.venv-oxen (one process per step).

    python oxen_steps.py init REPO
    python oxen_steps.py stage REPO BRANCH FILE       check out BRANCH (new from main) and put FILE in
    python oxen_steps.py commit REPO MESSAGE          add data.parquet + commit (the measured step)
    python oxen_steps.py diff REPO LEFT RIGHT         Oxen's tabular diff of data.parquet between revisions

Prints one JSON document. Stand-alone: imports only oxen and the standard library.
"""
import json
import os
import shutil
import sys

import oxen

FILE = "data.parquet"


def main(argv):
    cmd, repo_dir = argv[0], argv[1]
    if cmd == "init":
        from oxen import user
        user.config_user("bench", "bench@example.com")
        oxen.Repo(repo_dir, mkdir=True).init()
        return {"ok": True}
    repo = oxen.Repo(repo_dir)
    if cmd == "stage":
        branch, src = argv[2], argv[3]
        if branch != "main":
            repo.checkout("main")
            repo.checkout(branch, create=True)
        shutil.copyfile(src, os.path.join(repo_dir, FILE))
        return {"ok": True}
    if cmd == "commit":
        repo.add(os.path.join(repo_dir, FILE))
        commit = repo.commit(argv[2])
        return {"commit": str(commit)}
    if cmd == "diff":
        os.chdir(repo_dir)
        d = oxen.diff(FILE, repo_dir=repo_dir, revision_left=argv[2], revision_right=argv[3])
        if d.format != "tabular":
            return {"error": f"diff format {d.format}"}
        df = d.get().data
        counts = df["_oxen_diff_status"].value_counts() if len(df) else None
        out = {"rows": len(df)}
        if counts is not None:
            for status, n in zip(counts[counts.columns[0]].to_list(), counts[counts.columns[1]].to_list()):
                out[status] = n
        return out
    raise SystemExit(f"unknown step {cmd}")


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:])))
