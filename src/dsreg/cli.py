"""The `dsreg` command line: thin commands that parse, call one porcelain verb, and render.

Errors become `Error: ...` and an exit code in exactly one place (`DsregGroup.invoke`).
Heavy modules (pyarrow, the manifest) are imported inside the commands so `--help` stays fast.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import sys
import time
import traceback
from typing import Any

import click

from . import __version__
from .errors import DsregError, UsageError
from .progress import NO_PROGRESS, Progress

SHORT = 12                                        # commit id characters in human output
CHECKOUT_FORMATS = ("parquet", "csv", "jsonl")    # as porcelain.CHECKOUT_FORMATS, without importing pyarrow
DATA_SUFFIXES = (".parquet", ".pq", ".csv", ".tsv", ".jsonl", ".ndjson", ".json",
                 ".arrow", ".feather", ".ipc", ".arrows")
CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


# -- the one place where errors become output -------------------------------------
class CliError(click.ClickException):
    """An error shown as one `Error: ...` line on stderr, with its own exit code."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(" ".join(message.splitlines()))
        self.exit_code = exit_code


class DsregGroup(click.Group):
    """Lists commands in the order they are defined, and turns exceptions into exit codes."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)

    def invoke(self, ctx: click.Context) -> Any:
        state = ctx.ensure_object(State)
        try:
            try:
                return super().invoke(ctx)
            finally:
                state.close()
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except BrokenPipeError:
            # the reader of stdout went away (`dsreg log x | head`): stop quietly
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise click.exceptions.Exit(1) from None
        except DsregError as e:
            raise state.fail(e, str(e), e.exit_code) from None
        except Exception as e:  # noqa: BLE001 - the last line of defence
            raise state.fail(e, f"internal error: {type(e).__name__}: {e}; "
                                "rerun with --debug for the traceback", 1) from None


class State:
    """What commands share through `ctx.obj`: the registry (opened on first use) and flags."""

    def __init__(self, registry_dir: str | None = None, debug: bool = False):
        self.registry_dir, self.debug = registry_dir, debug
        self._reg = None
        self._progress: TerminalProgress | None = None

    @property
    def reg(self):
        if self._reg is None:
            from .registry import DIRNAME, Registry
            if self.registry_dir is not None:
                # a registry named explicitly must be exactly there, not in a parent folder
                if not (os.path.isdir(os.path.join(self.registry_dir, DIRNAME))):
                    from .errors import RegistryNotFound
                    raise RegistryNotFound(self.registry_dir)
            self._reg = Registry(self.registry_dir)
        return self._reg

    def progress(self) -> Progress:
        """A bar on stderr when it is a terminal; nothing otherwise (pipes, files, tests)."""
        if not sys.stderr.isatty():
            return NO_PROGRESS
        self._progress = TerminalProgress(sys.stderr)
        return self._progress

    def fail(self, exc: BaseException, message: str, exit_code: int) -> CliError:
        if self._progress is not None:
            self._progress.abandon()
        if self.debug:
            traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
        return CliError(message, exit_code)

    def close(self) -> None:
        if self._reg is not None:
            self._reg.close()
            self._reg = None


pass_state = click.make_pass_decorator(State, ensure=True)


class TerminalProgress(Progress):
    """One status line on a terminal, redrawn at most ten times a second."""

    WIDTH = 30

    def __init__(self, stream):
        self.stream = stream
        self.label: str | None = None
        self.total: int | None = None
        self.unit, self.done, self._drawn_at = "rows", 0, 0.0

    def start(self, label: str, total: int | None, unit: str = "rows") -> None:
        self.abandon()
        self.label, self.total, self.unit, self.done = label, total, unit, 0
        self._draw(force=True)

    def advance(self, n: int) -> None:
        if self.label is not None:
            self.done += n
            self._draw()

    def finish(self) -> None:
        if self.label is not None:
            self._draw(force=True)
            self.abandon()

    def abandon(self) -> None:
        """End the current line, if any, so what follows starts on a fresh one."""
        if self.label is not None:
            self.stream.write("\n")
            self.stream.flush()
            self.label = None

    def _draw(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._drawn_at < 0.1:
            return
        self._drawn_at = now
        count = _size(self.done) if self.unit == "bytes" else f"{self.done:,} {self.unit}"
        if self.total:
            frac = min(self.done / self.total, 1.0)
            bar = "#" * int(frac * self.WIDTH)
            text = f"{self.label} [{bar:<{self.WIDTH}}] {frac:4.0%} {count}"
        else:
            text = f"{self.label}: {count}"
        self.stream.write("\r" + text + "\x1b[K")
        self.stream.flush()


# -- rendering helpers -------------------------------------------------------------
def _emit_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False))


def _short(commit_id: str | None) -> str:
    return commit_id[:SHORT] if commit_id else "-"


def _date(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp).astimezone().isoformat(timespec="seconds")


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def _table(rows: list[list[str]], right: set[int] = frozenset()) -> list[str]:
    """Aligned columns; the columns numbered in `right` are right-aligned."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))).rstrip()
            for r in rows]


