"""Library errors in the command line's words.

The library says what is wrong in the terms of its Python API (`force=True`, key
columns) and carries the facts as attributes; where an error concerns an option of the
command, the command line names the flag instead. Any other error reads as the library
wrote it.
"""
from __future__ import annotations

from collections.abc import Callable

from dsreg.errors import (
    CardFieldsNeedBranch,
    CheckFailed,
    CreateAndDelete,
    DsregError,
    DuplicateKeyColumn,
    EndpointNotApplicable,
    KeyColumnTypeChanged,
    MergeConflict,
    NonFastForward,
    NoRows,
    RefAlreadyExists,
    RegistryNotFound,
    SplitNotOnBranch,
    TagNotBranch,
    UnknownKeyColumn,
)


def _key_column(e: UnknownKeyColumn) -> tuple[str, str | None]:
    of = f" of {e.where}" if e.where else ""
    return f"--key column {e.column!r} is not in split {e.split!r}{of}", e.hint


def _non_fast_forward(e: NonFastForward) -> tuple[str, str | None]:
    return e.message, "use --force to replace it" if e.kind == "tag" else e.hint


# (message, hint) of an error, by its class
WORDS: dict[type, Callable[..., tuple[str, str | None]]] = {
    NoRows: lambda e: (e.message, "pass --allow-empty to commit it anyway"),
    SplitNotOnBranch: lambda e: (e.message, "commit it without --append first" if e.append else e.hint),
    TagNotBranch: lambda e: (e.message, f"commit to a branch, e.g. 'dsreg branch {e.dataset} NEW {e.name}' "
                                        f"then --branch NEW"),
    RefAlreadyExists: lambda e: (e.message, f"use --force to {'move' if e.kind == 'tag' else 'reset'} it"),
    CreateAndDelete: lambda e: (f"give either a {e.kind} to create or -d {e.kind.upper()}, not both", None),
    UnknownKeyColumn: _key_column,
    DuplicateKeyColumn: lambda e: ("a --key column is given twice", None),
    KeyColumnTypeChanged: lambda e: (f"--key column {e.column!r} of split {e.split!r} changed type, and its old "
                                     f"values cannot be cast to the new type to be compared", None),
    CardFieldsNeedBranch: lambda e: (f"--set records a commit on a branch; {e.spec!r} is not one", e.hint),
    EndpointNotApplicable: lambda e: ("--endpoint-url only applies to s3:// remotes", None),
    RegistryNotFound: lambda e: (e.message, "run 'dsreg init' or pass --registry DIR"),
    NonFastForward: _non_fast_forward,
    MergeConflict: lambda e: (e.message, "write them with --conflicts FILE; settle them with --strategy ours|theirs "
                                         "or --resolve FILE"),
    CheckFailed: lambda e: (e.message, "fix the rows, or pass --no-verify to skip the checks"),
}


def describe(e: DsregError) -> str:
    """The one line the command line shows for `e` (after `Error: `)."""
    for cls in type(e).__mro__:
        words = WORDS.get(cls)
        if words is not None:
            message, hint = words(e)
            return f"{message}; {hint}" if hint else message
    return str(e)


__all__ = ["describe", "WORDS"]
