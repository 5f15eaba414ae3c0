"""The one error hierarchy of dsreg.

Every error a user can act on is a `DsregError`; the CLI turns it into
`Error: <message>` (plus an optional hint) and exit code 1 in exactly one place.
`UsageError` subclasses map to exit code 2.
"""
from __future__ import annotations

import time
from collections.abc import Sequence


class DsregError(Exception):
    """Base class: an error the user can act on."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}; {self.hint}"


class UsageError(DsregError):
    """The command was called wrongly (exit code 2)."""

    exit_code = 2


class InvalidName(UsageError):
    def __init__(self, kind: str, name: str, why: str):
        super().__init__(f"invalid {kind} name {name!r}: {why}")
        self.kind, self.name = kind, name


class EndpointNotApplicable(UsageError):
    def __init__(self, url: str):
        super().__init__("an endpoint URL only applies to s3:// remotes")
        self.url = url


class CardFieldsNeedBranch(UsageError):
    """Card fields are recorded as a commit, so only on a branch (`spec` names no branch)."""

    def __init__(self, spec: str, dataset: str):
        super().__init__(f"card fields are recorded as a commit on a branch; {spec!r} is not one",
                         f"use {dataset} or {dataset}@BRANCH")
        self.spec, self.dataset = spec, dataset


class RegistryNotFound(DsregError):
    def __init__(self, start: str):
        super().__init__(
            f"no dsreg registry found in {start} or any parent folder",
            "run 'dsreg init' or give the folder that holds one",
        )
        self.start = start


class RegistryExists(DsregError):
    pass


REBUILD_HINT = "run 'dsreg fsck --rebuild' to rebuild it from the objects"


class ManifestMissing(DsregError):
    """A `.dsreg/` folder with an object store but no manifest."""

    def __init__(self, path: str):
        super().__init__(f"the registry's manifest {path} is missing", REBUILD_HINT)
        self.path = path


class ManifestUnreadable(DsregError):
    """The manifest is not a readable SQLite database (garbage bytes, a torn copy)."""

    def __init__(self, path: str, why: str):
        super().__init__(f"the registry's manifest {path} cannot be read ({why})", REBUILD_HINT)
        self.path = path


class RegistryReadOnly(DsregError):
    """The registry's files cannot be written (permissions, a read-only mount): reading
    commands work, writing ones refuse before they change anything, here or on a remote."""

    def __init__(self, path: str, why: str | None = None):
        super().__init__(f"the registry is read-only: {path}" + (f" ({why})" if why else ""),
                         "this command writes to the registry; run it where the registry is writable")
        self.path = path


class ManifestWriteFailed(DsregError):
    """The disk refused a manifest transaction (full, or failing): it was rolled back."""

    def __init__(self, path: str, why: str):
        super().__init__(f"{why}: could not write the manifest {path}, so nothing was recorded",
                         "free some space and run the command again; objects it wrote before are left "
                         "for 'dsreg gc'")
        self.path = path


class UnknownDataset(DsregError):
    def __init__(self, name: str, similar: list[str] | tuple[str, ...] = ()):
        hint = f"did you mean {similar[0]!r}? ('dsreg ls' lists them)" if similar else \
            "run 'dsreg ls' to see the datasets"
        super().__init__(f"unknown dataset {name!r}", hint)
        self.name, self.similar = name, tuple(similar)


class UnknownRevision(DsregError):
    def __init__(self, spec: str, why: str = "no such branch, tag or commit"):
        super().__init__(f"unknown revision {spec!r}: {why}", "run 'dsreg log NAME' or 'dsreg branch NAME'")
        self.spec = spec


class AmbiguousRevision(DsregError):
    def __init__(self, spec: str, candidates: Sequence[str]):
        shown = ", ".join(c[:12] for c in candidates[:5])
        super().__init__(f"ambiguous revision {spec!r}: matches {shown}", "use more characters of the commit id")
        self.spec, self.candidates = spec, candidates


class RefExists(DsregError):
    pass


class RefAlreadyExists(RefExists):
    """Creating a branch or tag that is there already, without `force`."""

    def __init__(self, kind: str, dataset: str, name: str, commit: str):
        super().__init__(f"{kind} {name!r} already exists in dataset {dataset!r} (at {commit[:12]})",
                         f"pass force=True to {'move' if kind == 'tag' else 'reset'} it")
        self.kind, self.dataset, self.name, self.commit = kind, dataset, name, commit


class CreateAndDelete(UsageError):
    """Asked to create a branch or tag and to delete one, in one call."""

    def __init__(self, kind: str):
        super().__init__(f"give either a {kind} to create or one to delete, not both")
        self.kind = kind


class TagNotBranch(RefExists):
    """A commit to a tag's name: tags never move."""

    def __init__(self, dataset: str, name: str):
        super().__init__(f"{dataset}@{name} is a tag, not a branch: tags never move",
                         f"commit to a branch, e.g. create branch NEW at {name} and commit with branch='NEW'")
        self.dataset, self.name = dataset, name


