"""The DVC bridge commands: `import-dvc` and `export-dvc` (and `remote add --from-dvc`,
whose rendering is here too).

Thin like the rest of the CLI: parse, call one porcelain verb, render. DVC itself is
imported only inside the verbs, so `--help` stays fast and works without the extra.
"""
from __future__ import annotations

import click

from dsreg.cli.util import State, echo, emit_json, format_size, json_option, pass_state, plural, short_id, warn

EXPORT_FORMATS = ("parquet", "csv", "jsonl")


@click.command(name="import-dvc")
@click.argument("repo", metavar="REPO", type=click.Path(file_okay=False))
@click.argument("path", metavar="PATH")
@click.argument("name", metavar="NAME")
@click.option("--rev", metavar="REV", help="The git revision to import up to (default: HEAD).")
@click.option("--all", "every", is_flag=True,
              help="Import every git commit on REV's first-parent line that changed PATH's data, oldest first "
                   "(default: only the data at REV).")
@click.option("--tags", is_flag=True, help="Make git tags on those commits dsreg tags.")
@click.option("--split", metavar="S", help="The split to commit the data to (default: train).")
@click.option("--split-per-file", is_flag=True,
              help="For a folder: each file becomes its own split, named after the file without its suffix.")
@click.option("-b", "--branch", default="main", show_default=True, help="The branch to commit to.")
@json_option
@pass_state
def import_dvc(state: State, repo: str, path: str, name: str, rev: str | None, every: bool, tags: bool,
               split: str | None, split_per_file: bool, branch: str, as_json: bool) -> None:
    """Import the data DVC tracks at PATH in git repository REPO as dataset NAME.

    PATH is a file or folder tracked by a .dvc file or a dvc.lock output, relative to
    REPO's root. Each imported git commit becomes one dsreg commit with the original
    message, author and time, and records the git commit and DVC's md5 in its metadata.
    The data comes through DVC: from its cache, else from its remote. A folder is one
    split of all its files (as `dsreg commit` reads a folder), or with --split-per-file
    one split per file. Running the import again adds only the git commits not imported
    yet; revisions already imported download nothing.

    \b
    Examples:
      dsreg import-dvc ../project data/reviews.parquet reviews --all --tags
      dsreg import-dvc ../project data/images-meta imgs --rev v2.0 --split-per-file
    """
    from dsreg import porcelain
    result = porcelain.import_dvc(state.reg, repo, path, name, rev=rev, every=every, tags=tags, split=split,
                                  split_per_file=split_per_file, branch=branch, progress=state.progress())
    if as_json:
        emit_json(result.to_json())
        return
    for r in result.imported:
        rows = ", ".join(f"{s}: {n:,} rows" for s, n in sorted(r.splits.items()))
        tags_text = f" (tag: {', '.join(r.tags)})" if r.tags else ""
        summary = r.message.splitlines()[0] if r.message else ""
        echo(f"{r.git_commit[:12]} -> {name}@{short_id(r.commit)}{tags_text} {summary}".rstrip())
        echo(f"  {rows}, {format_size(r.new_bytes)} new")
    if result.imported:
        echo(f"imported {plural(len(result.imported), 'revision')} of {result.path} "
                   f"({format_size(result.downloaded_bytes)} read through DVC) into {name}@{result.branch}")
    else:
        echo(f"{name}@{result.branch} already holds {result.path} as of git commit {result.git_rev[:12]}")
    old_tags = [t for t in result.tags if not any(t in r.tags for r in result.imported)]
    if old_tags:
        echo(f"tagged earlier imports: {', '.join(old_tags)}")


@click.command(name="export-dvc")
@click.argument("spec", metavar="NAME@REV")
@click.argument("repo", metavar="REPO", type=click.Path(file_okay=False))
@click.argument("path", metavar="PATH")
@click.option("--format", "fmt", type=click.Choice(EXPORT_FORMATS),
              help="File format (default: PATH's suffix, else parquet).")
@click.option("--split", metavar="S", help="Export only this split.")
@json_option
@pass_state
def export_dvc(state: State, spec: str, repo: str, path: str, fmt: str | None, split: str | None,
               as_json: bool) -> None:
    """Write version NAME@REV into DVC repository REPO at PATH, tracked by DVC.

    PATH ending in .parquet, .csv or .jsonl is one file of one split; any other PATH is a
    folder with one subfolder per split, as `dsreg checkout` writes it. The data is added
    with DVC's own API (as `dvc add PATH`), and the .dvc file's `meta` records the dsreg
    commit; then `git add PATH.dvc .gitignore`, `git commit` and `dvc push` share it, and
    anyone can `dvc pull` it without dsreg. PATH must be new, or data DVC tracks with no
    unrecorded changes.

    \b
    Examples:
      dsreg export-dvc reviews@v1 ../project data/reviews.parquet
      dsreg export-dvc reviews@main ../project data/reviews --format csv
    """
    from dsreg import porcelain
    result = porcelain.export_dvc(state.reg, spec, repo, path, format=fmt, split=split)
    if as_json:
        emit_json(result.to_json())
        return
    rows = ", ".join(f"{s}: {n:,} rows" for s, n in sorted(result.rows.items()))
    echo(f"exported {spec} ({short_id(result.commit)}) to {result.path} in {result.repo} ({rows})")
    echo(f"DVC tracks it in {result.dvc_file} (md5 {result.md5}); "
               f"share it with: git add {result.dvc_file} {result.gitignore} && git commit && dvc push")


def render_remote_from_dvc(name: str, info: dict) -> None:
    """`remote add --from-dvc`'s human output."""
    endpoint = f" (endpoint {info['endpoint_url']})" if info["endpoint_url"] else ""
    echo(f"added remote {name}: {info['url']}{endpoint}, inside DVC remote {info['dvc_remote']} "
               f"({info['dvc_url']})")
    if info.get("profile"):
        warn(f"DVC remote {info['dvc_remote']} uses AWS profile {info['profile']!r}; dsreg reads credentials "
             f"from the usual AWS sources, so set AWS_PROFILE={info['profile']} when you use this remote")


COMMANDS = (import_dvc, export_dvc)
