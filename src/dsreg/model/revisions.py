"""`NAME@REV~N`: parsing and resolving revisions to commit ids."""
from __future__ import annotations

import re
from dataclasses import dataclass

from dsreg.errors import AmbiguousRevision, UnknownDataset, UnknownRevision, UsageError
from dsreg.ids import CommitId
from dsreg.model.history import nth_first_parent
from dsreg.names import check_dataset_name, check_ref_name

_HEX = re.compile(r"^[0-9a-f]{6,32}$")
_ANCESTRY = re.compile(r"^(.*?)((?:~\d*)*)$")


@dataclass(frozen=True)
class Revision:
    dataset: str
    rev: str           # as written, without ~N
    back: int          # number of first-parent steps
    commit_id: CommitId
    branch: str | None  # the branch named, if REV is one and back == 0


def split_spec(spec: str) -> tuple[str, str, int]:
    """'name@rev~2' -> ('name', 'rev', 2); 'name' -> ('name', 'main', 0)."""
    if not isinstance(spec, str) or not spec:
        raise UsageError("empty revision; expected NAME[@REV]")
    name, _, rev = spec.partition("@")
    if "@" in spec and not rev:
        raise UsageError(f"revision {spec!r} has nothing after '@'; expected NAME@REV")
    m = _ANCESTRY.match(rev or "main")
    assert m
    rev, tildes = m.group(1) or "main", m.group(2)
    back = sum(int(t) if t else 1 for t in tildes.split("~")[1:]) if tildes else 0
    check_dataset_name(name)
    if rev.startswith("{") or "@{" in spec:
        raise UsageError(f"revision {spec!r}: reflog syntax '@{{...}}' is not supported")
    return name, rev, back


def is_commit_prefix(rev: str) -> bool:
    """Whether REV could be a commit id or a unique prefix of one (6+ hex digits, any case)."""
    return bool(_HEX.match(rev.lower()))


def first_parents(m, commit: str, back: int, spec: str, rev: str) -> CommitId:
    """The `back`-th first parent of `commit` (REV~N), from the manifest's commits."""
    def parents(cid: CommitId) -> tuple[CommitId, ...]:
        c = m.commit(cid)
        return c.parents if c is not None else ()
    found, steps = nth_first_parent(parents, CommitId(commit), back)
    if found is None:
        raise UnknownRevision(spec, f"history has only {steps} commit(s) before {rev}")
    return found


def resolve(reg, spec: str, must_exist: bool = True) -> Revision:
    name, rev, back = split_spec(spec)
    m = reg.manifest
    if not m.has_dataset(name):
        import difflib
        raise UnknownDataset(name, difflib.get_close_matches(name, m.datasets(), 1))
    branch = m.ref(name, "branch", rev)
    commit = branch or m.ref(name, "tag", rev)
    if commit is None and is_commit_prefix(rev):
        found = m.commits_with_prefix(name, rev.lower())      # ids are lower-case hex
        if len(found) > 1:
            raise AmbiguousRevision(spec, found)
        commit = found[0] if found else None
    if commit is None:
        try:
            check_ref_name(rev, "revision")
        except UsageError as e:
            raise UsageError(f"invalid revision {spec!r}: {e.message.split(': ', 1)[-1]}") from None
        raise UnknownRevision(spec)
    commit = first_parents(m, commit, back, spec, rev)
    return Revision(name, rev, back, commit, rev if branch and back == 0 else None)
