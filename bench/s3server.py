"""moto's standalone S3 server on a loopback port, started and stopped by the bench."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
               "AWS_DEFAULT_REGION": "us-east-1"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MotoServer:
    """`with MotoServer() as s3:` gives `s3.endpoint`; credentials go into os.environ."""

    def __init__(self):
        self.port = _free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> MotoServer:
        os.environ.update(CREDENTIALS)
        os.environ.pop("AWS_PROFILE", None)
        self.proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    break
            except OSError:
                if time.time() > deadline or self.proc.poll() is not None:
                    self.proc.kill()
                    raise RuntimeError("moto server did not start") from None
                time.sleep(0.1)
        return self

    def __exit__(self, *exc) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def client(self):
        import boto3
        return boto3.client("s3", endpoint_url=self.endpoint)

    def new_bucket(self, prefix: str = "bench") -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:10]}"
        self.client().create_bucket(Bucket=name)
        return name

    def stored_bytes(self, bucket: str, prefix: str = "") -> int:
        """Total size of the objects under a prefix (what a tool keeps on the remote)."""
        total = 0
        for page in self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            total += sum(o["Size"] for o in page.get("Contents", []))
        return total
