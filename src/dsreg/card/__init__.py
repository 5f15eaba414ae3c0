"""Dataset cards for any version: a Hugging Face compatible README.md (YAML header and
Markdown body), one self-contained HTML page, or JSON, from the same `Card` value.

Layered on porcelain, diff and the column statistics; the command line only calls
`build_card`, `render` and `set_fields`.
"""
from __future__ import annotations

import json

from .fields import KNOWN_FIELDS, parse_assignments, set_fields
from .model import Card, build_card

FORMATS = ("md", "html", "json")


def render(card: Card, fmt: str = "md") -> str:
    if fmt == "md":
        from .markdown import render as md
        return md(card)
    if fmt == "html":
        from .html import render as html
        return html(card)
    if fmt == "json":
        return json.dumps(card.to_json(), indent=2, ensure_ascii=False) + "\n"
    from ..errors import UsageError
    raise UsageError(f"unknown card format {fmt!r}; use one of {', '.join(FORMATS)}")


def card(reg, spec: str, fmt: str = "md", **kw) -> str:
    """The card of version `spec`, rendered."""
    return render(build_card(reg, spec, **kw), fmt)


__all__ = ["Card", "build_card", "render", "card", "set_fields", "parse_assignments", "KNOWN_FIELDS", "FORMATS"]
