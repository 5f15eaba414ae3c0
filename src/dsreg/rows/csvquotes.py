"""Strict quoting for CSV and TSV files, checked before Arrow reads them.

Arrow's reader is lenient where Python's `csv` (strict) and pandas are not: a quote opened
and never closed takes the rest of the file into one field (rows vanish), and text after a
closing quote is glued onto the field (`"abc"def` reads as `abcdef`). Both are refused
here with the line they start on, so what Arrow then reads is what the file says.

The grammar is Arrow's own: a field that starts with a quote is quoted, ends at a quote
not doubled, and must be followed by the delimiter, a line end or the end of the file; a
quote anywhere else in an unquoted field is a plain character. One regular expression
walks the file (memory-mapped) by runs of non-quote bytes, so a file without quotes costs
one `find`, and a file full of quoted fields about as much as Arrow's own parse of it.
"""
from __future__ import annotations

import mmap
import re
from functools import lru_cache
from pathlib import Path

from dsreg.errors import BadInput

_BOM = b"\xef\xbb\xbf"
_HINT = 'close each quoted field right before the delimiter or the line end, doubling quotes inside ("a ""b"" c")'


@lru_cache(maxsize=None)
def _walker(delimiter: bytes) -> re.Pattern:
    d = re.escape(delimiter)
    end = b"(?=[" + d + rb"\r\n]|\Z)"
    quoted = rb'"(?:[^"]++|"")*+"' + end
    # at the start: a quoted first field, or anything but a quote; then runs of non-quote
    # bytes, quoted fields right after a delimiter or line end, and quotes inside unquoted
    # fields (after any other byte). Possessive: no backtracking, linear time.
    return re.compile(rb"(?:" + quoted + rb'|(?!"))(?:[^"]++|(?<=[' + d + rb'\r\n])' + quoted +
                      rb'|(?<=[^' + d + rb'\r\n])")*+')


def check_quoting(path: Path, delimiter: str) -> None:
    """Raise BadInput naming the line where the file's quoting goes wrong."""
    with open(path, "rb") as f:
        if f.seek(0, 2) == 0:
            return
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
            if data.find(b'"') < 0:
                return
            start = len(_BOM) if data[:len(_BOM)] == _BOM else 0
            m = _walker(delimiter.encode()).match(data, start)
            stop = m.end() if m else start
            if stop == len(data):
                return
            what, where = _what_went_wrong(data, stop)
            line = _line_of(data, where)
    kind = "TSV" if delimiter == "\t" else "CSV"
    raise BadInput(f"{path}: cannot read it as {kind}: malformed quoting at line {line}: {what}", _HINT)


def _what_went_wrong(data: mmap.mmap, at: int) -> tuple[str, int]:
    """What is wrong, and where: the walk stops at a quote that opens a field, which either
    never closes, or is followed by something other than the delimiter or a line end."""
    m = re.compile(rb'"(?:[^"]++|"")*+"').match(data, at)
    if m is None:
        return "a quoted field opens here and is never closed", at
    after = bytes(data[m.end():m.end() + 1])
    return f"{after.decode('latin-1')!r} after a closing quote", m.end()


def _line_of(data: mmap.mmap, at: int) -> int:
    line, pos, step = 1, 0, 64 << 20
    while pos < at:
        line += data[pos:min(pos + step, at)].count(b"\n")
        pos += step
    return line