def _split_path(arg: str) -> tuple[str | None, str]:
    """'test=data/t.csv' -> ('test', 'data/t.csv'); an existing path or a SPLIT with '/' is a plain path."""
    split, eq, path = arg.partition("=")
    if eq and "/" not in split and os.sep not in split and not os.path.exists(arg):
        return split, path
    return None, arg


def _split_paths(args: tuple[str, ...] | list[str]) -> dict[str, list[str]]:
    """Group `[SPLIT=]PATH` arguments by split (default `train`), keeping their order."""
    out: dict[str, list[str]] = {}
    for arg in args:
        split, path = _split_path(arg)
        if not path:
            raise UsageError(f"{arg!r} names no file or folder; expected [SPLIT=]PATH")
        out.setdefault("train" if split is None else split, []).append(path)
    return out


json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")


# -- the commands ---------------------------------------------------------------------
@click.group(cls=DsregGroup, context_settings=CONTEXT_SETTINGS)
@click.option("--registry", "registry_dir", metavar="DIR", envvar="DSREG_DIR", show_envvar=True,
              help="The project folder holding .dsreg/ (default: found by walking up from the "
                   "working folder).")
@click.option("--debug", is_flag=True, help="Show the traceback of errors.")
@click.version_option(__version__, "--version", prog_name="dsreg", message="%(prog)s %(version)s")
@click.pass_context
def cli(ctx: click.Context, registry_dir: str | None, debug: bool) -> None:
    """dsreg: a versioned dataset registry with a Git-like command line.

    Revisions are written NAME@REV, where REV is a branch, a tag, a commit id or a
    unique prefix of one (6+ hex characters), optionally followed by ~N (the N-th first
    parent). NAME alone means NAME@main.

    Exit codes: 0 success, 1 an error you can act on, 2 misuse of the command.
    """
    state = ctx.ensure_object(State)
    state.registry_dir, state.debug = registry_dir, debug


@cli.command()
@click.argument("directory", required=False, metavar="[DIR]", type=click.Path(file_okay=False))
@json_option
@pass_state
def init(state: State, directory: str | None, as_json: bool) -> None:
    """Create an empty registry.

    It goes in DIR, else in the folder named by --registry or DSREG_DIR, else in the
    working folder.
    """
    from .registry import Registry
    reg = Registry.init(directory or state.registry_dir or ".")
    reg.close()
    if as_json:
        _emit_json({"root": str(reg.root), "registry": str(reg.dir)})
    else:
        click.echo(f"Initialized empty dsreg registry in {reg.dir}")


@cli.command()
@click.argument("name")
@click.argument("paths", nargs=-1, metavar="[SPLIT=]PATH...")
@click.option("-m", "--message", default="", help="The commit message.")
@click.option("-b", "--branch", default="main", show_default=True, help="The branch to commit to.")
@click.option("--append", is_flag=True, help="Append the rows to the named splits instead of replacing them.")
@click.option("--drop-split", "drop_splits", multiple=True, metavar="SPLIT", help="Remove a split (repeatable).")
@click.option("--key", "keys", multiple=True, metavar="COL",
              help="Record COL as (part of) the row key, used by diff (repeatable).")
