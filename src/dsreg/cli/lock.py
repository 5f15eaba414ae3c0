"""`dsreg lock add|update|verify|list`: the project's pinned versions in `dsreg.lock`.

A registry is used when there is one; without one, versions are resolved and verified on
the remote the pin names (`--remote URL`).
"""
from __future__ import annotations

import click

from dsreg.cli.util import OrderedGroup, State, echo, emit_json, json_option, pass_state, short_id, table_lines


def _registry(state: State):
    from dsreg.errors import RegistryNotFound
    try:
        return state.reg
    except RegistryNotFound:
        return None


@click.group(cls=OrderedGroup)
def lock() -> None:
    """Pin dataset versions for this project in dsreg.lock."""


@lock.command("add")
@click.argument("spec", metavar="NAME[@REV]")
@click.option("--as", "alias", metavar="ALIAS", help="The name to read it by (lock:ALIAS); default: NAME.")
@click.option("--remote", metavar="REMOTE", help="A remote's name or URL to resolve and later read it from.")
@json_option
@pass_state
def lock_add(state: State, spec: str, alias: str | None, remote: str | None, as_json: bool) -> None:
    """Pin NAME@REV (default: NAME@main) to its commit."""
    from dsreg import porcelain
    pin = porcelain.lock_add(_registry(state), spec, alias=alias, remote=remote)
    if as_json:
        emit_json(pin.to_doc())
        return
    echo(f"{pin.alias}: {pin.dataset}@{short_id(pin.commit)}" + (f" ({pin.ref})" if pin.ref else ""))


@lock.command("update")
@click.argument("alias", required=False)
@json_option
@pass_state
def lock_update(state: State, alias: str | None, as_json: bool) -> None:
    """Move pins taken from a branch to where the branch is now."""
    from dsreg import porcelain
    moved = porcelain.lock_update(_registry(state), alias)
    if as_json:
        emit_json([{"alias": m.alias, "old": m.old, "new": m.new} for m in moved])
        return
    for m in moved:
        echo(f"{m.alias}: {short_id(m.old)}..{short_id(m.new)}" if m.old != m.new else
                   f"{m.alias}: {short_id(m.new)} (up to date)")


@lock.command("verify")
@json_option
@pass_state
def lock_verify(state: State, as_json: bool) -> None:
    """Check that every pinned commit is there and its objects are intact (exit 1 if not)."""
    from dsreg import porcelain
    from dsreg.errors import DsregError
    checks = porcelain.lock_verify(_registry(state))
    if as_json:
        emit_json([{"alias": c.alias, "commit": c.commit, "ok": c.ok, "problem": c.problem} for c in checks])
    else:
        for c in checks:
            echo(f"{c.alias}: {short_id(c.commit)} " + ("ok" if c.ok else f"FAILED: {c.problem}"))
    bad = [c.alias for c in checks if not c.ok]
    if bad:
        raise DsregError(f"{len(bad)} pinned version(s) failed verification: {', '.join(bad)}")


@lock.command("list")
@json_option
@pass_state
def lock_list(state: State, as_json: bool) -> None:
    """The pins of dsreg.lock."""
    from dsreg import porcelain
    pins = porcelain.lock_list(None)
    if as_json:
        emit_json([p.to_doc() for p in pins])
        return
    if not pins:
        return
    for line in table_lines([[p.alias, f"{p.dataset}@{short_id(p.commit)}", p.ref or "-", p.remote or "-"]
                             for p in pins]):
        echo(line)


COMMANDS = [lock]
