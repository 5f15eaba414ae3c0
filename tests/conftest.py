"""Shared fixtures: a fresh registry per test and deterministic ML-shaped tables with edits."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pytest

import dsreg
from dsreg.progress import Progress


@pytest.fixture
def registry(tmp_path, monkeypatch):
    """A new registry in tmp_path/project, with the working directory inside it."""
    root = tmp_path / "project"
    root.mkdir()
    monkeypatch.chdir(root)
    monkeypatch.delenv("DSREG_DIR", raising=False)
    monkeypatch.setenv("DSREG_AUTHOR", "Test Author <test@example.com>")
    reg = dsreg.Registry.init(root)
    yield reg
    reg.close()


_WORDS = np.array("the a of data model label train test good bad great slow fast review movie book".split())


def make_table(n: int, seed: int = 0) -> pa.Table:
    """An ML-shaped table: id, int and float features, a label, free text, an embedding."""
    rng = np.random.default_rng(seed)
    words = _WORDS[rng.integers(0, len(_WORDS), size=(n, 6))]
    lengths = rng.integers(1, 7, size=n)
    text = [" ".join(w[:k]) for w, k in zip(words.tolist(), lengths.tolist())]
    emb = rng.standard_normal(n * 4).astype(np.float32)
    return pa.table({
        "id": pa.array(np.arange(n, dtype=np.int64)),
        "count": pa.array(rng.integers(0, 1000, n)),
        "score": pa.array(rng.random(n)),
        "label": pa.array(rng.choice(["pos", "neg", "neutral"], n)),
        "text": pa.array(text),
        "embedding": pa.FixedSizeListArray.from_arrays(pa.array(emb), 4),
    })


@dataclass
class Edit:
    table: pa.Table
    kind: str
    added_ids: list[int]       # ids of rows only in the new table (edited rows appear in both lists)
    removed_ids: list[int]     # ids of rows only in the old table
    modified_ids: list[int]    # ids whose row changed in place (an edit)


def edit_table(table: pa.Table, kind: str, fraction: float = 0.01, seed: int = 1) -> Edit:
    """Apply one kind of change to `fraction` of the rows: edit, delete, insert, append."""
    n = table.num_rows
    k = max(1, int(n * fraction))
    rng = np.random.default_rng(seed)
    if kind == "edit":
        idx = np.sort(rng.choice(n, k, replace=False))
        score = table["score"].to_numpy().copy()
        score[idx] = -1.0 - rng.random(k)
        t = table.set_column(table.schema.get_field_index("score"), "score", pa.array(score))
        ids = table["id"].to_numpy()[idx].tolist()
        return Edit(t, kind, ids, ids, ids)
    if kind == "delete":
        idx = np.sort(rng.choice(n, k, replace=False))
        keep = np.ones(n, dtype=bool)
        keep[idx] = False
        ids = table["id"].to_numpy()[idx].tolist()
        return Edit(table.filter(pa.array(keep)), kind, [], ids, [])
    new = make_table(k, seed=seed + 100)
    new = new.set_column(0, "id", pa.array(np.arange(n, n + k, dtype=np.int64)))
    if kind == "insert":
        mid = n // 2
        t = pa.concat_tables([table.slice(0, mid), new, table.slice(mid)])
    elif kind == "append":
        t = pa.concat_tables([table, new])
    else:
        raise ValueError(kind)
    return Edit(t, kind, list(range(n, n + k)), [], [])


# -- S3: moto's standalone server, over HTTP on a loopback port ----------------------
import os  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_moto(env: dict | None = None) -> tuple[subprocess.Popen, str]:
    """`moto.server` in its own process on a free loopback port, once it accepts
    connections: (process, endpoint URL)."""
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 30
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            if time.time() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError("moto server did not start") from None
            time.sleep(0.1)
    return proc, f"http://127.0.0.1:{port}"


@pytest.fixture(scope="session")
def s3_endpoint():
    """Start `moto.server` in its own process; yield its endpoint URL."""
    os.environ.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1"})
    os.environ.pop("AWS_PROFILE", None)
    proc, url = start_moto()
    yield url
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


def new_bucket(endpoint: str) -> str:
    import boto3
    name = f"b-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=name)
    return name


@dataclass
class RemoteSpec:
    kind: str
    url: str
    endpoint_url: str | None


@pytest.fixture(params=["file", "s3"])
def remote_spec(request, tmp_path):
    """An empty remote: a folder, or a fresh bucket on the moto server."""
    if request.param == "file":
        folder = tmp_path / "remote"
        folder.mkdir()
        return RemoteSpec("file", f"file://{folder}", None)
    endpoint = request.getfixturevalue("s3_endpoint")
    return RemoteSpec("s3", f"s3://{new_bucket(endpoint)}/team/data", endpoint)


# -- reliability suites: reduced counts by default, the full counts one flag away ----------
def pytest_addoption(parser):
    parser.addoption("--full-reliability", action="store_true", default=False,
                     help="Run the crash, fault and concurrency suites at their full counts "
                          "(same as DSREG_FULL_RELIABILITY=1).")


@pytest.fixture(scope="session")
def full_reliability(request) -> bool:
    return bool(request.config.getoption("--full-reliability")) or os.environ.get("DSREG_FULL_RELIABILITY") == "1"


@pytest.fixture(scope="session")
def s3_auth(tmp_path_factory):
    """A second moto server that checks credentials: a bucket, a read-write key pair and a
    read-only one (s3:GetObject and s3:ListBucket only). Yields a dict of them."""
    from reliability import start_auth_moto
    server = start_auth_moto()
    yield server
    server["proc"].kill()
    server["proc"].wait(10)


def pytest_terminal_summary(terminalreporter):
    """The figures the reliability suites record: kill points, faults, bad inputs, losses."""
    try:
        from reliability import FIGURES
    except ImportError:
        return
    if FIGURES:
        terminalreporter.section("reliability figures")
        for fig in FIGURES:
            terminalreporter.write_line(", ".join(f"{k}={v}" for k, v in fig.items()))


class Recorder(Progress):
    """A Progress that records every event, for tests of what a long operation reports."""

    def __init__(self):
        self.events = []

    def start(self, label, total, unit="rows"):
        self.events.append(("start", label, total, unit))

    def advance(self, n):
        self.events.append(("advance", n))

    def finish(self):
        self.events.append(("finish",))

    @property
    def advanced(self) -> int:
        return sum(e[1] for e in self.events if e[0] == "advance")