class RefNotFound(DsregError):
    pass


class RefConflict(DsregError):
    """A compare-and-swap on a ref failed: someone moved it first."""

    def __init__(self, ref: str, expected: str | None, actual: str | None):
        super().__init__(
            f"{ref} moved while this operation ran (expected {_short(expected)}, found {_short(actual)})",
            "run the command again",
        )
        self.ref, self.expected, self.actual = ref, expected, actual


class BranchMovedDuringCommit(RefConflict):
    """A distributed commit that replaces rows lost the race for its branch: its change
    cannot be replayed on top of the other one without dropping it."""

    def __init__(self, ref: str, expected: str | None, actual: str | None):
        RefConflict.__init__(self, ref, expected, actual)
        self.message = (f"{ref} moved while the commit ran (from {_short(expected)} to {_short(actual)}); "
                        "nothing was recorded")
        self.hint = ("fetch or look at the new head, then commit again on top of it, or commit to another "
                     "branch and merge")


class PartitionChanged(DsregError):
    """A partition gave other rows when written than when fingerprinted."""

    def __init__(self, partition: int):
        super().__init__(f"partition {partition} gave other rows when written than when fingerprinted: its rows "
                         "must come out the same each time they are computed",
                         "persist (cache) the partitions first, or make their computation deterministic")
        self.partition = partition


class UnknownSplit(DsregError):
    pass


class SplitNotOnBranch(UnknownSplit):
    """Dropping, or appending to, a split the branch does not have."""

    def __init__(self, dataset: str, branch: str, split: str, append: bool):
        super().__init__(f"cannot {'append to' if append else 'drop'} split {split!r}: "
                         f"{dataset}@{branch} has no such split",
                         "commit it without append=True first" if append else None)
        self.dataset, self.branch, self.split, self.append = dataset, branch, split, append


class UnknownKeyColumn(UsageError):
    """A key column (`keys=`) that a split does not have; `where`: the version, if it matters."""

    def __init__(self, column: str, split: str, columns: list[str], where: str | None = None):
        super().__init__(f"key column {column!r} is not in split {split!r}" + (f" of {where}" if where else ""),
                         f"columns: {', '.join(columns)}")
        self.column, self.split, self.columns, self.where = column, split, columns, where


class DuplicateKeyColumn(UsageError):
    def __init__(self, column: str):
        super().__init__(f"key column {column!r} is given twice")
        self.column = column


class KeyColumnTypeChanged(UsageError):
    def __init__(self, column: str, split: str):
        super().__init__(f"key column {column!r} of split {split!r} changed type, and its old "
                         f"values cannot be cast to the new type to be compared")
        self.column, self.split = column, split


class SchemaMismatch(DsregError):
    pass


class BadInput(DsregError):
    """A file or table that cannot be ingested."""


class NoRows(BadInput):
    """Files that hold no rows, refused unless `empty_files`: a file with a header and no
    rows is far more often a failed export than intent."""

    def __init__(self, split: str, files: list[str]):
        super().__init__(f"split {split!r}: {', '.join(files)} hold{'s' if len(files) == 1 else ''} no rows",
                         "pass empty_files=True to commit it anyway")
        self.split, self.files = split, files


class UnsupportedType(BadInput):
    pass


class ObjectMissing(DsregError):
    def __init__(self, object_id: str, where: str = "the local store"):
        super().__init__(f"object {object_id} is missing from {where}", "run 'dsreg fsck'")
        self.object_id = object_id


