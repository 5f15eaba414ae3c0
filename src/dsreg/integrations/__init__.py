"""Adapters to other tools, each importing its tool only when used."""
from __future__ import annotations

import importlib
from types import ModuleType

from dsreg.errors import UsageError


def need(module: str, extra: str) -> ModuleType:
    """Import an optional library, or say in one line which extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise UsageError(f"{module} is not installed", f"pip install 'dsreg[{extra}]'") from None
