"""What the reliability suites share: running the real CLI, hashing a registry, reading
back every version, spreading kill points, the credential-checking S3 server, and the
figures each suite reports at the end of the run."""
from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pyarrow as pa

FIGURES: list[dict] = []        # printed by conftest's terminal summary


def record(suite: str, **figures) -> None:
    FIGURES.append({"suite": suite, **figures})
    path = os.environ.get("DSREG_RELIABILITY_FIGURES")
    if path:
        with open(path, "a") as f:
            f.write(json.dumps({"suite": suite, **figures}) + "\n")


# -- the registry, byte for byte ------------------------------------------------------
def checkpoint(dsreg_dir: Path) -> None:
    """Fold the SQLite write-ahead log into the database file, so that the file holds
    every committed transaction and the -wal/-shm files (which readers may create and
    remove at will) carry nothing a hash should see."""
    db = Path(dsreg_dir) / "manifest.sqlite"
    if db.exists():
        conn = sqlite3.connect(str(db))
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()


def tree_hash(dsreg_dir: Path) -> str:
    """Every path and every file's bytes under `.dsreg/` (after a checkpoint), except the
    WAL and shared-memory files, which are empty or absent after it."""
    dsreg_dir = Path(dsreg_dir)
    checkpoint(dsreg_dir)
    h = hashlib.sha256()
    for p in sorted(dsreg_dir.rglob("*")):
        if p.name.endswith(("-wal", "-shm")):
            continue
        h.update(str(p.relative_to(dsreg_dir)).encode() + (b"/" if p.is_dir() else b""))
        if p.is_file():
            h.update(hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()


def versions(reg) -> dict[tuple[str, str, str], pa.Table]:
    """Every version every branch and tag reaches: {(dataset, commit, split): table}."""
    out = {}
    for ds in reg.manifest.datasets():
        for ref in reg.manifest.refs(ds):
            for entry in reg.log(f"{ds}@{ref.commit}"):
                for split in reg.show(f"{ds}@{entry.id}").splits:
                    key = (ds, entry.id, split)
                    if key not in out:
                        out[key] = reg.load(f"{ds}@{entry.id}", split=split)
    return out


def assert_versions_load(reg, expected: dict) -> int:
    """Each version in `expected` reads back exactly as it did; returns how many did not
    (always 0 when the assertion passes: that is the 'lost' figure)."""
    from dsreg.rows.equality import tables_equal
    lost = []
    for (ds, cid, split), table in expected.items():
        got = reg.load(f"{ds}@{cid}", split=split)
        if not (tables_equal(got, table) and got.schema.equals(table.schema, check_metadata=False)):
            lost.append((ds, cid, split))
    assert not lost, f"versions that no longer read back as before: {lost}"
    return len(lost)


# -- the real CLI ----------------------------------------------------------------------
def dsreg_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "dsreg.cli", *args]


def run_dsreg(*args: str, cwd, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    full_env = dict(os.environ, **(env or {}))
    return subprocess.run(dsreg_cmd(*args), cwd=cwd, env=full_env, capture_output=True, text=True,
                          timeout=timeout)


def run_killed_after(args: list[str], cwd, delay: float, env: dict | None = None) -> int:
    """Start the CLI and SIGKILL it after `delay` seconds (if it is still running)."""
    proc = subprocess.Popen(dsreg_cmd(*args), cwd=cwd, env=dict(os.environ, **(env or {})),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        proc.wait(delay)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
    return proc.wait()


def spread(n_items: int, k: int) -> list[int]:
    """k indices (0-based) spread evenly over range(n_items), first and last included."""
    if n_items <= k:
        return list(range(n_items))
    if k == 1:
        return [n_items // 2]
    return sorted({round(i * (n_items - 1) / (k - 1)) for i in range(k)})


# -- S3 with real credential checks ----------------------------------------------------
def start_auth_moto() -> dict:
    """moto's server with IAM authentication switched on after the setup requests."""
    import urllib.request

    import boto3

    from helpers.s3 import start_moto
    proc, url = start_moto(dict(os.environ, INITIAL_NO_AUTH_ACTION_COUNT="1000000"))
    kw = dict(endpoint_url=url, region_name="us-east-1", aws_access_key_id="setup", aws_secret_access_key="setup")
    iam, s3 = boto3.client("iam", **kw), boto3.client("s3", **kw)
    s3.create_bucket(Bucket="authbucket")

    def user(name, actions):
        iam.create_user(UserName=name)
        iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}))
        key = iam.create_access_key(UserName=name)["AccessKey"]
        return {"AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]}

    rw = user("writer", ["s3:*"])
    ro = user("reader", ["s3:GetObject", "s3:ListBucket"])
    req = urllib.request.Request(url + "/moto-api/reset-auth", data=b"0", method="POST",
                                 headers={"Content-Type": "text/plain"})
    urllib.request.urlopen(req).read()
    return {"proc": proc, "endpoint": url, "bucket": "authbucket", "rw": rw, "ro": ro}
