"""The one error hierarchy of dsreg.

Every error a user can act on is a `DsregError`; the CLI turns it into
`Error: <message>` (plus an optional hint) and exit code 1 in exactly one place.
`UsageError` subclasses map to exit code 2.
"""
from __future__ import annotations


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


class RegistryNotFound(DsregError):
    def __init__(self, start: str):
        super().__init__(
            f"no dsreg registry found in {start} or any parent folder",
            "run 'dsreg init' or pass --registry DIR",
        )


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
    def __init__(self, name: str):
        super().__init__(f"unknown dataset {name!r}", "run 'dsreg ls' to see the datasets")
        self.name = name


class UnknownRevision(DsregError):
    def __init__(self, spec: str, why: str = "no such branch, tag or commit"):
        super().__init__(f"unknown revision {spec!r}: {why}", "run 'dsreg log NAME' or 'dsreg branch NAME'")
        self.spec = spec


class AmbiguousRevision(DsregError):
    def __init__(self, spec: str, candidates: list[str]):
        shown = ", ".join(c[:12] for c in candidates[:5])
        super().__init__(f"ambiguous revision {spec!r}: matches {shown}", "use more characters of the commit id")
        self.spec, self.candidates = spec, candidates


class RefExists(DsregError):
    pass


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


class UnknownSplit(DsregError):
    pass


class SchemaMismatch(DsregError):
    pass


class BadInput(DsregError):
    """A file or table that cannot be ingested."""


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


def _short(commit_id: str | None) -> str:
    return commit_id[:12] if commit_id else "nothing"
