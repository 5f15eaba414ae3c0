"""A small YAML writer for card headers: block style, plain scalars only where they cannot
be read as anything but the same string, double quotes otherwise. (No YAML dependency:
the header is data we build, so dicts, lists, strings, numbers, booleans and null suffice.)"""
from __future__ import annotations

import math
import re
from typing import Any

_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_./+-]*(?: [A-Za-z0-9_./+()-]+)*")
_RESERVED = {"true", "false", "yes", "no", "on", "off", "null", "y", "n", "~"}


def dump(value: Any) -> str:
    return "".join(_block(value, 0))


def _block(value: Any, indent: int):
    pad = " " * indent
    if isinstance(value, dict):
        if not value:
            yield pad + "{}\n"
        for k, v in value.items():
            yield from _entry(pad + scalar(str(k)) + ":", v, indent)
    elif isinstance(value, (list, tuple)):
        if not value:
            yield pad + "[]\n"
        for item in value:
            if isinstance(item, dict) and item:
                lines = list(_block(item, indent + 2))
                yield pad + "- " + lines[0][indent + 2:]
                yield from lines[1:]
            elif isinstance(item, (list, tuple)) and item:
                lines = list(_block(item, indent + 2))
                yield pad + "- " + lines[0][indent + 2:]
                yield from lines[1:]
            else:
                yield pad + "- " + _inline(item) + "\n"
    else:
        yield pad + _inline(value) + "\n"


def _entry(head: str, v: Any, indent: int):
    if isinstance(v, dict) and v:
        yield head + "\n"
        yield from _block(v, indent + 2)
    elif isinstance(v, (list, tuple)) and v:
        yield head + "\n"
        yield from _block(v, indent)      # sequences sit at their key's indent, as PyYAML writes them
    else:
        yield head + " " + _inline(v) + "\n"


def _inline(v: Any) -> str:
    if isinstance(v, dict):
        return "{}"
    if isinstance(v, (list, tuple)):
        return "[]"
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return ".nan"
        if math.isinf(v):
            return ".inf" if v > 0 else "-.inf"
        return repr(v)
    return scalar(str(v))


def scalar(s: str) -> str:
    if _PLAIN.fullmatch(s) and s.lower() not in _RESERVED:
        return s
    return '"' + "".join(_escape(ch) for ch in s) + '"'


def _escape(ch: str) -> str:
    if ch == '"':
        return '\\"'
    if ch == "\\":
        return "\\\\"
    code = ord(ch)
    if ch == "\n":
        return "\\n"
    if ch == "\t":
        return "\\t"
    printable = 0x20 <= code <= 0x7E or 0xA0 <= code <= 0xD7FF or 0xE000 <= code <= 0xFFFD \
        or 0x10000 <= code <= 0x10FFFF
    if printable and code not in (0xFEFF, 0x2028, 0x2029):   # line breaks to YAML readers
        return ch
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"
