"""What a check run found, as values: one result per rule and split."""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

SAMPLE_ROWS = 5


@dataclass(frozen=True)
class CheckResult:
    rule: str                       # the rule's canonical text
    split: str | None               # None: a rule of the whole version (no-leakage over splits, ...)
    ok: bool
    violations: int                 # offending rows (or, for counts and schemas, 1 when broken)
    sample: tuple[dict[str, Any], ...] = ()     # up to SAMPLE_ROWS offending rows: index, keys, values
    detail: str = ""                # one line: why, when a count says too little

    def to_json(self) -> dict:
        doc = {"rule": self.rule, "split": self.split, "ok": self.ok, "violations": self.violations,
               "sample": list(self.sample)}
        if self.detail:
            doc["detail"] = self.detail
        return doc

    @classmethod
    def from_json(cls, doc: dict) -> CheckResult:
        return cls(doc["rule"], doc.get("split"), bool(doc["ok"]), int(doc["violations"]),
                   tuple(doc.get("sample") or ()), doc.get("detail", ""))


@dataclass(frozen=True)
class CheckReport:
    commit: str | None              # None while the version is not recorded yet
    results: tuple[CheckResult, ...]

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    @property
    def failures(self) -> tuple[CheckResult, ...]:
        return tuple(r for r in self.results if not r.ok)

    def for_commit(self, commit: str) -> CheckReport:
        return replace(self, commit=commit)

    def to_json(self) -> dict:
        return {"commit": self.commit, "ok": self.ok, "results": [r.to_json() for r in self.results]}

    @classmethod
    def from_json(cls, doc: dict) -> CheckReport:
        return cls(doc.get("commit"), tuple(CheckResult.from_json(r) for r in doc.get("results", ())))

    def lines(self, only_failures: bool = False) -> list[str]:
        """The report for people: a line per result, the sample rows indented below it."""
        out = []
        for r in self.results:
            if only_failures and r.ok:
                continue
            where = f" [{r.split}]" if r.split else ""
            status = "ok" if r.ok else f"FAILED: {r.violations:,} row{'s' if r.violations != 1 else ''}" \
                if not r.detail else f"FAILED: {r.detail}"
            out.append(f"{r.rule}{where}: {status}")
            for row in r.sample if not r.ok else ():
                out.append("    " + ", ".join(f"{k}={v!r}" for k, v in row.items()))
        return out


__all__ = ["CheckResult", "CheckReport", "SAMPLE_ROWS"]