class ChecksumMismatch(DsregError):
    """Bytes read do not hash to the id they were stored under."""

    def __init__(self, object_id: str, got: str, where: str | None = None):
        on = f" on {where}" if where else ""
        super().__init__(f"object {object_id}{on} is corrupt (its bytes hash to {got})", "run 'dsreg fsck'")
        self.object_id, self.expected, self.got, self.where = object_id, object_id, got, where


class NothingToCommit(DsregError):
    pass


class CorruptObject(DsregError):
    """An object (or a ref, or a manifest row) whose content is not what dsreg writes.

    Also what an object id read from data raises when it is malformed: such an id names
    damage or tampering, not a mistake on the command line (that would be a UsageError)."""


class NotLocal(Exception):
    """Statistics would need shard data that is not in the local store (not an error a
    user sees: the caller skips what it cannot compute without the network)."""

    def __init__(self, object_id: str):
        super().__init__(object_id)
        self.object_id = object_id


# -- cards --------------------------------------------------------------------------
class UnknownCardField(UsageError):
    def __init__(self, key: str, known: tuple[str, ...] | list[str]):
        super().__init__(f"unknown card field {key!r}",
                         f"known fields: {', '.join(known)}; or name your own x-{key}")
        self.key = key


class BadCardValue(UsageError):
    pass


# -- remotes ------------------------------------------------------------------------
class RemoteError(DsregError):
    """A remote could not be reached, or refused or failed a request."""


class AccessDenied(RemoteError):
    pass


class RemoteUnreachable(RemoteError):
    """No answer from the remote at all (no credentials to ask with, no network), as
    opposed to an answer that something is wrong (no such bucket or folder)."""


class TransferInterrupted(RemoteError):
    """A response body broke off or timed out after the request itself succeeded."""


class PreconditionFailed(Exception):
    """A conditional write lost: the key changed (or exists) since it was read. Not an
    error a user sees: the caller turns it into what it means (a ref that moved, an
    object already there)."""


class ConditionalConflict(PreconditionFailed):
    """409: another conditional write of the same key was in progress. For a ref, the race
    is lost all the same; for an object, nothing says it exists yet: write it again."""


class RefMoved(DsregError):
    """The remote ref changed between our read and our write."""

    def __init__(self, dataset: str, name: str):
        super().__init__(f"remote {dataset}@{name} moved")
        self.dataset, self.name = dataset, name


class ConditionalWritesUnsupported(DsregError):
    """A remote that ignores If-Match / If-None-Match: refs are never moved there."""

    def __init__(self, remote: str, url: str):
        super().__init__(
            f"remote {remote} ({url}) ignores conditional writes (If-Match / If-None-Match), "
            "so concurrent pushes could overwrite each other; dsreg will not move refs there",
            "use a store that supports conditional writes (AWS S3, MinIO, R2, GCS) or a file:// remote; "
            "reading from this remote still works")
        self.remote, self.url = remote, url


class NonFastForward(DsregError):
    def __init__(self, remote: str, dataset: str, name: str, kind: str = "branch"):
        if kind == "tag":
            super().__init__(f"tag {dataset}@{name} already exists on {remote} with another commit",
                             "pass force=True to replace it")
        else:
            super().__init__(f"remote {name} has commits you do not have",
                             f"run 'dsreg pull {remote} {dataset}@{name}'")
        self.remote, self.dataset, self.name, self.kind = remote, dataset, name, kind


class DivergedBranches(DsregError):
    def __init__(self, dataset: str, name: str, local: str, remote: str):
        super().__init__(f"{dataset}@{name} has diverged from the remote (local {local[:12]}, remote {remote[:12]})",
                         f"run 'dsreg pull --rebase {dataset}@{name}' to replay your commits on top of the remote's")
        self.dataset, self.name = dataset, name
        self.local, self.remote = local, remote


class RebaseConflict(DsregError):
    """A local commit and the remote's commits both changed one split."""

    def __init__(self, dataset: str, branch: str, commit: str, split: str, target: str):
        super().__init__(f"cannot replay {commit[:12]} on the remote's {branch}: both changed split {split!r}",
                         f"commit your change again on top of {dataset}@{branch} after "
                         f"'dsreg branch {dataset} {branch} {target[:12]} --force'")
        self.dataset, self.branch, self.commit, self.split, self.target = dataset, branch, commit, split, target


