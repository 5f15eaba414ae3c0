"""`dsreg card --set KEY=VALUE`: the command line's syntax for card fields."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from dsreg.errors import DsregError, UsageError


def parse_assignments(items: list[str] | tuple[str, ...], base: str | Path = ".") -> dict[str, Any]:
    """`KEY=VALUE` strings as {key: value}; `@FILE` reads the value from a file, `@@` is a
    literal `@`; an empty value removes the field (its value is None)."""
    from dsreg.card.fields import validate  # (imports the card package: not for --help)
    out: dict[str, Any] = {}
    for item in items:
        key, eq, raw = item.partition("=")
        key = key.strip()
        if not eq or not key:
            raise UsageError(f"--set {item!r}: expected KEY=VALUE")
        if raw.startswith("@@"):
            raw = raw[1:]
        elif raw.startswith("@"):
            path = Path(base) / raw[1:]
            try:
                raw = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as e:
                raise DsregError(f"--set {key}: cannot read {path}: {getattr(e, 'strerror', None) or e}") from None
        out[key] = validate(key, raw)
    return out
