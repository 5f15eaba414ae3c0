"""What dsreg takes from a remote, and what it will not make there.

Older dsregs (or hands) could leave refs that this one refuses to create: names that look
like commit ids (NAME@REV would not mean that commit), names with invisible characters or
too long for a file system, a branch and a tag of one name. Fetch, clone and pull refuse
such a remote before anything is downloaded, with one line naming the dataset and the ref;
push never makes a branch and a tag of one name.
"""
from __future__ import annotations

from dsreg.errors import BranchAndTag, DsregError, UsageError
from dsreg.manifest.rows import RefKind
from dsreg.names import check_dataset_name, check_ref_name, check_split_name
from dsreg.remote.backends import Remote, RemoteRef


def check_remote_refs(name: str, refs: list[RemoteRef]) -> None:
    """Refuse refs of remote `name` whose names dsreg no longer accepts, and pairs."""
    kinds: dict[tuple[str, str], set[str]] = {}
    for ref in refs:
        try:
            check_dataset_name(ref.dataset)
            check_ref_name(ref.name, ref.kind)
        except UsageError as e:
            # a problem of the remote, not a misuse of the command: exit 1
            raise DsregError(f"remote {name} holds {ref.kind} {ref.dataset + '@' + ref.name!r}, refused: "
                             f"{e.message}",
                             f"rename or delete it on the remote ({ref_path(ref)!r})") from None
        kinds.setdefault((ref.dataset, ref.name), set()).add(ref.kind)
    for (dataset, ref_name), both in sorted(kinds.items()):
        if len(both) > 1:
            raise BranchAndTag(name, dataset, ref_name)


def refuse_other_kind(name: str, remote: Remote, ref) -> None:
    """A new remote branch where the remote has a tag of its name, or the reverse, would
    make NAME@REF mean one thing here and another in every clone."""
    other: RefKind = "tag" if ref.kind == "branch" else "branch"
    if remote.ref(ref.dataset, other, ref.name) is not None:
        raise DsregError(f"remote {name} has a {other} {ref.name!r} in dataset {ref.dataset!r}, so a {ref.kind} "
                         f"of that name would make {ref.dataset}@{ref.name} ambiguous",
                         f"rename your {ref.kind}: 'dsreg {ref.kind} {ref.dataset} NEW {ref.name}', "
                         f"then 'dsreg {ref.kind} {ref.dataset} -d {ref.name}'")


def check_fetched_names(commit, cid: str) -> None:
    """A fetched commit's dataset and split names become local names (and folder names
    on checkout): they must be names dsreg accepts now."""
    try:
        check_dataset_name(commit.dataset)
        for split in commit.splits:
            check_split_name(split)
    except UsageError as e:
        raise DsregError(f"remote commit {cid[:12]} is refused: {e.message}",
                         "the remote holds names this dsreg no longer accepts") from None


def ref_path(ref: RemoteRef) -> str:
    """Where the ref lives under the remote's root."""
    return f"refs/{ref.dataset}@{ref.kind}/{ref.name}"
