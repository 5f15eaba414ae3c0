"""The `dsreg` command line: thin commands that parse, call one porcelain verb, and render.

The local verbs are here, the sharing verbs (remote, push, fetch, pull, clone) in `cliremote`,
and what every command shares in `cliutil`: errors become `Error: ...` and an exit code in
exactly one place (`DsregGroup.invoke`). Heavy modules (pyarrow, the manifest) are imported
inside the commands so `--help` stays fast.
"""
from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING

import click

from dsreg.cli.checks import COMMANDS as CHECK_COMMANDS
from dsreg.cli.checks import showing_failures
from dsreg.cli.dvc import COMMANDS as DVC_COMMANDS
from dsreg.cli.history import COMMANDS as HISTORY_COMMANDS
from dsreg.cli.lock import COMMANDS as LOCK_COMMANDS
from dsreg.cli.remote import COMMANDS
from dsreg.cli.util import (
    CONTEXT_SETTINGS,
    DsregGroup,
    State,
    echo,
    emit_json,
    format_size,
    json_option,
    pass_state,
    short_id,
    table_lines,
    tune_process,
    warn,
)
from dsreg.errors import DsregError, UsageError
from dsreg.version import __version__

if TYPE_CHECKING:
    from dsreg.maintenance.remote import RemoteFsckResult
    from dsreg.registry import Registry
    from dsreg.versions.describe import ColumnInfo

CHECKOUT_FORMATS = ("parquet", "csv", "jsonl")    # as porcelain.CHECKOUT_FORMATS, without importing pyarrow
DATA_SUFFIXES = (".parquet", ".pq", ".csv", ".tsv", ".jsonl", ".ndjson", ".json",
                 ".arrow", ".feather", ".ipc", ".arrows")


# -- argument helpers -----------------------------------------------------------------
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
    from dsreg.registry import Registry
    reg = Registry.init(directory or state.registry_dir or ".")
    reg.close()
    if as_json:
        emit_json({"root": str(reg.root), "registry": str(reg.dir)})
    else:
        echo(f"Initialized empty dsreg registry in {reg.dir}")


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
@click.option("--allow-empty", is_flag=True,
              help="Make a commit even when nothing changed, or when the files of a split hold no rows.")
@click.option("--author", metavar="'NAME <EMAIL>'",
              help="The author (default: DSREG_AUTHOR, else GIT_AUTHOR_NAME and GIT_AUTHOR_EMAIL, "
                   "else user@host).")
@click.option("--no-verify", is_flag=True, help="Skip the branch's checks (see 'dsreg check').")
@json_option
@pass_state
def commit(state: State, name: str, paths: tuple[str, ...], message: str, branch: str, append: bool,
           drop_splits: tuple[str, ...], keys: tuple[str, ...], base: str | None, allow_empty: bool,
           author: str | None, no_verify: bool, as_json: bool) -> None:
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
    from dsreg import porcelain
    with showing_failures():
        result = porcelain.commit(state.reg, name, _split_paths(paths), message=message, branch=branch,
                                  append=append, drop_splits=drop_splits, keys=keys, base=base,
                                  allow_empty=allow_empty, empty_files=allow_empty, author=author,
                                  no_verify=no_verify, progress=state.progress())
    if as_json:
        emit_json(result.to_json())
    elif result.unchanged:
        echo(f"nothing changed; {result.dataset}@{result.branch} stays at {short_id(result.id)}")
    else:
        summary = message.splitlines()[0] if message.strip() else "(no message; give one with -m MSG)"
        echo(f"[{result.branch} {short_id(result.id)}] {summary}")
        for split, s in sorted(result.splits.items()):
            echo(f"  {split}: {s.rows:,} rows ({s.new_rows:,} new, {s.reused_rows:,} reused), "
                       f"{format_size(s.new_bytes)} new")
        for split in drop_splits:
            echo(f"  {split}: dropped")
        for note in result.notes:       # guardrails: what may be a mistake (versions/guardrails.py)
            if note.kind != "no-message":
                warn(note.message)