@click.option("--base", metavar="NAME@REV", help="Reuse rows of this version (default: the branch head).")
@click.option("--allow-empty", is_flag=True, help="Make a commit even when nothing changed.")
@json_option
@pass_state
def commit(state: State, name: str, paths: tuple[str, ...], message: str, branch: str, append: bool,
           drop_splits: tuple[str, ...], keys: tuple[str, ...], base: str | None, allow_empty: bool,
           as_json: bool) -> None:
    """Commit files or folders as a new version of dataset NAME.

    Each PATH is a Parquet, CSV, TSV, JSON Lines or Arrow file, or a folder of them, for
    the split `train`; write SPLIT=PATH for another split. Several PATHs of one split are
    concatenated in order. Named splits are replaced (or appended to with --append); the
    others are carried over from the parent version. Only rows the registry does not have
    yet are stored.

    \b
    Examples:
      dsreg commit reviews data/train.parquet -m "first version"
      dsreg commit reviews train=train/ test=test.csv --key id
    """
    from . import porcelain
    result = porcelain.commit(state.reg, name, _split_paths(paths), message=message, branch=branch, append=append,
                              drop_splits=drop_splits, keys=keys, base=base, allow_empty=allow_empty,
                              progress=state.progress())
    if as_json:
        _emit_json(result.to_json())
    elif result.unchanged:
        click.echo(f"nothing changed; {result.dataset}@{result.branch} stays at {_short(result.id)}")
    else:
        summary = message.splitlines()[0] if message else ""
        click.echo(f"[{result.branch} {_short(result.id)}] {summary}".rstrip())
        for split, s in sorted(result.splits.items()):
            click.echo(f"  {split}: {s.rows:,} rows ({s.new_rows:,} new, {s.reused_rows:,} reused), "
                       f"{_size(s.new_bytes)} new")
        for split in drop_splits:
            click.echo(f"  {split}: dropped")


@cli.command()
@click.argument("spec", metavar="NAME[@REV]")
@click.option("-n", "--max-count", "n", type=click.IntRange(min=0), metavar="N", help="Show at most N commits.")
@json_option
@pass_state
def log(state: State, spec: str, n: int | None, as_json: bool) -> None:
    """Show the history of a version, newest first."""
    from . import porcelain
    entries = porcelain.log(state.reg, spec, n=n)
    if as_json:
        _emit_json([e.to_json() for e in entries])
        return
    labels: dict[str, list[str]] = {}
    dataset = spec.partition("@")[0]
    for ref, commit_id in porcelain.branch(state.reg, dataset).items():
        labels.setdefault(commit_id, []).append(ref)
    for ref, commit_id in porcelain.tag(state.reg, dataset).items():
        labels.setdefault(commit_id, []).append(f"tag: {ref}")
    for i, e in enumerate(entries):
        decoration = f" ({', '.join(labels[e.id])})" if e.id in labels else ""
        click.echo(("\n" if i else "") + f"commit {_short(e.id)}{decoration}")
        if len(e.parents) > 1:
            click.echo("Merge:  " + " ".join(_short(p) for p in e.parents))
        click.echo(f"Author: {e.author}\nDate:   {_date(e.timestamp)}\n")
        for line in (e.message or "(no message)").splitlines():
            click.echo(f"    {line}")


@cli.command()
@click.argument("spec", metavar="NAME[@REV]")
@json_option
@pass_state
def show(state: State, spec: str, as_json: bool) -> None:
    """Show one version: its message, splits, sizes and schema."""
    from . import porcelain
    info = porcelain.show(state.reg, spec)
    if as_json:
        _emit_json(info)
        return
    click.echo(f"commit {_short(info['id'])} ({info['dataset']})")
    if info["parents"]:
        click.echo("Parents: " + " ".join(_short(p) for p in info["parents"]))
    click.echo(f"Author:  {info['author']}\nDate:    {_date(info['timestamp'])}\n")
    for line in (info["message"] or "(no message)").splitlines():
        click.echo(f"    {line}")
    click.echo()
    rows = [["split", "rows", "bytes", "shards", "runs"]]
    rows += [[split, f"{s['rows']:,}", _size(s["bytes"]), str(s["shards"]), str(s["runs"])]
             for split, s in info["splits"].items()]
    click.echo("\n".join(_table(rows, right={1, 2, 3, 4})) if info["splits"] else "(no splits)")
    schemas: dict[str, list[str]] = {}   # splits sharing a schema are shown once
    for split, fields in info["schema"].items():
        schemas.setdefault(json.dumps(fields), []).append(split)
    for fields, splits in schemas.items():
        click.echo(f"\nschema of {', '.join(splits)}:")
        click.echo("\n".join("  " + line for line in _table([[f["name"], f["type"]] for f in json.loads(fields)])))
    meta = {k: v for k, v in info["metadata"].items() if k != "sources"}
    if meta:
        click.echo("\nmetadata:")
        for k, v in meta.items():
            click.echo(f"  {k}: {json.dumps(v, ensure_ascii=False)}")


