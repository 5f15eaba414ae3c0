"""Strict quoting for CSV and TSV files, checked before Arrow reads them.

Arrow's reader is lenient where Python's `csv` (strict) and pandas are not: a quote opened
and never closed takes the rest of the file into one field (rows vanish), and text after a
closing quote is glued onto the field (`"abc"def` reads as `abcdef`). Both are refused
here with the line they start on, so what Arrow then reads is what the file says.

The grammar is Arrow's own: a field that starts with a quote is quoted, ends at a quote
not doubled, and must be followed by the delimiter, a line end or the end of the file; a
quote anywhere else in an unquoted field is a plain character.

Two checks, the files memory-mapped:
- `QuotingCheck`, while Arrow reads the file: quotes taken in pairs must open right after
  a delimiter or line end (or a closing quote: a doubled one) and close right before one.
  That is exactly well-formed quoting when no unquoted field holds a quote, and numpy
  releases the GIL, so it costs about no time where a core is free (~0.3 s of CPU per
  100 MB of heavily quoted CSV; a file without quotes, one `find`).
- `check_quoting`, when that check fails or Arrow gives up: one regular expression walks
  the file by runs of non-quote bytes, quotes inside unquoted fields allowed, and names the
  line where it goes wrong.
"""
from __future__ import annotations

import mmap
import re
import threading
from functools import cache
from pathlib import Path

import numpy as np

from dsreg.errors import BadInput

_BOM = b"\xef\xbb\xbf"
_HINT = 'close each quoted field right before the delimiter or the line end, doubling quotes inside ("a ""b"" c")'


@cache
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


_WINDOW = 64 << 20


def quoting_is_plain(path: Path, delimiter: str) -> bool:
    """True when every quote pairs up as well-formed quoting with no quote inside an
    unquoted field (then `check_quoting` would pass); False means: look closer."""
    with open(path, "rb") as f:
        size = f.seek(0, 2)
        if size == 0:
            return True
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
            if data.find(b'"') < 0:
                return True
            start = len(_BOM) if data[:len(_BOM)] == _BOM else 0
            return _pairs_are_plain(np.frombuffer(data, dtype=np.uint8), start, delimiter.encode())


def _pairs_are_plain(data: np.ndarray, start: int, delimiter: bytes) -> bool:
    # (the views of the mapped file die with this frame, so the map can close)
    around = np.zeros(256, dtype=bool)          # what may stand before an opening quote / after a closing one
    around[[delimiter[0], ord("\n"), ord("\r"), ord('"')]] = True
    size, parity = len(data), 0
    for at in range(start, size, _WINDOW):
        quotes = np.flatnonzero(data[at:at + _WINDOW] == ord('"')) + at
        opening, closing = quotes[parity::2], quotes[1 - parity::2]
        parity = (parity + len(quotes)) % 2
        if len(opening) and opening[0] == start:
            opening = opening[1:]
        if len(closing) and closing[-1] == size - 1:
            closing = closing[:-1]
        if not around[data[opening - 1]].all() or not around[data[closing + 1]].all():
            return False
    return parity == 0


class QuotingCheck:
    """`quoting_is_plain` in a thread, started now; `finish()` waits for it, and when the
    file is not plain, runs `check_quoting` (which raises if the quoting is wrong)."""

    def __init__(self, path: Path, delimiter: str):
        self.path, self.delimiter = path, delimiter
        self.plain = False
        self.thread = threading.Thread(target=self._run, name="dsreg-csv-quotes", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.plain = quoting_is_plain(self.path, self.delimiter)
        except (OSError, ValueError):
            self.plain = False          # check_quoting will say what it finds

    def finish(self) -> None:
        self.thread.join()
        if not self.plain:
            check_quoting(self.path, self.delimiter)
            self.plain = True           # checked: well-formed after all


def csv_parse_options(fmt: str):
    """How dsreg parses CSV and TSV (checkout checks its files read back through these)."""
    import pyarrow.csv as pcsv
    # newlines_in_values: blocks are cut outside quotes, else a quoted value with a line
    # break across a block boundary became two rows (silently, with the right column count)
    return pcsv.ParseOptions(delimiter="\t" if fmt == "tsv" else ",", newlines_in_values=True)