@cli.command()
@click.argument("spec", metavar="NAME[@REV]")
@click.option("-n", "--max-count", "n", type=click.IntRange(min=0), metavar="N", help="Show at most N commits.")
@click.option("--oneline", is_flag=True, help="One line a commit: short id, refs and the message's first line.")
@click.option("--graph", is_flag=True, help="Draw the commit graph beside the history (implies --oneline).")
@click.option("--all", "all_refs", is_flag=True, help="The history of every branch and tag of the dataset.")
@json_option
@pass_state
def log(state: State, spec: str, n: int | None, oneline: bool, graph: bool, all_refs: bool, as_json: bool) -> None:
    """Show the history of a version, newest first."""
    from dsreg import porcelain
    from dsreg.cli.history import commit_lines, graph_prefixes, ref_labels
    entries = porcelain.log(state.reg, spec, n=n, all_refs=all_refs)
    prefixes = graph_prefixes(entries) if graph else [""] * len(entries)
    oneline = oneline or graph
    if as_json:
        emit_json([e.to_json() for e in entries])
        return
    labels = ref_labels(state.reg, spec.partition("@")[0])
    for i, (e, prefix) in enumerate(zip(entries, prefixes)):
        if oneline:
            decoration = f" ({', '.join(labels[e.id])})" if e.id in labels else ""
            echo(f"{prefix}{short_id(e.id)}{decoration} {(e.message or '(no message)').splitlines()[0]}")
            continue
        echo(("\n" if i else "") + "\n".join(commit_lines(e.id, labels, e.parents, e.author, e.timestamp,
                                                          e.message)))


@cli.command()
@click.argument("spec", metavar="NAME[@REV]")
@json_option
@pass_state
def show(state: State, spec: str, as_json: bool) -> None:
    """Show one version: its message, splits, sizes and schema."""
    from dsreg import porcelain
    info = porcelain.show(state.reg, spec)
    if as_json:
        emit_json(info.to_json())
        return
    from dsreg.cli.history import commit_lines, ref_labels
    # the header as `log` prints it (refs in the same place), then what the version holds
    echo("\n".join(commit_lines(info.id, ref_labels(state.reg, info.dataset), info.parents, info.author,
                                info.timestamp, info.message)))
    echo(f"\ndataset: {info.dataset}")
    echo("parents: " + (" ".join(short_id(p) for p in info.parents) or "none (a first commit)") + "\n")
    rows = [["split", "rows", "bytes", "shards", "runs"]]
    rows += [[split, f"{s.rows:,}", format_size(s.bytes), str(s.shards), str(s.runs)]
             for split, s in info.splits.items()]
    echo("\n".join(table_lines(rows, right={1, 2, 3, 4})) if info.splits else "(no splits)")
    schemas: dict[tuple[ColumnInfo, ...], list[str]] = {}   # splits sharing a schema are shown once
    for split, fields in info.schema.items():
        schemas.setdefault(fields, []).append(split)
    for fields, splits in schemas.items():
        echo(f"\nschema of {', '.join(splits)}:")
        rows = [[f.name, f.type] for f in fields]
        echo("\n".join("  " + line for line in table_lines(rows)))
    meta = {k: v for k, v in info.metadata.items() if k != "sources"}
    if meta:
        echo("\nmetadata:")
        for k, v in meta.items():
            echo(f"  {k}: {json.dumps(v, ensure_ascii=False)}")


@cli.command(name="ls")
@json_option
@pass_state
def ls_(state: State, as_json: bool) -> None:
    """List the datasets with their branches and tags."""
    from dsreg import porcelain
    datasets = porcelain.ls(state.reg)
    if as_json:
        emit_json([d.to_json() for d in datasets])
        return
    if not datasets:
        echo("no datasets yet; add one with 'dsreg commit NAME PATH'")
    for d in datasets:
        echo(d.name)
        echo("  branches: " + ", ".join(f"{b} {short_id(c)}" for b, c in d.branches.items()))
        if d.tags:
            echo("  tags:     " + ", ".join(f"{t} {short_id(c)}" for t, c in d.tags.items()))


def _diff_target(reg: Registry, args: tuple[str, ...],
                 dataset: str | None = None) -> tuple[str | None, dict[str, list[str]] | None]:
    """Read the arguments after NAME@A as one revision B, or as paths (see `diff --help`)."""
    if not args:
        return None, None
    kinds = [_is_path(reg, arg, dataset) for arg in args]
    if not any(kinds) and len(args) == 1:
        return args[0], None
    if all(kinds):
        return None, _split_paths(args)
    odd = args[kinds.index(False)]
    raise UsageError(f"{odd!r} is not a file or folder; give one revision NAME@B, or only paths")


def _is_path(reg: Registry, arg: str, dataset: str | None = None) -> bool:
    split, path = _split_path(arg)
    if split is not None or os.path.exists(path):
        return True
    if "@" in arg:
        return False
    if arg.lower().endswith(DATA_SUFFIXES):
        return True   # a missing data file: let the commit machinery say so
    if reg.manifest.has_dataset(arg):
        return False
    if dataset is not None and reg.manifest.has_dataset(dataset):
        # `diff reviews v1`: a revision of the first argument's dataset, written without NAME@
        from dsreg.model.revisions import resolve
        try:
            resolve(reg, f"{dataset}@{arg}")
        except DsregError:
            pass
        else:
            raise DsregError(f"{arg!r} is neither a dataset nor a file or folder", f"did you mean {dataset}@{arg}?")
    raise DsregError(f"{arg!r} is neither a dataset nor a file or folder", "run 'dsreg ls' to see the datasets")


