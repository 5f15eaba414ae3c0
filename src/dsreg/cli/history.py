"""The history commands: `merge`, `revert`, `reset` and `reflog`. Each parses, calls one
porcelain verb, and renders; a merge's conflicts are listed, and written with --conflicts."""
from __future__ import annotations

import click

from dsreg.cli.util import State, echo, emit_json, format_date, json_option, pass_state, short_id

STRATEGY = click.Choice(["fail", "ours", "theirs"])


def _merge_lines(result, verb: str) -> list[str]:
    if result.up_to_date:
        return [f"already up to date: {result.dataset}@{result.into} has {short_id(result.source)}"]
    if result.fast_forward:
        would = "would fast-forward" if result.dry_run else "fast-forward"
        return [f"{would} {result.dataset}@{result.into} to {short_id(result.id)}"]
    head = f"{verb} into {result.dataset}@{result.into}" + (" (dry run)" if result.dry_run else
                                                             f": {short_id(result.id)}")
    lines = [head]
    for split, c in sorted(result.splits.items()):
        lines.append(f"  {split}: +{c['added']} -{c['removed']} ~{c['modified']}"
                     + (f", {c['conflicts']} conflicts" if c["conflicts"] else "")
                     + (f", {c['new_rows']:,} new rows stored" if "new_rows" in c else ""))
    return lines


def _write_conflicts(path: str, table) -> None:
    import pyarrow.parquet as pq
    pq.write_table(table, path)


def _conflict_lines(conflicts: dict, limit: int = 10) -> list[str]:
    lines = []
    for split, t in sorted(conflicts.items()):
        meta = {"split", "column", "base", "ours", "theirs"}
        for row in t.to_pylist()[:limit]:
            key = ", ".join(f"{k}={row[k]}" for k in row if k not in meta)
            what = f"column {row['column']}" if row["column"] else "row"
            lines.append(f"  {split} {key or '(split)'} {what}: base {row['base']}, ours {row['ours']}, "
                         f"theirs {row['theirs']}")
    return lines


@click.command()
@click.argument("source", metavar="NAME@SOURCE")
@click.option("--into", default="main", show_default=True, metavar="BRANCH", help="The branch to merge into.")
@click.option("-m", "--message", help="The merge commit's message.")
@click.option("--key", "keys", multiple=True, metavar="COL",
              help="Match rows by COL (repeatable; default: the keys recorded at commit).")
@click.option("--strategy", type=STRATEGY, default="fail", show_default=True,
              help="Settle conflicting cells and rows with our side or theirs; fail records nothing.")
@click.option("--resolve", "resolve_file", metavar="FILE", type=click.Path(exists=True, dir_okay=False),
              help="Parquet or CSV of key columns and the chosen full rows for conflicts.")
@click.option("--conflicts", "conflicts_file", metavar="FILE", type=click.Path(dir_okay=False),
              help="Write the conflicts as Parquet (key columns, column, base, ours, theirs).")
@click.option("--no-ff", is_flag=True, help="Record a merge commit even when a fast-forward would do.")
@click.option("--dry-run", is_flag=True, help="Report what the merge would do; record nothing.")
@click.option("--author", metavar="'NAME <EMAIL>'",
              help="The author (default: DSREG_AUTHOR, else GIT_AUTHOR_NAME and GIT_AUTHOR_EMAIL, else user@host).")
@click.option("--no-verify", is_flag=True,
              help="Skip the checks of the branch merged into, fast-forward included (see 'dsreg check').")
@json_option
@pass_state
def merge(state: State, source: str, into: str, message: str | None, keys: tuple[str, ...], strategy: str,
          resolve_file: str | None, conflicts_file: str | None, no_ff: bool, dry_run: bool, author: str | None,
          no_verify: bool, as_json: bool) -> None:
    """Merge NAME@SOURCE into a branch: a fast-forward when the branch is behind, else a
    three-way merge per split recorded as a commit with two parents.

    With keys, rows merge cell by cell; without, as multisets. Conflicts (two different
    changes to one cell, delete against modify, one new key inserted twice differently)
    stop the merge with nothing recorded, unless --strategy or --resolve settles them.
    The version the branch would hold, merged or fast-forwarded to, must keep the
    branch's checks (see 'dsreg check'); --no-verify skips them.

    \b
    Examples:
      dsreg merge reviews@relabel
      dsreg merge reviews@relabel --conflicts conflicts.parquet
      dsreg merge reviews@relabel --strategy theirs
    """
    from dsreg import porcelain
    from dsreg.cli.checks import showing_failures
    from dsreg.errors import MergeConflict
    try:
        with showing_failures(as_json):
            result = porcelain.merge(state.reg, source, into, keys=keys, strategy=strategy, resolve=resolve_file,
                                     message=message, no_ff=no_ff, dry_run=dry_run, author=author,
                                     no_verify=no_verify, progress=state.progress())
    except MergeConflict as e:
        if conflicts_file:
            _write_conflicts(conflicts_file, _all_conflicts(e.conflicts))
        echo("\n".join(_conflict_lines(e.conflicts)), err=True)
        raise
    if conflicts_file and result.conflicts:
        _write_conflicts(conflicts_file, result.conflicts_table())
    if as_json:
        emit_json(result.to_json())
        return
    echo("\n".join(_merge_lines(result, "would merge" if dry_run else "merged")))
    if result.conflicts:
        echo("\n".join(_conflict_lines(result.conflicts)))


