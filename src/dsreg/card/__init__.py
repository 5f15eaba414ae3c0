"""Dataset cards for any version: a Hugging Face compatible README.md (YAML header and
Markdown body), one self-contained HTML page, or JSON, from the same `Card` value.

Layered on porcelain, diff and the column statistics; the command line only calls
`build_card`, `render` and `set_fields`.
"""
from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING

from dsreg.card.fields import KNOWN_FIELDS, set_fields
from dsreg.card.model import Card, build_card

if TYPE_CHECKING:
    from dsreg.registry import Registry

FORMATS = ("md", "html", "json")


def render(card: Card, fmt: str = "md") -> str:
    if fmt == "md":
        from dsreg.card.markdown import render as md
        return md(card)
    if fmt == "html":
        from dsreg.card.html import render as html
        return html(card)
    if fmt == "json":
        return json.dumps(card.to_json(), indent=2, ensure_ascii=False) + "\n"
    from dsreg.errors import UsageError
    raise UsageError(f"unknown card format {fmt!r}; use one of {', '.join(FORMATS)}")


def check_output(path: str) -> None:
    """Refuse an output file that cannot be written, before anything is recorded or computed."""
    from dsreg.errors import DsregError
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise DsregError(f"cannot write {path}: it is a folder")
    if not os.path.isdir(folder):
        raise DsregError(f"cannot write {path}: no folder {folder}")
    if not os.access(folder, os.W_OK | os.X_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
        raise DsregError(f"cannot write {path}: permission denied")


def card(reg: Registry, spec: str, fmt: str = "md", **kw) -> str:
    """The card of version `spec`, rendered."""
    return render(build_card(reg, spec, **kw), fmt)


__all__ = ["Card", "build_card", "render", "card", "check_output", "set_fields", "KNOWN_FIELDS", "FORMATS"]
