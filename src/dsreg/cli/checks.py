"""The `check` commands: add, list, remove and run the checks of a dataset's branches.

Thin like the rest of the CLI: each parses, calls one `dsreg.checks` verb, and renders.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click

from dsreg.cli.util import OrderedGroup, State, emit_json, json_option, pass_state, short_id, table_lines, warn
from dsreg.errors import CheckFailed, DsregError

RULES_HELP = """\b
Rules:
  not-null COL...        no null in these columns
  unique COL...          no value (or combination) twice in a split
  range COL MIN MAX      numbers within [MIN, MAX] (NaN is outside)
  values COL V...        only these values (text, integer or boolean columns)
  rows MIN [MAX]         each split holds MIN to MAX rows
  schema-frozen          no split's schema differs from the parent's
  max-change FRACTION    at most this fraction of a split's rows added or removed
  no-leakage [SPLIT...]  no row (no key, with keys) in more than one split
  no-duplicates          no row twice within a split"""

branch_option = click.option("-b", "--branch", default="main", show_default=True, help="The branch whose checks.")


@contextmanager
def showing_failures(as_json: bool = False) -> Iterator[None]:
    """A version refused by checks: the report on stderr (which rule, split, rows), then the error."""
    try:
        yield
    except CheckFailed as e:
        if as_json:
            emit_json(e.report.to_json())
        else:
            for line in e.report.lines(only_failures=True):
                click.echo(line, err=True)
        raise


@click.group(cls=OrderedGroup, name="check")
def check() -> None:
    """Add, list, remove and run checks: contracts a branch's versions must keep.

    Commit, merge and push to a branch refuse a version that breaks one of its checks,
    with a report naming the rule, the split, the count and a few offending rows;
    --no-verify skips them. Checks travel with push, pull and clone.
    """


@check.command(name="add", epilog=RULES_HELP)
@click.argument("name")
@click.argument("rule", nargs=-1, required=True)
@branch_option
@json_option
@pass_state
def check_add(state: State, name: str, rule: tuple[str, ...], branch: str, as_json: bool) -> None:
    """Add RULE to the checks of NAME's branch.

    \b
    Examples:
      dsreg check add reviews not-null label
      dsreg check add reviews range score 0 1
      dsreg check add reviews no-leakage train test
    """
    from dsreg import checks
    added = checks.add_check(state.reg, name, list(rule), branch=branch)
    if as_json:
        emit_json({**added.check.to_json(), "head": added.head.to_json() if added.head else None})
        return
    click.echo(f"check {added.check.id} on {name}@{branch}: {added.check.rule}")
    if added.head is not None and not added.head.ok:
        warn(f"the head of {name}@{branch} ({short_id(added.head.commit)}) already breaks it:")
        for line in added.head.lines(only_failures=True):
            click.echo("  " + line, err=True)


@check.command(name="list")
@click.argument("name")
@click.option("-b", "--branch", help="Only this branch's checks (default: every branch's).")
@json_option
@pass_state
def check_list(state: State, name: str, branch: str | None, as_json: bool) -> None:
    """List the checks of NAME, by branch."""
    from dsreg import checks
    found = checks.list_checks(state.reg, name, branch)
    if as_json:
        emit_json([c.to_json() for c in found])
    elif not found:
        click.echo(f"no checks on {name}; add one with 'dsreg check add {name} RULE'")
    else:
        click.echo("\n".join(table_lines([[str(c.id), c.branch, c.rule] for c in found])))


@check.command(name="remove")
@click.argument("name")
@click.argument("check_id", metavar="ID")
@branch_option
@json_option
@pass_state
def check_remove(state: State, name: str, check_id: str, branch: str, as_json: bool) -> None:
    """Remove check ID (see 'dsreg check list') from NAME's branch."""
    from dsreg import checks
    removed = checks.remove_check(state.reg, name, check_id, branch=branch)
    if as_json:
        emit_json(removed.to_json())
    else:
        click.echo(f"removed check {removed.id} from {name}@{branch}: {removed.rule}")


@check.command(name="run")
@click.argument("spec", metavar="NAME[@REV]")
@click.option("-b", "--branch", help="Run this branch's checks (default: the branch REV names, else main).")
@json_option
@pass_state
def check_run(state: State, spec: str, branch: str | None, as_json: bool) -> None:
    """Run the checks on every row of a version; exit 1 if one fails."""
    from dsreg import checks
    report = checks.run_checks(state.reg, spec, branch=branch)
    if as_json:
        emit_json(report.to_json())
    else:
        if not report.results:
            click.echo(f"no checks to run on {spec}")
        for line in report.lines():
            click.echo(line)
    if not report.ok:
        n = len({r.rule for r in report.failures})
        raise DsregError(f"{spec} breaks {n} check{'s' if n != 1 else ''}")


COMMANDS = (check,)
