"""The physical limits: raw parallel boto3 upload and download of a set of files, and
`pyarrow.parquet.read_table` of the Parquet ones from local disk. Run as a process:

    python -m bench.rawio upload ENDPOINT BUCKET PREFIX FILE...
    python -m bench.rawio download ENDPOINT BUCKET PREFIX DIR
    python -m bench.rawio read DIR

Prints one JSON document: {"bytes": ..., "files": ...} (read adds "rows").
"""
from __future__ import annotations

import json
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

THREADS = 16
MULTIPART = 64 << 20


def _client(endpoint: str):
    import boto3
    from botocore.config import Config
    return boto3.session.Session().client("s3", endpoint_url=endpoint,
                                          config=Config(max_pool_connections=THREADS * 2,
                                                        s3={"addressing_style": "path"}))


def _transfer_config():
    from boto3.s3.transfer import TransferConfig
    return TransferConfig(multipart_threshold=MULTIPART, multipart_chunksize=16 << 20, max_concurrency=4)


def upload(endpoint: str, bucket: str, prefix: str, files: list[str]) -> dict:
    s3 = _client(endpoint)
    cfg = _transfer_config()

    def put(path: str) -> int:
        key = f"{prefix}/{Path(path).name}"
        size = os.path.getsize(path)
        if size >= MULTIPART:
            s3.upload_file(path, bucket, key, Config=cfg)
        else:
            with open(path, "rb") as f:
                s3.put_object(Bucket=bucket, Key=key, Body=f.read())
        return size

    with ThreadPoolExecutor(THREADS) as pool:
        sizes = list(pool.map(put, files))
    return {"bytes": sum(sizes), "files": len(sizes)}


def download(endpoint: str, bucket: str, prefix: str, dest: str) -> dict:
    s3 = _client(endpoint)
    cfg = _transfer_config()
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "/"):
        keys += [(o["Key"], o["Size"]) for o in page.get("Contents", [])]
    Path(dest).mkdir(parents=True, exist_ok=True)

    def get(item) -> int:
        key, size = item
        path = Path(dest) / key.rsplit("/", 1)[-1]
        if size >= MULTIPART:
            s3.download_file(bucket, key, str(path), Config=cfg)
        else:
            path.write_bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        return size

    with ThreadPoolExecutor(THREADS) as pool:
        sizes = list(pool.map(get, keys))
    return {"bytes": sum(sizes), "files": len(sizes)}


def read(folder: str) -> dict:
    import pyarrow as pa
    import pyarrow.parquet as pq
    tables, total = [], 0
    for path in sorted(Path(folder).iterdir()):
        with open(path, "rb") as f:
            if f.read(4) != b"PAR1":
                continue
        total += path.stat().st_size
        tables.append(pq.read_table(path))
    table = pa.concat_tables(tables)
    return {"bytes": total, "files": len(tables), "rows": table.num_rows, "nbytes": table.nbytes}


def main(argv: list[str]) -> dict:
    cmd = argv[0]
    if cmd == "upload":
        return upload(argv[1], argv[2], argv[3], argv[4:])
    if cmd == "download":
        return download(argv[1], argv[2], argv[3], argv[4])
    if cmd == "read":
        return read(argv[1])
    raise SystemExit(f"unknown command {cmd}")


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:])))
