"""Undoing a commit: `revert` records a new commit on a branch that takes back what one
commit changed, as a three-way merge of the commit's first parent into the branch with
the commit itself as the base (git's revert). Later changes to the same cells conflict."""
from __future__ import annotations

from dsreg.errors import UsageError
from dsreg.model.objects import get_commit
from dsreg.model.revisions import resolve
from dsreg.progress import NO_PROGRESS, Progress
from dsreg.versions.commit import Verify
from dsreg.versions.merge import MergeResult, combine


def revert(reg, spec: str, branch: str | None = None, *, message: str | None = None, keys=(),
           strategy: str = "fail", dry_run: bool = False, author: str | None = None,
           progress: Progress = NO_PROGRESS, verify: Verify | None = None) -> MergeResult:
    """A commit on `branch` (default: the branch `spec` names, else main) undoing `spec`'s
    changes from its first parent; `verify` as for merge."""
    rev = resolve(reg, spec)
    branch = branch or rev.branch or "main"
    head = resolve(reg, f"{rev.dataset}@{branch}")
    if head.branch is None:
        raise UsageError(f"{rev.dataset}@{branch} is not a branch: a revert is recorded on a branch")
    c = get_commit(reg, rev.commit_id)
    if not c.parents:
        raise UsageError(f"{spec} is the first commit of {rev.dataset}: there is nothing before it to return to")
    summary = c.message.splitlines()[0] if c.message else rev.commit_id[:12]
    msg = message if message is not None else f'Revert "{summary}"\n\nThis reverts commit {rev.commit_id}.'
    return combine(reg, rev.dataset, branch, head.commit_id, rev.commit_id, c.parents[0], label=f"revert of {spec}",
                   keys=keys, strategy=strategy, message=msg, author=author, dry_run=dry_run, progress=progress,
                   verify=verify)


__all__ = ["revert"]