@cli.command()
@click.argument("a", metavar="NAME@A")
@click.argument("others", nargs=-1, metavar="[NAME@B | [SPLIT=]PATH...]")
@click.option("--key", "keys", multiple=True, metavar="COL",
              help="Match rows by COL (repeatable), so edited rows count as modified.")
@click.option("--no-key", "no_key", is_flag=True,
              help="Ignore the keys recorded by commit --key: an edited row counts as removed and added.")
@click.option("--stat", is_flag=True, help="Show only the counts of added, removed and modified rows.")
@click.option("--schema", "schema_only", is_flag=True, help="Show only the schema changes.")
@click.option("--rows", is_flag=True, help="Also list the changed rows.")
@click.option("--limit", type=click.IntRange(min=0), metavar="N",
              help="List at most N changed rows in all (implies --rows).")
@json_option
@pass_state
def diff(state: State, a: str, others: tuple[str, ...], keys: tuple[str, ...], no_key: bool, stat: bool,
         schema_only: bool, rows: bool, limit: int | None, as_json: bool) -> None:
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
    with (commit --key; --no-key ignores those); without keys an edited row counts as one
    removed and one added.
    """
    from dsreg.diff import compare as diff_mod
    b, paths = _diff_target(state.reg, others, a.partition("@")[0])
    result = diff_mod.diff(state.reg, a, b, paths=paths, keys=keys, rows=rows, limit=limit,
                           default_keys=not no_key, progress=state.progress())
    if as_json:
        emit_json(result.to_json())
        return
    text = diff_mod.render(result, stat=stat, schema_only=schema_only)
    if text:
        echo(text, nl=not text.endswith("\n"))


def _ref_command(kind: str, state: State, name: str, new: str | None, rev: str | None, delete: str | None,
                 force: bool, as_json: bool) -> None:
    from dsreg import porcelain
    from dsreg.versions.refs import CreatedRef, DeletedRef
    out = getattr(porcelain, kind)(state.reg, name, new, rev, delete=delete, force=force)
    if as_json:
        emit_json(out if isinstance(out, dict) else out.to_json())
    elif isinstance(out, DeletedRef):
        echo(f"deleted {kind} {out.deleted} (was {short_id(out.was)})")
    elif isinstance(out, CreatedRef):
        echo(f"{kind} {out.name} -> {short_id(out.commit)}")
    elif out:
        echo("\n".join(table_lines([[ref, short_id(c)] for ref, c in out.items()])))


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
    from dsreg import porcelain
    result = porcelain.checkout(state.reg, spec, out, split=split, format=fmt, progress=state.progress())
    if as_json:
        emit_json({"id": result.commit, "splits": {s: {"rows": result.rows[s], "files": files}
                                                    for s, files in result.files.items()}})
        return
    echo(f"checked out {spec} ({short_id(result.commit)}) to {out}")
    for s, files in result.files.items():
        echo(f"  {s}: {result.rows[s]:,} rows in {len(files)} file{'s' if len(files) != 1 else ''}")


# remote, push, fetch, pull, clone: in their own module, listed here in the help's order
for _command in (*HISTORY_COMMANDS, *COMMANDS, *DVC_COMMANDS):
    cli.add_command(_command)
for _command in LOCK_COMMANDS:     # lock: dsreg.lock, in its own module
    cli.add_command(_command)


for _command in CHECK_COMMANDS:
    cli.add_command(_command)


# -- card: dataset cards (src/dsreg/card/) --------------------------------------------
CARD_FORMATS = ("md", "html", "json")     # as card.FORMATS, without importing pyarrow


@cli.command()
@click.argument("spec", metavar="NAME[@REV]")
@click.option("-o", "--output", "out", metavar="FILE", type=click.Path(dir_okay=False),
              help="Write the card to FILE (e.g. DIR/README.md next to a checkout) instead of stdout.")
@click.option("--format", "fmt", type=click.Choice(CARD_FORMATS), default="md", show_default=True,
              help="md: README.md with the Hugging Face YAML header; html: one self-contained page with "
                   "charts; json: the same content for machines.")
@click.option("--set", "assignments", multiple=True, metavar="KEY=VALUE",
              help="Record a card field (repeatable) as a commit that moves no data; @FILE reads the "
                   "value from a file, an empty value removes the field.")
@json_option
@pass_state
def card(state: State, spec: str, out: str | None, fmt: str, assignments: tuple[str, ...], as_json: bool) -> None:
    """Write the dataset card of a version: Hugging Face header, statistics, changelog.

    The card of NAME[@REV] describes exactly that version: its splits, schema, per-column
    statistics (exact; computed by the first card of a version, then kept), sample
    rows, every ancestor commit with its row changes, and how to load it pinned.

    Fields people write are kept in the version's metadata and carried to later commits:
    pretty_name, license, language, task_categories, task_ids, tags, annotations_creators,
    language_creators, multilinguality, source_datasets, paperswithcode_id, license_name,
    license_link, license_details, language_details, description, and your own x-NAME.

    \b
    Examples:
      dsreg card reviews -o out/README.md
      dsreg card reviews@v1 --format html -o reviews-v1.html
      dsreg card reviews --set license=cc-by-4.0 --set description=@about.md
      dsreg card reviews@v1 --json              the card's fields, as --format json
    """
    from click.core import ParameterSource

    from dsreg import card as card_mod
    from dsreg.cli.assignments import parse_assignments
    fmt_given = click.get_current_context().get_parameter_source("fmt") is not ParameterSource.DEFAULT
    if as_json and (out is not None or (fmt_given and fmt != "json")):
        # --json is a report on stdout, as for every other command; a file takes --format
        raise UsageError("--json prints the card on stdout; use --format json -o FILE to write it")
    if assignments and out is None and not as_json and fmt_given:
        raise UsageError("--set prints no card, so --format has nothing to format",
                         "add -o FILE to write the card of the new commit too")
    if out is not None:
        card_mod.check_output(out)      # before anything is recorded
    if assignments:
        result = card_mod.set_fields(state.reg, spec, parse_assignments(assignments))
        # with --json, stdout holds the card alone
        note = f"nothing changed; {result.dataset}@{result.branch} stays at {short_id(result.id)}" \
            if result.unchanged else f"[{result.branch} {short_id(result.id)}] card fields recorded"
        echo(note, err=as_json)
        if out is None and not as_json:
            return
        spec = f"{result.dataset}@{result.id}"
    if as_json:
        emit_json(card_mod.build_card(state.reg, spec, progress=state.progress()).to_json())
        return
    text = card_mod.card(state.reg, spec, fmt, progress=state.progress())
    if out is None:
        click.echo(text, nl=False)      # the card as written to a file, byte for byte
        return
    from dsreg.store.atomic import write_atomic
    try:
        # the old card stays whole until the new one is: a failed write never leaves half
        write_atomic(os.path.realpath(out), text.encode("utf-8"), mode=0o666)
    except OSError as e:
        raise DsregError(f"cannot write {out}: {e.strerror or e}") from None
    echo(f"wrote the {fmt} card of {spec} to {out}")


@cli.command()
@click.option("--remote", "remote_name", metavar="REMOTE",
              help="Check this remote instead: every object its branches and tags reach, read from it.")
@click.option("--repair", is_flag=True,
              help="Replace missing or corrupt objects by verified copies: local ones from the remotes "
                   "(origin first); with --remote, the remote's from the local store.")
@click.option("--rebuild", is_flag=True,
              help="Rebuild the manifest from the objects, keeping the old one as manifest.sqlite.bak-TIME, "
                   "then check the result.")
@json_option
@pass_state
def fsck(state: State, remote_name: str | None, repair: bool, rebuild: bool, as_json: bool) -> None:
    """Verify every object and ref; exit 1 if anything is wrong.

    Each problem names the object and the versions it affects.

    With --rebuild, the manifest (the index of datasets, commits, snapshots and shards) is
    built anew from every object in the local store, each verified as it is read; corrupt
    objects are reported and left out. Refs, the reflog and remotes are kept from the old
    manifest if it still reads (a ref only if its commit is in the store); a dataset left
    with no ref gets `main` on its newest head and, when it has several heads, a branch
    `recovered-ID` on each.
    """
    from dsreg.maintenance import fsck as maintenance
    if rebuild:
        if remote_name is not None or repair:
            raise UsageError("--rebuild rebuilds the local manifest; it cannot be combined with "
                             f"{'--remote' if remote_name is not None else '--repair'}")
        from dsreg.maintenance.rebuild import rebuild_manifest
        rebuilt = rebuild_manifest(state.open_registry(need_manifest=False), progress=state.progress())
        _render_rebuild(rebuilt, as_json)
        _fail_on_problems(rebuilt.check, "the rebuilt registry fails fsck: ")
        return
    result: maintenance.FsckResult | RemoteFsckResult
    if remote_name is not None:
        from dsreg.maintenance.remote import fsck_remote
        result = fsck_remote(state.reg, remote_name, repair=repair, progress=state.progress())
    else:
        result = maintenance.fsck(state.reg, progress=state.progress(), repair=repair)
    if as_json:
        emit_json(result.to_json())
    else:
        for line in result.repaired or ():
            echo(f"repaired: {line}")
        _render_check(result)
    _fail_on_problems(result, "fsck found ")


def _render_check(result) -> None:
    for problem in result.problems:
        echo(f"problem: {problem}")
    for note in getattr(result, "notes", ()):
        echo(f"note: {note}")
    echo(f"checked {result.checked_objects:,} objects ({format_size(result.checked_bytes)}): "
               + ("no problems found" if result.ok else f"{len(result.problems)} problem(s)"))


def _fail_on_problems(result, prefix: str) -> None:
    if not result.ok:
        n = len(result.problems)
        raise DsregError(f"{prefix}{n} problem{'s' if n != 1 else ''}")


def _render_rebuild(r, as_json: bool) -> None:
    if as_json:
        emit_json(r.to_json())
        return
    echo(f"rebuilt the manifest from {r.objects_read:,} objects ({format_size(r.bytes_read)}): "
               f"{r.commits:,} commits, {r.snapshots:,} snapshots, {r.shards:,} shards; refs: {r.refs_kept:,} kept, "
               f"{len(r.recovered):,} recreated; {len(r.skipped):,} corrupt objects skipped")
    for note in r.notes:
        echo(f"note: {note}")
    for line in r.skipped:
        echo(f"skipped: {line}")
    for line in r.dropped:
        echo(f"dropped: ref {line}")
    for rec in r.recovered:
        of = f" (the newest of {rec.heads} heads)" if rec.branch == "main" and rec.heads > 1 else ""
        echo(f"recovered: {rec.dataset}@{rec.branch} at {short_id(rec.commit)}{of}")
    if r.backup:
        echo(f"the old manifest is kept as {r.backup}")
    _render_check(r.check)


@cli.command()
@click.option("-n", "--dry-run", is_flag=True, help="Only report what would be deleted.")
@click.option("--remote", "remote_name", metavar="REMOTE",
              help="Collect on this remote: objects none of its branches and tags reach.")
@click.option("--grace", metavar="DURATION",
              help="With --remote: spare unreachable objects younger than this, so a push in flight "
                   "keeps what it uploaded (default 7d; e.g. 36h, 90m, 3600s).")
@json_option
@pass_state
def gc(state: State, dry_run: bool, remote_name: str | None, grace: str | None, as_json: bool) -> None:
    """Delete the objects that no ref or reflog entry reaches."""
    from dsreg.maintenance import gc as maintenance
    if remote_name is not None:
        from dsreg.maintenance.remote import DEFAULT_REMOTE_GRACE_SECONDS, gc_remote, parse_duration
        seconds = parse_duration(grace) if grace is not None else DEFAULT_REMOTE_GRACE_SECONDS
        remote_result = gc_remote(state.reg, remote_name, dry_run=dry_run, grace_seconds=seconds,
                                  progress=state.progress())
        if as_json:
            emit_json(remote_result.to_json())
            return
        n = remote_result.deleted_objects
        echo(f"{'would delete' if dry_run else 'deleted'} {n:,} object{'s' if n != 1 else ''} "
                   f"on {remote_result.remote}")
        if remote_result.skipped_recent:
            echo(f"kept {remote_result.skipped_recent:,} unreachable object(s) younger than the grace period")
        return
    if grace is not None:
        raise UsageError("--grace applies to 'gc --remote' only")
    result = maintenance.gc(state.reg, dry_run=dry_run, progress=state.progress())
    if as_json:
        emit_json(result.to_json())
        return
    n = result.deleted_objects
    verb = "would delete" if dry_run else "deleted"
    echo(f"{verb} {n:,} object{'s' if n != 1 else ''} ({format_size(result.deleted_bytes)})")
    if result.skipped_recent:
        echo(f"kept {result.skipped_recent:,} unreachable object(s) written too recently to be sure "
                   "no commit is about to use them")


def main() -> None:
    tune_process()
    try:
        cli.main(prog_name="dsreg")
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    # Leave without the interpreter's teardown: by now the registry is closed and every
    # file written, and pyarrow's thread pools can abort a finished process while they
    # are torn down ("terminate called without an active exception", apache/arrow#34314),
    # which would turn a command that succeeded into exit code 134.
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


if __name__ == "__main__":
    main()
