"""The project lock file, `dsreg.lock`: dataset versions pinned for a project, as
`poetry.lock` pins packages. TOML, found by walking up from the working directory;
written whole, temp-then-rename, by `dsreg lock`, in a fixed order so diffs stay small.

    version = 1

    [pins.reviews]
    dataset = "reviews"
    commit = "3fa9c1e0..."          # the full commit id
    ref = "main"                    # what it was taken from (`lock update` follows it)
    remote = "s3://bucket/team"     # where to read it without a registry
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from dsreg.errors import BadInput, UsageError
from dsreg.store.atomic import write_atomic

FILENAME = "dsreg.lock"
FORMAT = 1
_FIELDS = ("dataset", "commit", "ref", "remote", "endpoint_url")


@dataclass(frozen=True)
class Pin:
    alias: str
    dataset: str
    commit: str
    ref: str | None = None
    remote: str | None = None
    endpoint_url: str | None = None

    def to_doc(self) -> dict:
        return asdict(self)


def find_lock(start: str | os.PathLike | None = None) -> Path | None:
    here = Path(start or os.getcwd()).resolve()
    for folder in [here, *here.parents]:
        if (folder / FILENAME).is_file():
            return folder / FILENAME
    return None


def check_alias(alias: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,127}", alias or ""):
        raise UsageError(f"invalid lock alias {alias!r}", "letters, digits, '.', '_', '-' and '/'")
    return alias


def read_lock(path: Path) -> dict[str, Pin]:
    text = path.read_text(encoding="utf-8")
    try:
        doc = _loads(text)
    except ValueError as e:
        raise BadInput(f"{path}: not a dsreg lock file ({e})") from None
    if doc.get("version") != FORMAT:
        raise BadInput(f"{path}: lock file version {doc.get('version')!r} is not {FORMAT}",
                       "upgrade dsreg to read it")
    pins = {}
    for alias, entry in (doc.get("pins") or {}).items():
        if not isinstance(entry, dict) or not isinstance(entry.get("dataset"), str) or \
                not isinstance(entry.get("commit"), str):
            raise BadInput(f"{path}: pin {alias!r} needs a dataset and a commit")
        pins[alias] = Pin(alias, entry["dataset"], entry["commit"],
                          *(_text(entry.get(k), path, alias, k) for k in _FIELDS[2:]))
    return pins


def _text(value: object, path: Path, alias: str, key: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise BadInput(f"{path}: pin {alias!r}: {key} must be a string")
    return value


def write_lock(path: Path, pins: dict[str, Pin]) -> None:
    lines = ["# Dataset versions pinned for this project: written by `dsreg lock`, read by",
             "# dsreg.dataset(\"lock:ALIAS\"). Commit it with your code.", f"version = {FORMAT}", ""]
    for alias in sorted(pins):
        pin = pins[alias]
        lines.append(f"[pins.{_key(alias)}]")
        for k in _FIELDS:
            v = getattr(pin, k)
            if v is not None:
                lines.append(f"{k} = {json.dumps(v)}")     # a JSON string is a TOML basic string
        lines.append("")
    write_atomic(path, "\n".join(lines).encode("utf-8"))


def _key(alias: str) -> str:
    return alias if re.fullmatch(r"[A-Za-z0-9_-]+", alias) else json.dumps(alias)


def _loads(text: str) -> dict:
    try:
        import tomllib
    except ImportError:         # Python 3.10: the subset `write_lock` writes
        return _loads_subset(text)
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ValueError(str(e)) from None


def _loads_subset(text: str) -> dict:
    doc: dict = {}
    table = doc
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = re.fullmatch(r'\[pins\.("(?:[^"\\]|\\.)*"|[A-Za-z0-9_-]+)\]', line)
        if m:
            name = json.loads(m.group(1)) if m.group(1).startswith('"') else m.group(1)
            table = doc.setdefault("pins", {}).setdefault(name, {})
            continue
        m = re.fullmatch(r'([A-Za-z_]+)\s*=\s*(".*"|\d+)', line)
        if not m:
            raise ValueError(f"line {n}")
        table[m.group(1)] = json.loads(m.group(2))
    return doc
