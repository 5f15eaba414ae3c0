"""Suites: benchmarks of one capability each (merge, reading, checks, engines, commit speed),
run by `python -m bench --suites ...` after the main comparison, on the same generated data.

A suite is a module of this package with:

    TITLE: str                                     the report's section heading
    def run(ctx: Context) -> dict                  measurements (plain JSON), never made up
    def targets(result: dict, ctx_meta: dict) -> list[dict]
                                                   {"target", "limit", "value", "met", "note"}
    def render(result: dict) -> list[str]          Markdown lines of its section

Suites are imported only when chosen, so an optional library (torch, ray, dask) is needed only
by the suite that measures it.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

#: name -> module in this package, in the order they run and are reported
SUITES: dict[str, str] = {"commit": "commit", "read": "read", "merge": "merge", "checks": "checks",
                          "engines": "engines"}


@dataclass
class Context:
    versions: dict[str, Any]          # datagen.Version by scenario name ("base", "edit", ...)
    work: Path                        # a scratch folder of this suite's own
    s3: Any                           # the run's MotoServer (endpoint, new_bucket)
    repeat: int
    rows: int
    size: str
    log: Callable[[str], None]


def parse(text: str) -> list[str]:
    if text == "none":
        return []
    if text == "all":
        return list(SUITES)
    chosen = [s.strip() for s in text.split(",") if s.strip()]
    unknown = [s for s in chosen if s not in SUITES]
    if unknown:
        raise SystemExit(f"unknown suite(s) {', '.join(unknown)}; choose from {', '.join(SUITES) or '(none)'}, "
                         "all or none")
    return [s for s in SUITES if s in chosen]


def load(name: str) -> ModuleType:
    return importlib.import_module(f"{__name__}.{SUITES[name]}")
