"""Validation of dataset, branch, tag and split names (git's ref-name rules)."""
from __future__ import annotations

from dsreg.errors import InvalidName

_FORBIDDEN_CHARS = set(" ~^:?*[\\@")


def check_ref_name(name: str, kind: str = "branch", allow_slash: bool = True) -> str:
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


def check_dataset_name(name: str) -> str:
    return check_ref_name(name, "dataset")


def check_split_name(name: str) -> str:
    check_ref_name(name, "split", allow_slash=False)
    if "=" in name:
        raise InvalidName("split", name, "it contains '='")
    return name
