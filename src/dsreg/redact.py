"""Keeping secrets out of what dsreg prints: errors, `--debug` tracebacks, warnings.

dsreg never stores a credential (remotes keep a URL and an endpoint, nothing else, and
URLs carrying `user:password@` are refused). Errors are written by dsreg and name no
secret; this is the second line: whatever text leaves the process through the CLI's
error path has every credential dsreg could know of replaced by `***`.
"""
from __future__ import annotations

import os
import re
import threading

SECRET_ENV = ("AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")
_KEY_ID = re.compile(r"\b(?:AKIA|ASIA|AROA|AIDA)[A-Z0-9]{12,}\b")
# `user@` or `user:password@` after the scheme, in free text: a password may hold '/'
# (AWS secrets do) and quotes; a user name may not, so a quoted URL ends where it should
_USERINFO = re.compile(r"(?<=://)(?:[^/@\s'\"]*:[^@\s]*|[^/@:\s'\"]*)@")
# the same at the start of one URL, where nothing but '@' ends a password
_URL_USERINFO = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://(?:[^/@:]*:[^@]*|[^/@:]*)@")
_known: set[str] = set()
_lock = threading.Lock()


def remember(*secrets: str | None) -> None:
    """Credentials in use (say, resolved from a profile file) that output must never show."""
    with _lock:
        _known.update(s for s in secrets if s and len(s) >= 4)


def redact(text: str) -> str:
    values = {os.environ.get(name) for name in SECRET_ENV}
    with _lock:
        values |= _known
    for v in sorted((v for v in values if v and len(v) >= 4), key=len, reverse=True):
        text = text.replace(v, "***")
    text = _KEY_ID.sub("***", text)
    return _USERINFO.sub("***@", text)


def has_userinfo(url: str) -> bool:
    """Does the URL carry credentials (`scheme://user:password@host`), whatever the
    password holds (quotes, spaces, '/')?"""
    return bool(_URL_USERINFO.match(url or ""))