@cli.command(name="ls")
@json_option
@pass_state
def ls_(state: State, as_json: bool) -> None:
    """List the datasets with their branches and tags."""
    from . import porcelain
    datasets = porcelain.ls(state.reg)
    if as_json:
        _emit_json(datasets)
        return
    if not datasets:
        click.echo("no datasets yet; add one with 'dsreg commit NAME PATH'")
    for d in datasets:
        click.echo(d["name"])
        click.echo("  branches: " + ", ".join(f"{b} {_short(c)}" for b, c in d["branches"].items()))
        if d["tags"]:
            click.echo("  tags:     " + ", ".join(f"{t} {_short(c)}" for t, c in d["tags"].items()))


def _diff_target(reg, args: tuple[str, ...]) -> tuple[str | None, dict[str, list[str]] | None]:
    """Read the arguments after NAME@A as one revision B, or as paths (see `diff --help`)."""
    if not args:
        return None, None
    kinds = [_is_path(reg, arg) for arg in args]
    if not any(kinds) and len(args) == 1:
        return args[0], None
    if all(kinds):
        return None, _split_paths(args)
    odd = args[kinds.index(False)]
    raise UsageError(f"{odd!r} is not a file or folder; give one revision NAME@B, or only paths")


def _is_path(reg, arg: str) -> bool:
    split, path = _split_path(arg)
    if split is not None or os.path.exists(path):
        return True
    if "@" in arg:
        return False
    if arg.lower().endswith(DATA_SUFFIXES):
        return True   # a missing data file: let the commit machinery say so
    if reg.manifest.has_dataset(arg):
        return False
    raise DsregError(f"{arg!r} is neither a dataset nor a file or folder", "run 'dsreg ls' to see the datasets")


@cli.command()
@click.argument("a", metavar="NAME@A")
@click.argument("others", nargs=-1, metavar="[NAME@B | [SPLIT=]PATH...]")
@click.option("--key", "keys", multiple=True, metavar="COL",
              help="Match rows by COL (repeatable), so edited rows count as modified.")
@click.option("--stat", is_flag=True, help="Show only the counts of added, removed and modified rows.")
@click.option("--schema", "schema_only", is_flag=True, help="Show only the schema changes.")
@click.option("--rows", is_flag=True, help="Also list the changed rows.")
@click.option("--limit", type=click.IntRange(min=0), metavar="N",
              help="List at most N changed rows in all (implies --rows).")
@json_option
@pass_state
def diff(state: State, a: str, others: tuple[str, ...], keys: tuple[str, ...], stat: bool, schema_only: bool,
         rows: bool, limit: int | None, as_json: bool) -> None:
    """Show the changes between two versions, or between a version and files.

    \b
    dsreg diff NAME@A NAME@B        changes from A to B (as `git diff A B`)
    dsreg diff NAME@A @B            the same, B being a revision of dataset NAME
    dsreg diff NAME@A               changes A made to its first parent (as `git show A`)
    dsreg diff NAME@A [SPLIT=]PATH...
                                    changes from A to uncommitted files; the splits
                                    not named keep A's rows

    An argument after NAME@A is a path if it is SPLIT=PATH, names an existing file or
    folder, or ends in a data-file suffix (.parquet, .csv, ...) without containing '@';
    otherwise it is a revision. An existing path wins over a dataset of the same name:
    write NAME@main to mean the dataset.

    Rows are matched by the --key columns, else by the keys the versions were committed
    with (commit --key); without keys an edited row counts as one removed and one added.
    """
    from . import diff as diff_mod
    b, paths = _diff_target(state.reg, others)
    result = diff_mod.diff(state.reg, a, b, paths=paths, keys=keys, rows=rows, limit=limit,
                           progress=state.progress())
    if as_json:
        _emit_json(result.to_json())
        return
    text = diff_mod.render(result, stat=stat, schema_only=schema_only)
    if text:
        click.echo(text, nl=not text.endswith("\n"))


def _ref_command(kind: str, state: State, name: str, new: str | None, rev: str | None, delete: str | None,
                 force: bool, as_json: bool) -> None:
    from . import porcelain
    out = getattr(porcelain, kind)(state.reg, name, new, rev, delete=delete, force=force)
    if as_json:
        _emit_json(out)
    elif delete is not None:
        click.echo(f"deleted {kind} {out['deleted']} (was {_short(out['was'])})")
    elif new is not None:
        click.echo(f"{kind} {out['name']} -> {_short(out['commit'])}")
    elif out:
        click.echo("\n".join(_table([[ref, _short(c)] for ref, c in out.items()])))