def _all_conflicts(conflicts: dict):
    import pyarrow as pa
    return pa.concat_tables([t for t in conflicts.values()], promote_options="permissive")


@click.command()
@click.argument("spec", metavar="NAME@REV")
@click.option("--branch", metavar="BRANCH", help="The branch to record the revert on (default: REV's, else main).")
@click.option("-m", "--message", help="The message (default: Revert \"...\").")
@click.option("--strategy", type=STRATEGY, default="fail", show_default=True,
              help="Settle conflicts with later changes: keep them (ours) or undo anyway (theirs).")
@click.option("--no-verify", is_flag=True, help="Skip the branch's checks (see 'dsreg check').")
@json_option
@pass_state
def revert(state: State, spec: str, branch: str | None, message: str | None, strategy: str, no_verify: bool,
           as_json: bool) -> None:
    """Record a new commit that undoes the changes of NAME@REV (against its first parent)."""
    from dsreg import porcelain
    from dsreg.cli.checks import showing_failures
    with showing_failures(as_json):
        result = porcelain.revert(state.reg, spec, branch, message=message, strategy=strategy,
                                  no_verify=no_verify, progress=state.progress())
    if as_json:
        emit_json(result.to_json())
    else:
        echo("\n".join(_merge_lines(result, f"reverted {spec}")))


@click.command()
@click.argument("spec", metavar="NAME[@BRANCH]")
@click.argument("rev", metavar="REV")
@json_option
@pass_state
def reset(state: State, spec: str, rev: str, as_json: bool) -> None:
    """Move a branch to REV, whatever it held; `dsreg reflog` keeps the old head."""
    from dsreg import porcelain
    dataset, _, branch = spec.partition("@")
    moved = porcelain.reset(state.reg, dataset, branch or "main", rev)
    if as_json:
        emit_json(moved)
    else:
        echo(f"{dataset}@{moved['branch']}: {short_id(moved['was'])} -> {short_id(moved['now'])}")


@click.command()
@click.argument("spec", metavar="NAME[@BRANCH]")
@json_option
@pass_state
def reflog(state: State, spec: str, as_json: bool) -> None:
    """Show how the refs of NAME (or one branch of it) moved, newest first."""
    from dsreg import porcelain
    dataset, _, ref = spec.partition("@")
    entries = porcelain.reflog(state.reg, dataset, ref or None)
    if as_json:
        emit_json([e.to_json() for e in entries])
        return
    for e in entries:
        new = short_id(e.new) if e.new else "(deleted)"
        echo(f"{new} {e.ref} {format_date(int(e.at))} {e.message}")


def graph_prefixes(entries) -> list[str]:
    """A column of lanes per commit, as `git log --graph` draws them (simplified): `*` is
    the commit, `|` a line of history passing by; a merge opens a lane for its second parent."""
    lanes: list[str] = []
    out = []
    for e in entries:
        if e.id not in lanes:
            lanes.append(e.id)
        col = lanes.index(e.id)
        out.append(" ".join("*" if i == col else "|" for i in range(len(lanes))) + " ")
        rest = [p for p in e.parents[1:] if p not in lanes]
        if e.parents and e.parents[0] not in lanes:
            lanes[col] = e.parents[0]
        else:
            lanes.pop(col)
        for p in reversed(rest):
            lanes.insert(col + 1 if col < len(lanes) else len(lanes), p)
    return out


COMMANDS = (merge, revert, reset, reflog)


def ref_labels(reg, dataset: str) -> dict[str, list[str]]:
    """Commit id -> its decorations, as `git log` shows them: branches, then `tag: T`."""
    from dsreg.versions import refs
    labels: dict[str, list[str]] = {}
    for ref, commit_id in refs.list_refs(reg, "branch", dataset).items():
        labels.setdefault(commit_id, []).append(ref)
    for ref, commit_id in refs.list_refs(reg, "tag", dataset).items():
        labels.setdefault(commit_id, []).append(f"tag: {ref}")
    return labels


def commit_lines(commit_id: str, labels: dict[str, list[str]], parents, author: str, timestamp: float,
                 message: str | None) -> list[str]:
    """One commit as `log` shows it, and `show` begins: the same header in the same place."""
    decoration = f" ({', '.join(labels[commit_id])})" if commit_id in labels else ""
    lines = [f"commit {short_id(commit_id)}{decoration}"]
    if len(parents) > 1:
        lines.append("Merge:  " + " ".join(short_id(p) for p in parents))
    lines += [f"Author: {author}", f"Date:   {format_date(timestamp)}", ""]
    return lines + [f"    {line}" for line in (message or "(no message)").splitlines()]
