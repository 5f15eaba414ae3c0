"""The check verbs: add, list, remove and run the checks of a dataset's branches."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dsreg.checks.evaluate import Version, evaluate, nan_rows
from dsreg.checks.report import CheckReport
from dsreg.checks.rules import Rule, parse_rule, validate
from dsreg.checks.verify import branch_rules, commit_keys, commit_split_ids, commit_splits, hash_cache, record_result
from dsreg.errors import BadRule, UnknownCheck, UnknownDataset, UsageError
from dsreg.model.revisions import resolve
from dsreg.names import check_ref_name

if TYPE_CHECKING:
    from dsreg.registry import Registry


@dataclass(frozen=True)
class Check:
    id: int
    dataset: str
    branch: str
    rule: str

    def to_json(self) -> dict:
        return {"id": self.id, "dataset": self.dataset, "branch": self.branch, "rule": self.rule}


@dataclass(frozen=True)
class AddedCheck:
    check: Check
    head: CheckReport | None       # the rule run on the branch's head now (None: no head yet)


def _head(reg: Registry, dataset: str, branch: str) -> str:
    check_ref_name(branch, "branch")
    if not reg.manifest.has_dataset(dataset):
        raise UnknownDataset(dataset)
    head = reg.manifest.ref(dataset, "branch", branch)
    if head is None:
        raise UsageError(f"no branch {branch!r} in dataset {dataset!r}", "run 'dsreg branch' to list them")
    return head


def add_check(reg: Registry, dataset: str, rule: str | Sequence[str], branch: str = "main") -> AddedCheck:
    """Add a rule to `branch`'s checks, after validating it against the branch's head (a
    column it names must exist, with a type the rule applies to). The head itself is not
    refused when it breaks the rule: the report says so (`head`)."""
    parsed = parse_rule(rule)
    head = _head(reg, dataset, branch)
    splits = commit_splits(reg, head) or {}
    validate(parsed, {s: snap.schema for s, snap in splits.items()})
    if parsed.kind == "unique":
        for col in parsed.columns:
            for s, snap in sorted(splits.items()):
                n = nan_rows(reg.store, snap, col)
                if n:
                    raise BadRule(f"unique: column {col!r} of split {s!r} holds {n:,} NaN value"
                                  f"{'s' if n != 1 else ''}, and NaN is never equal to itself",
                                  "make the column unique on a column without NaN, e.g. an integer or text id")
    with reg.manifest.transaction():
        cid = reg.manifest.add_check(dataset, branch, parsed.text)
    report = evaluate(reg.store, [parsed], Version(dataset, splits, commit_keys(reg, head),
                                                   _first_parent_splits(reg, head), incremental=False,
                                                   ids=commit_split_ids(reg, head), cache=hash_cache(reg)), head)
    record_result(reg, report, "check add")
    return AddedCheck(Check(cid, dataset, branch, parsed.text), report)


def list_checks(reg: Registry, dataset: str, branch: str | None = None) -> list[Check]:
    if not reg.manifest.has_dataset(dataset):
        raise UnknownDataset(dataset)
    branches = [branch] if branch is not None else reg.manifest.checked_branches(dataset)
    return [Check(cid, dataset, b, text) for b in branches for cid, text in reg.manifest.checks(dataset, b)]


def remove_check(reg: Registry, dataset: str, check_id: int | str, branch: str = "main") -> Check:
    if not reg.manifest.has_dataset(dataset):
        raise UnknownDataset(dataset)
    try:
        number = int(check_id)
    except (TypeError, ValueError):
        raise UnknownCheck(dataset, branch, check_id) from None
    with reg.manifest.transaction():
        text = reg.manifest.remove_check(dataset, branch, number)
    if text is None:
        raise UnknownCheck(dataset, branch, check_id)
    return Check(number, dataset, branch, text)


def run_checks(reg: Registry, spec: str, branch: str | None = None,
               rules: Sequence[str | Rule] | None = None) -> CheckReport:
    """Every row of version `spec` against `rules`, or the checks of `branch` (default: the
    branch `spec` names, else main); schema-frozen and max-change compare with its first
    parent. The result is kept as the commit's last one (the card shows it)."""
    rev = resolve(reg, spec)
    chosen = [r if isinstance(r, Rule) else parse_rule(r) for r in rules] if rules is not None else \
        branch_rules(reg, rev.dataset, branch or rev.branch or "main")
    splits = commit_splits(reg, rev.commit_id) or {}
    version = Version(rev.dataset, splits, commit_keys(reg, rev.commit_id), _first_parent_splits(reg, rev.commit_id),
                      incremental=False, ids=commit_split_ids(reg, rev.commit_id), cache=hash_cache(reg))
    report = evaluate(reg.store, chosen, version, rev.commit_id)
    if rules is None:
        record_result(reg, report)
    return report


def _first_parent_splits(reg: Registry, commit_id: str):
    from dsreg.model.objects import get_commit
    parents = get_commit(reg, commit_id).parents
    return commit_splits(reg, parents[0]) if parents else None


__all__ = ["Check", "AddedCheck", "add_check", "list_checks", "remove_check", "run_checks"]
