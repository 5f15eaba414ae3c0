"""Refusing JSON Lines nested deeper than anything storable, before Arrow parses them.

Arrow's JSON reader recurses once per level and overflows the C stack somewhere beyond
5,000 levels: the process dies (SIGSEGV) with no error to report. No such line can be
stored anyway (Parquet reads at most 100 levels; see `checked.parquet_depth`), so a file
is scanned first. The scan is cheap where it can be: a line can nest `limit` levels only
if it holds `limit` opening brackets, so only such lines (rare in real data) get the exact
count, which skips brackets inside strings.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from dsreg.errors import BadInput

MAX_DEPTH = 1000        # far below where Arrow crashes, far above what Parquet can hold
_BLOCK = 16 << 20


def check_json_depth(path: Path, limit: int = MAX_DEPTH) -> None:
    """BadInput naming the first line of `path` that nests more than `limit` levels."""
    line_no = 0
    carry = b""
    with open(path, "rb") as f:
        while True:
            chunk = f.read(_BLOCK)
            block = carry + chunk
            if not block:
                return
            cut = block.rfind(b"\n") + 1 if chunk else len(block)
            if cut == 0 and len(block) < 4 * _BLOCK:
                carry = block               # one line so far: read on to its end
                continue
            lines, carry = (block[:cut], block[cut:]) if cut else (block, b"")
            _check_lines(path, lines, line_no, limit)
            line_no += lines.count(b"\n")
            if not chunk:
                return


def _check_lines(path: Path, lines: bytes, first: int, limit: int) -> None:
    if lines.count(b"[") + lines.count(b"{") <= limit:
        return
    b = np.frombuffer(lines, np.uint8)
    ends = np.flatnonzero(b == 10)
    starts = np.concatenate([[0], ends + 1])
    stops = np.concatenate([ends, [len(b)]])
    for i in np.flatnonzero(stops - starts > limit).tolist():
        line = lines[starts[i]:stops[i]]
        if line.count(b"[") + line.count(b"{") > limit and max_depth(line) > limit:
            raise BadInput(f"{path}: line {first + i + 1} nests values more than {limit} levels deep, "
                           "which no column can hold", "flatten the data first")


def max_depth(line: bytes) -> int:
    """How deep a JSON text nests arrays and objects, not counting brackets in strings."""
    b = np.frombuffer(line, np.uint8)
    quote = b == ord('"')
    backslash = b == ord("\\")
    if backslash.any():
        # a quote is escaped when an odd number of backslashes precede it
        idx = np.arange(len(b))
        last_other = np.maximum.accumulate(np.where(backslash, -1, idx))
        before = np.concatenate([[-1], last_other[:-1]])
        quote &= (idx - 1 - before) % 2 == 0
    in_string = np.cumsum(quote, dtype=np.int64) % 2 == 1
    step = (b == ord("[")).astype(np.int64) + (b == ord("{")) - (b == ord("]")) - (b == ord("}"))
    step[in_string] = 0
    return int(np.cumsum(step).max(initial=0))