# -- maintenance --------------------------------------------------------------------
class GcRefused(DsregError):
    """gc cannot tell everything that is reachable, so it deletes nothing."""


class RemoteGcRunning(DsregError):
    def __init__(self, remote: str, started: float):
        when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(started))
        super().__init__(f"a gc is running on remote {remote} (started {when}); nothing was pushed",
                         f"push again when it has finished; if it was interrupted, run "
                         f"'dsreg gc --remote {remote}' to finish it")
        self.remote, self.started = remote, started


class RemoteGcRan(DsregError):
    def __init__(self, remote: str):
        super().__init__(f"a gc started on remote {remote} while this push ran, so objects the push "
                         "relies on may have been collected; nothing was moved",
                         "run the push again")
        self.remote = remote


def _short(commit_id: str | None) -> str:
    return commit_id[:12] if commit_id else "nothing"


class BranchAndTag(DsregError):
    """A remote holds a branch and a tag of one name (older dsregs allowed it): NAME@REF
    would mean one of them here and maybe the other elsewhere."""

    def __init__(self, remote: str, dataset: str, name: str):
        super().__init__(f"remote {remote} holds both a branch and a tag named {name!r} in dataset {dataset!r}, "
                         f"so {dataset}@{name} is ambiguous",
                         f"delete one of the two on the remote (refs/{dataset}@branch/{name} or "
                         f"refs/{dataset}@tag/{name})")
        self.remote, self.dataset, self.name = remote, dataset, name


class MergeConflict(DsregError):
    """A merge met changes it cannot combine; nothing was recorded. `conflicts` is a
    pyarrow.Table per split (key columns, `column`, and `base`, `ours`, `theirs` as JSON
    text); `count` their number."""

    def __init__(self, source: str, into: str, conflicts: dict, count: int):
        splits = ", ".join(sorted(conflicts))
        super().__init__(f"merging {source} into {into}: {count} conflict{'s' if count != 1 else ''} "
                         f"(in {splits}); nothing was recorded",
                         "write them out, or settle them with strategy='ours'/'theirs' or a resolve file")
        self.source, self.into, self.conflicts, self.count = source, into, conflicts, count


class DuplicateMergeKey(DsregError):
    """Rows are merged by key, and a key names more than one row."""

    def __init__(self, key: dict):
        super().__init__(f"key {key!r} names more than one row: rows cannot be merged by it",
                         "merge by other key columns, or without keys")
        self.key = key


class NothingToMerge(DsregError):
    """Histories that never meet have no base to merge against."""

    def __init__(self, source: str, into: str):
        super().__init__(f"{source} and {into} share no history: there is no base to merge against")
        self.source, self.into = source, into


# -- checks (see checks/) ---------------------------------------------------------------
class BadRule(UsageError):
    """A check rule that cannot be kept: unknown, malformed, or naming what is not there."""


class UnknownCheck(DsregError):
    def __init__(self, dataset: str, branch: str, check_id: int | str):
        super().__init__(f"no check {check_id} on {dataset}@{branch}", "list them with 'dsreg check list'")
        self.dataset, self.branch, self.check_id = dataset, branch, check_id


class CheckFailed(DsregError):
    """A version breaks checks of the branch it would land on; nothing was recorded.
    `report`: a checks.report.CheckReport (its `failures` name rule, split and rows);
    `action`: what was refused ("commit", "merge", "push")."""

    def __init__(self, dataset: str, branch: str, report, action: str = "commit"):
        failed = [r for r in report.results if not r.ok]
        parts = [f"{r.rule} ({r.split}: {r.violations:,})" if r.split else f"{r.rule} ({r.violations:,})"
                 for r in failed[:3]]
        more = f" and {len(failed) - 3} more" if len(failed) > 3 else ""
        super().__init__(f"{action} refused: the version breaks {len(failed)} check{'s' if len(failed) != 1 else ''} "
                         f"of {dataset}@{branch}: {', '.join(parts)}{more}; "
                         + ("nothing was pushed" if action == "push" else "nothing was recorded"))
        self.dataset, self.branch, self.report, self.action = dataset, branch, report, action
