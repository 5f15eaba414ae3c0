"""`NAME@REV~N`: parsing and resolving revisions to commit ids."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dsreg.errors import AmbiguousRevision, UnknownDataset, UnknownRevision, UsageError
from dsreg.ids import CommitId, ObjectId
from dsreg.model.history import nth_first_parent
from dsreg.names import check_dataset_syntax, check_ref_name

if TYPE_CHECKING:
    from dsreg.manifest.database import Manifest
    from dsreg.registry import Registry

_HEX = re.compile(r"^[0-9a-f]{6,32}$")
# ASCII digits only: `\d` would read '~١' (an Arabic-Indic one) as ~1
_ANCESTRY = re.compile(r"^(.*?)((?:~[0-9]*)*)$")


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
    back = sum(_steps(t) for t in tildes.split("~")[1:]) if tildes else 0
    check_dataset_syntax(name)      # addresses what exists: names older dsregs made stay readable
    if rev.startswith("{") or "@{" in spec:
        raise UsageError(f"revision {spec!r}: reflog syntax '@{{...}}' is not supported")
    return name, rev, back


MAX_BACK = 1 << 62      # more first parents than any history has


def _steps(digits: str) -> int:
    """N of one `~N` (`~` alone: 1). int() refuses 4,300 digits and more; an N beyond
    MAX_BACK is just too far back, which the walk then says."""
    if not digits:
        return 1
    return int(digits) if len(digits) < 19 else MAX_BACK


def is_commit_prefix(rev: str) -> bool:
    """Whether REV could be a commit id or a unique prefix of one (6+ hex digits, any case)."""
    return bool(_HEX.match(rev.lower()))


def first_parents(m: Manifest, commit: str, back: int, spec: str, rev: str) -> CommitId:
    """The `back`-th first parent of `commit` (REV~N), from the manifest's commits."""
    def parents(cid: CommitId) -> tuple[CommitId, ...]:
        c = m.commit(cid)
        return c.parents if c is not None else ()
    found, steps = nth_first_parent(parents, CommitId(ObjectId(commit)), back)
    if found is None:
        raise UnknownRevision(spec, f"history has only {steps} commit(s) before {rev}")
    return found


def resolve(reg: Registry, spec: str, must_exist: bool = True) -> Revision:
    name, rev, back = split_spec(spec)
    m = reg.manifest
    if not m.has_dataset(name):
        import difflib
        raise UnknownDataset(name, difflib.get_close_matches(name, m.datasets(), 1))
    branch = None
    if is_commit_prefix(rev):
        # an id, or a 6+-hex prefix of one, always means that commit: never a ref that an
        # older dsreg let take such a name (new ones may not, see names.py)
        found = m.commits_with_prefix(name, rev.lower())      # ids are lower-case hex
        if len(found) > 1:
            raise AmbiguousRevision(spec, found)
        if not found:
            _refuse_id_like_ref(m, name, rev, spec)
        commit = found[0] if found else None
    else:
        branch = m.ref(name, "branch", rev)
        commit = branch or m.ref(name, "tag", rev)
    if commit is None:
        try:
            check_ref_name(rev, "revision")
        except UsageError as e:
            raise UsageError(f"invalid revision {spec!r}: {e.message.split(': ', 1)[-1]}") from None
        raise UnknownRevision(spec)
    commit = first_parents(m, commit, back, spec, rev)
    return Revision(name, rev, back, commit, rev if branch and back == 0 else None)


def _refuse_id_like_ref(m, name: str, rev: str, spec: str) -> None:
    """No commit has the id REV names, but a ref of that name exists: say how to reach it."""
    for kind in ("branch", "tag"):
        target = m.ref(name, kind, rev)
        if target is not None:
            err = UnknownRevision(spec, f"no commit id starts with {rev!r}, and the {kind} of that name "
                                        f"(at {target[:12]}, made by an older dsreg) is not read as a name "
                                        "since it looks like a commit id")
            err.hint = f"rename it: 'dsreg {kind} {name} NEW {target}', then 'dsreg {kind} {name} -d {rev}'"
            raise err
