"""Reading bytes that came from outside (a remote, a damaged disk): bounded decompression,
JSON without surprises, and typed fields.

A remote is not trusted: its objects are verified against their ids, but an id only says
the bytes are what someone stored, not that dsreg wrote them. Everything here raises
ValueError (the decoders turn it into CorruptObject, naming the object) for anything
dsreg never writes: a zlib stream that inflates far beyond its size, JSON nested deeper
than any object of ours, NaN, a count or time beyond any real one.
"""
from __future__ import annotations

import json
import zlib
from collections.abc import Iterable
from typing import Any

# What a zlib stream may inflate to: dsreg's objects compress a few times, seldom tens of
# times (run triples, JSON of random ids), a "zlib bomb" a thousand times. Beyond both
# limits the stream is refused before it is inflated further.
INFLATE_FLOOR = 64 << 20       # (2.8 million runs, whatever their pattern)
INFLATE_RATIO = 128
MAX_JSON_DEPTH = 64             # user metadata included; deeper trees are refused
MAX_COUNT = 1 << 40             # rows in a shard, bytes of an object: beyond any real one
# commit times: 1901..2242 (what every platform's datetime can show, in any time zone)
MIN_TIMESTAMP, MAX_TIMESTAMP = -(1 << 31), 1 << 33


def inflate_limit(compressed: int) -> int:
    return max(INFLATE_FLOOR, INFLATE_RATIO * compressed)


class Inflater:
    """Inflates a zlib stream piece by piece, never more than asked for, and refuses a
    stream that ends early, inflates beyond `limit`, or is followed by other bytes."""

    def __init__(self, data: bytes, limit: int | None = None):
        self._d = zlib.decompressobj()
        self._tail = data
        self.limit = inflate_limit(len(data)) if limit is None else limit
        self.done = 0

    def take(self, n: int) -> bytes:
        """Exactly the next `n` inflated bytes."""
        if n < 0 or self.done + n > self.limit:
            raise ValueError(f"it inflates to more than {self.limit} bytes")
        out = self._d.decompress(self._tail, n) if n else b""
        self._tail = self._d.unconsumed_tail
        if len(out) < n:
            del out
            raise ValueError("its zlib stream is truncated")
        self.done += n
        return out

    def rest(self) -> bytes:
        """Everything left, within the limit (inflated a piece at a time: a refused stream
        costs the limit, not twice it)."""
        pieces: list[bytes] = []
        while not self._d.eof and (self._tail or not pieces or pieces[-1]):
            piece = self._d.decompress(self._tail, 1 << 20)
            self._tail = self._d.unconsumed_tail
            self.done += len(piece)
            if self.done > self.limit:
                pieces.clear()      # (the traceback keeps this frame: not its 100 MiB)
                raise ValueError(f"it inflates to more than {self.limit} bytes")
            pieces.append(piece)
        self.end()
        return b"".join(pieces)

    def end(self) -> None:
        """The stream must end here, exactly."""
        if not self._d.eof and self._d.decompress(self._tail, 1):
            raise ValueError("its zlib stream holds more than it should")
        if not self._d.eof:
            raise ValueError("its zlib stream is truncated")
        if self._d.unused_data:
            raise ValueError("bytes follow its zlib stream")


def inflate(data: bytes) -> bytes:
    """A whole zlib stream, within `inflate_limit`."""
    return Inflater(data).rest()


def _no_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def loads(data: bytes | str) -> Any:
    """json.loads without NaN or Infinity, and a ValueError (not RecursionError) for
    nesting that exhausts the stack."""
    try:
        return json.loads(data, parse_constant=_no_constant)
    except RecursionError:
        raise ValueError("its JSON nests too deeply") from None


def too_deep(value: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether a JSON value nests lists and objects more than `limit` levels (walked
    without recursion, so any depth is answered)."""
    stack = [(value, 1)]
    while stack:
        v, depth = stack.pop()
        if isinstance(v, dict):
            children: Iterable[Any] = v.values()
        elif isinstance(v, list):
            children = v
        else:
            continue
        if depth > limit:
            return True
        stack.extend((c, depth + 1) for c in children)
    return False


def json_problem(value: Any, limit: int = MAX_JSON_DEPTH) -> str | None:
    """What keeps a Python value from being stored as JSON and read back the same (None:
    nothing): keys that are not strings, NaN and infinities, tuples, bytes, sets and other
    objects, nesting deeper than `limit`. Walked without recursion."""
    stack = [(value, 1, "")]
    while stack:
        v, depth, at = stack.pop()
        where = f" at {at[:80]}" if at else ""
        if v is None or isinstance(v, (bool, int, str)):
            continue
        if isinstance(v, float):
            if v != v or v in (float("inf"), float("-inf")):
                return f"holds {v}{where}, which JSON cannot"
            continue
        if not isinstance(v, (dict, list)):
            return f"holds a {type(v).__name__}{where}, which JSON cannot"
        if depth > limit:
            return f"nests more than {limit} levels deep"
        if isinstance(v, dict):
            for k, x in v.items():
                if not isinstance(k, str):
                    return f"has the key {k!r}{where}, which is not a string"
                stack.append((x, depth + 1, f"{at}[{k!r}]"))
        else:
            stack.extend((x, depth + 1, f"{at}[{i}]") for i, x in enumerate(v))
    return None


def field(doc: Any, key: str, kind: type | tuple[type, ...]) -> Any:
    """doc[key], which must be of `kind` (an int is never a bool here)."""
    if not isinstance(doc, dict):
        raise ValueError(f"expected a JSON object, found {type(doc).__name__}")
    if key not in doc:
        raise ValueError(f"{key!r} is missing")
    value = doc[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        raise ValueError(f"{key!r} is {type(value).__name__}, expected {' or '.join(k.__name__ for k in kinds)}")
    return value


def count(value: Any, what: str, lo: int = 0, hi: int = MAX_COUNT) -> int:
    """A whole number in [lo, hi]."""
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        shown = repr(value)[:40]
        raise ValueError(f"{what} is {shown}, expected a whole number from {lo} to {hi}")
    return value


def timestamp(value: Any) -> int:
    return count(value, "timestamp", MIN_TIMESTAMP, MAX_TIMESTAMP)


def parquet_depth(t) -> int:
    """How deep a column of Arrow type `t` nests in a Parquet schema, counting its root
    and leaf as Parquet does (a struct is one level, a list or map two), walked without
    recursion. Parquet readers refuse more than PARQUET_MAX_DEPTH."""
    import pyarrow as pa
    deepest, stack = 0, [(t, 2)]          # the schema root and the leaf
    while stack:
        t, depth = stack.pop()
        deepest = max(deepest, depth)
        if depth > PARQUET_MAX_DEPTH:
            break
        if pa.types.is_dictionary(t):
            stack.append((t.value_type, depth))
        elif pa.types.is_struct(t):
            stack.extend((f.type, depth + 1) for f in t)
        elif pa.types.is_map(t):
            stack.extend(((t.key_type, depth + 2), (t.item_type, depth + 2)))
        elif hasattr(t, "value_type"):      # lists of every kind
            stack.append((t.value_type, depth + 2))
    return deepest


PARQUET_MAX_DEPTH = 100     # Arrow's Parquet reader: "schema depth limit (current limit is 100)"
