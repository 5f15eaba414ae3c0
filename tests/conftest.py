"""Shared fixtures: a fresh registry per test, S3 servers, remotes. Helper functions live in
tests/helpers/ (tables, S3, CLI runners, proxies, crash and fault drivers)."""
from __future__ import annotations

from dataclasses import dataclass

import pytest

import dsreg
from helpers.s3 import new_bucket, start_moto


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


# -- S3: moto's standalone server, over HTTP on a loopback port ----------------------
import os  # noqa: E402
import subprocess  # noqa: E402


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
    from helpers.reliability import start_auth_moto
    server = start_auth_moto()
    yield server
    server["proc"].kill()
    server["proc"].wait(10)


def pytest_terminal_summary(terminalreporter):
    """The figures the reliability suites record: kill points, faults, bad inputs, losses."""
    try:
        from helpers.reliability import FIGURES
    except ImportError:
        return
    if FIGURES:
        terminalreporter.section("reliability figures")
        for fig in FIGURES:
            terminalreporter.write_line(", ".join(f"{k}={v}" for k, v in fig.items()))