@cli.command()
@click.argument("name")
@click.argument("new", required=False)
@click.argument("rev", required=False)
@click.option("-d", "--delete", metavar="BRANCH", help="Delete BRANCH (never main).")
@click.option("-f", "--force", is_flag=True, help="Reset NEW to REV even if it exists.")
@json_option
@pass_state
def branch(state: State, name: str, new: str | None, rev: str | None, delete: str | None, force: bool,
           as_json: bool) -> None:
    """List, create or delete the branches of dataset NAME.

    With NEW, create branch NEW at REV (default: main); --force resets an existing one.

    \b
    dsreg branch reviews                 list
    dsreg branch reviews dev v1.0        create dev at tag v1.0
    dsreg branch reviews -d dev          delete dev
    """
    _ref_command("branch", state, name, new, rev, delete, force, as_json)


@cli.command()
@click.argument("name")
@click.argument("new", required=False, metavar="[TAG]")
@click.argument("rev", required=False)
@click.option("-d", "--delete", metavar="TAG", help="Delete TAG.")
@click.option("-f", "--force", is_flag=True, help="Move TAG to REV even if it exists.")
@json_option
@pass_state
def tag(state: State, name: str, new: str | None, rev: str | None, delete: str | None, force: bool,
        as_json: bool) -> None:
    """List, create or delete the tags of dataset NAME.

    With TAG, create it at REV (default: main). Tags never move unless forced with --force.

    \b
    dsreg tag reviews                    list
    dsreg tag reviews v1.0 3fa9c1e0      tag a commit
    dsreg tag reviews -d v1.0            delete
    """
    _ref_command("tag", state, name, new, rev, delete, force, as_json)


@cli.command()
@click.argument("spec", metavar="NAME[@REV]")
@click.option("-o", "--output", "out", required=True, metavar="DIR", type=click.Path(file_okay=False),
              help="Where to write, one folder per split; each must be new or empty.")
@click.option("--split", metavar="SPLIT", help="Write only this split.")
@click.option("--format", "fmt", type=click.Choice(CHECKOUT_FORMATS), default="parquet", show_default=True,
              help="File format to write.")
@json_option
@pass_state
def checkout(state: State, spec: str, out: str, split: str | None, fmt: str, as_json: bool) -> None:
    """Write a version out as files: DIR/SPLIT/part-00000.FORMAT, ..."""
    from . import porcelain
    result = porcelain.checkout(state.reg, spec, out, split=split, format=fmt, progress=state.progress())
    if as_json:
        _emit_json({"id": result.commit, "splits": {s: {"rows": result.rows[s], "files": files}
                                                    for s, files in result.files.items()}})
        return
    click.echo(f"checked out {spec} ({_short(result.commit)}) to {out}")
    for s, files in result.files.items():
        click.echo(f"  {s}: {result.rows[s]:,} rows in {len(files)} file{'s' if len(files) != 1 else ''}")


@cli.command()
@json_option
@pass_state
def fsck(state: State, as_json: bool) -> None:
    """Verify every object and ref; exit 1 if anything is wrong."""
    from . import maintenance
    result = maintenance.fsck(state.reg, progress=state.progress())
    if as_json:
        _emit_json(result.to_json())
    else:
        for problem in result.problems:
            click.echo(f"problem: {problem}")
        for note in result.notes:
            click.echo(f"note: {note}")
        click.echo(f"checked {result.checked_objects:,} objects ({_size(result.checked_bytes)}): "
                   + ("no problems found" if result.ok else f"{len(result.problems)} problem(s)"))
    if not result.ok:
        n = len(result.problems)
        raise DsregError(f"fsck found {n} problem{'s' if n != 1 else ''}")


@cli.command()
@click.option("-n", "--dry-run", is_flag=True, help="Only report what would be deleted.")
@json_option
@pass_state
def gc(state: State, dry_run: bool, as_json: bool) -> None:
    """Delete the objects that no ref or reflog entry reaches."""
    from . import maintenance
    result = maintenance.gc(state.reg, dry_run=dry_run, progress=state.progress())
    if as_json:
        _emit_json(result.to_json())
        return
    n = result.deleted_objects
    verb = "would delete" if dry_run else "deleted"
    click.echo(f"{verb} {n:,} object{'s' if n != 1 else ''} ({_size(result.deleted_bytes)})")
    if result.skipped_recent:
        click.echo(f"kept {result.skipped_recent:,} unreachable object(s) written too recently to be sure "
                   "no commit is about to use them")


def main() -> None:
    cli.main(prog_name="dsreg")


if __name__ == "__main__":
    main()
