"""Where checks are enforced: the hooks that commit, merge and push call.

The layers below cannot import checks (versions/ is L2, remote/ L3), so they take a hook
and the porcelain passes these in unless told not to verify (`no_verify=True`).
"""
from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dsreg.checks import setcache
from dsreg.checks.evaluate import Version, evaluate
from dsreg.checks.report import CheckReport
from dsreg.checks.rules import Rule, parse_rule
from dsreg.errors import CheckFailed
from dsreg.model.objects import get_commit, get_snapshot
from dsreg.model.serialize import Snapshot

if TYPE_CHECKING:
    from dsreg.registry import Registry
    from dsreg.versions.commit import BuiltSplit, CommitPlan


def branch_rules(reg: Registry, dataset: str, branch: str) -> list[Rule]:
    return [parse_rule(text) for _, text in reg.manifest.checks(dataset, branch)]


def commit_splits(reg: Registry, commit_id: str | None) -> dict[str, Snapshot] | None:
    if commit_id is None:
        return None
    return {s: get_snapshot(reg, sid) for s, sid in get_commit(reg, commit_id).splits.items()}


def commit_split_ids(reg: Registry, commit_id: str | None) -> dict[str, str] | None:
    return dict(get_commit(reg, commit_id).splits) if commit_id is not None else None


def hash_cache(reg: Registry) -> Path | None:
    """The registry's folder of sorted row hashes (checks/setcache.py): a local, derived cache."""
    return None if reg.read_only else reg.dir / "cache" / "check-hashes"


def commit_keys(reg: Registry, commit_id: str | None) -> tuple[str, ...]:
    return tuple(get_commit(reg, commit_id).metadata.get("keys") or ()) if commit_id else ()


class CommitVerifier:
    """The hook versions.commit (and merge and revert, which record through it) calls with
    the built splits, before anything is recorded: raises CheckFailed when the version
    breaks a check of its branch. Keeps the report, so the caller can record it as the
    new commit's last result. `action` names what is refused ("commit", "merge", ...)."""

    def __init__(self, reg: Registry, action: str = "commit"):
        self.reg = reg
        self.action = action
        self.report: CheckReport | None = None
        self.saves: list = []       # sorted hashes of the new version, written once it is recorded

    def __call__(self, plan: CommitPlan, built: list[BuiltSplit]) -> None:
        rules = branch_rules(self.reg, plan.dataset, plan.branch)
        if not rules:
            return
        reg = self.reg
        parent = commit_splits(reg, plan.parent_id)
        splits = {s: snap for s, snap in (parent or {}).items() if s not in plan.drop_splits}
        parent_ids = commit_split_ids(reg, plan.parent_id) or {}
        ids = {s: sid for s, sid in parent_ids.items() if s in splits}
        for b in built:
            splits[b.name] = b.snapshot if b.snapshot is not None else get_snapshot(reg, b.snapshot_id)
            ids[b.name] = b.snapshot_id
        keys = plan.keys or commit_keys(reg, plan.parent_id)
        self.report = evaluate(reg.store, rules, Version(plan.dataset, splits, keys, parent, ids=ids,
                                                         baseline_ids=parent_ids, cache=hash_cache(reg),
                                                         saves=self.saves))
        if not self.report.ok:
            raise CheckFailed(plan.dataset, plan.branch, self.report, self.action)

    def recorded(self, commit_id: str, by: str) -> None:
        """The version was recorded as `commit_id`: keep its sorted hashes for the next
        commit (held back until now, so a refused or lost commit leaves no file behind) and
        its report as each rule's last result."""
        for sid, what, got in self.saves:
            setcache.save(hash_cache(self.reg), sid, what, got)
        if self.report is not None:
            record_result(self.reg, self.report.for_commit(commit_id), by)


def verify_version(reg: Registry, dataset: str, branch: str, splits: Mapping[str, Any],
                   parent_id: str | None, keys: tuple[str, ...] | list[str] = (),
                   action: str = "push") -> CheckReport | None:
    """Check a version about to land on `branch` (its splits as snapshot ids or Snapshots;
    rows on `parent_id`'s shards count as checked). Raises CheckFailed (nothing should be
    recorded then); returns the report, or None when the branch has no checks. For merge:
    call it before the merge commit is recorded."""
    rules = branch_rules(reg, dataset, branch)
    if not rules:
        return None
    snaps = {s: v if isinstance(v, Snapshot) else get_snapshot(reg, v) for s, v in splits.items()}
    version = Version(dataset, snaps, tuple(keys) or commit_keys(reg, parent_id), commit_splits(reg, parent_id),
                      ids={s: v for s, v in splits.items() if isinstance(v, str)},
                      baseline_ids=commit_split_ids(reg, parent_id), cache=hash_cache(reg))
    report = evaluate(reg.store, rules, version)
    if not report.ok:
        raise CheckFailed(dataset, branch, report, action)
    return report


def push_verifier(reg: Registry):
    """The hook push calls for each ref it would move: a branch with checks must hold its
    new commit to them; rows the remote's version already has count as checked."""
    def verify(dataset: str, kind: str, name: str, commit_id: str, remote_commit: str | None) -> None:
        if kind != "branch":
            return
        known = remote_commit if remote_commit and reg.manifest.commit(remote_commit) is not None else None
        c = get_commit(reg, commit_id)
        report = verify_version(reg, dataset, name, c.splits, known, tuple(c.metadata.get("keys") or ()), "push")
        if report is not None:
            record_result(reg, report.for_commit(commit_id), "push")
    return verify


def record_result(reg: Registry, report: CheckReport, by: str = "check run") -> None:
    """Remember each rule's last result on a commit, for the card: the rules of `report`
    replace their earlier results, the others are kept; each result says when it ran and
    `by` what ("commit", "merge", "push", "check run", ...). Best effort: a cache."""
    if report.commit is None or not report.results:
        return
    at = int(time.time())
    fresh = {r.rule for r in report.results}
    m = reg.manifest
    with m.transaction():
        kept = [r for r in (m.check_result(report.commit) or {}).get("results", []) if r.get("rule") not in fresh]
        results = kept + [{**r.to_json(), "at": at, "by": by} for r in report.results]
        m.set_check_result(report.commit, {"commit": report.commit, "ok": all(r["ok"] for r in results),
                                           "results": results})


__all__ = ["CommitVerifier", "verify_version", "push_verifier", "branch_rules", "record_result", "commit_split_ids",
           "hash_cache"]
