"""Typed ids and the one content hash (xxh3-128, hex) every object is named by."""
from __future__ import annotations

import re
from typing import NewType

import xxhash

ObjectId = NewType("ObjectId", str)   # any content-addressed object
ShardId = NewType("ShardId", ObjectId)    # a Parquet shard
CommitId = NewType("CommitId", ObjectId)  # a commit object

HASH_NAME = "xxh3-128"
ID_LENGTH = 32
_ID_RE = re.compile(r"^[0-9a-f]{32}$")


def hash_bytes(data: bytes | memoryview) -> ObjectId:
    return ObjectId(xxhash.xxh3_128_hexdigest(data))


def new_hasher() -> xxhash.xxh3_128:
    return xxhash.xxh3_128()


def is_object_id(text: str) -> bool:
    """True for a well-formed full object id; used before any id touches a path."""
    return bool(_ID_RE.match(text))
