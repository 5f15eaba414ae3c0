"""Validation of dataset, branch, tag and split names.

Two levels. The syntax (git's ref-name rules, plus '@'): what makes a name safe as a path
and parseable in NAME@REV; every name read back from a store, or typed to address one
that exists, is checked against it only, so what an older dsreg stored stays reachable.
A new name must pass more (`check_*_name`): no character that makes it look like another
name, a length every file system and store takes, and, for branches and tags, not the
look of a commit id, which must always mean that commit.
"""
from __future__ import annotations

import re
import unicodedata

from dsreg.errors import InvalidName

_FORBIDDEN_CHARS = set(" ~^:?*[\\@")
# hex-only names of 6+ characters read as commit ids or prefixes of them (git refuses 40)
_LOOKS_LIKE_ID = re.compile(r"^[0-9a-fA-F]{6,}$")
# control characters (C0, DEL, C1), invisible or direction-changing ones (Cf: bidi
# overrides, zero-width characters), surrogates, and separators other than ' '
_HIDDEN_CATEGORIES = ("Cc", "Cf", "Cs", "Zs", "Zl", "Zp")
MAX_COMPONENT_BYTES = 200       # a component is a file name on folder remotes (255 bytes at most)
MAX_NAME_BYTES = 400            # the whole name sits in an S3 key (1024 bytes at most)
REF_KINDS = ("branch", "tag")


def check_ref_syntax(name: str, kind: str = "branch", allow_slash: bool = True) -> str:
    """Refuse what `git check-ref-format` refuses, plus '@' (our revision separator)."""
    if not isinstance(name, str) or not name:
        raise InvalidName(kind, name if isinstance(name, str) else repr(name), "it is empty")
    if name.startswith("-"):
        raise InvalidName(kind, name, "it starts with '-'")
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise InvalidName(kind, name, "it contains a control character")
    bad = sorted(_FORBIDDEN_CHARS.intersection(name))
    if bad:
        raise InvalidName(kind, name, f"it contains {' '.join(repr(c) for c in bad)}")
    if ".." in name:
        raise InvalidName(kind, name, "it contains '..'")
    if name.startswith("/") or name.endswith("/") or "//" in name:
        raise InvalidName(kind, name, "it starts or ends with '/' or has an empty component")
    if not allow_slash and "/" in name:
        raise InvalidName(kind, name, "it contains '/'")
    for part in name.split("/"):
        if part.startswith(".") or part.endswith(".lock"):
            raise InvalidName(kind, name, "a component starts with '.' or ends with '.lock'")
    if name.endswith("."):
        raise InvalidName(kind, name, "it ends with '.'")
    return name


def check_ref_name(name: str, kind: str = "branch", allow_slash: bool = True) -> str:
    """A new name: the syntax, and nothing that could make it mean something else."""
    check_ref_syntax(name, kind, allow_slash)
    for c in name:
        category = unicodedata.category(c)
        if category == "Cc":
            raise InvalidName(kind, name, f"it contains a control character (U+{ord(c):04X})")
        if category in _HIDDEN_CATEGORIES:
            raise InvalidName(kind, name, f"it contains U+{ord(c):04X}, an invisible or direction-changing "
                                          "character that makes one name look like another")
    shown = name if len(name) <= 60 else name[:60] + "..."
    if len(name.encode()) > MAX_NAME_BYTES:
        raise InvalidName(kind, shown, f"it is longer than {MAX_NAME_BYTES} bytes")
    if any(len(part.encode()) > MAX_COMPONENT_BYTES for part in name.split("/")):
        what = "a component" if "/" in name else "it"
        raise InvalidName(kind, shown, f"{what} is longer than {MAX_COMPONENT_BYTES} bytes")
    if kind in REF_KINDS and looks_like_commit_id(name):
        err = InvalidName(kind, name, "it looks like a commit id (only hex digits, 6 or more), and "
                                      "NAME@REV must always mean that commit")
        err.hint = "add a character other than 0-9 and a-f, e.g. a leading 'v'"
        raise err
    return name


def looks_like_commit_id(name: str) -> bool:
    """Could NAME@this be read as a commit id or a prefix of one?"""
    return bool(_LOOKS_LIKE_ID.match(name))


def check_dataset_name(name: str) -> str:
    return check_ref_name(name, "dataset")


def check_dataset_syntax(name: str) -> str:
    return check_ref_syntax(name, "dataset")


def check_split_name(name: str) -> str:
    check_ref_name(name, "split", allow_slash=False)
    if "=" in name:
        raise InvalidName("split", name, "it contains '='")
    return name


def check_split_syntax(name: str) -> str:
    check_ref_syntax(name, "split", allow_slash=False)
    if "=" in name:
        raise InvalidName("split", name, "it contains '='")
    return name
