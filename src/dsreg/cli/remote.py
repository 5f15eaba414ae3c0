"""The sharing commands: `remote add|list|remove`, `push`, `fetch`, `pull` and `clone`.

Thin like the rest of the CLI: each parses, calls one `dsreg.remote.transfer` verb (clone:
`Registry.clone`), and renders. `dsreg.remote.transfer` (and through it boto3 and the manifest)
is imported inside the commands.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import click

from dsreg.cli.util import (
    OrderedGroup,
    State,
    echo,
    emit_json,
    format_size,
    json_option,
    pass_state,
    plural,
    short_id,
    table_lines,
    warn,
)
from dsreg.errors import UsageError

if TYPE_CHECKING:
    from dsreg.registry import Registry

endpoint_option = click.option(
    "--endpoint-url", metavar="URL",
    help="The endpoint of an S3-compatible store (MinIO, R2, Ceph, ...); default: AWS S3.")

NO_CONDITIONAL_WRITES = (
    "{url} ignores conditional writes (If-Match / If-None-Match), so concurrent pushes could "
    "overwrite each other; dsreg will not push refs to {name} (reading from it works)")


def _remote_and_target(reg: Registry, first: str | None, second: str | None) -> tuple[str | None, str | None]:
    """[REMOTE] [NAME]: with one argument, the name of a configured remote wins over a dataset's."""
    if second is not None:
        return first, second
    if first is not None and reg.manifest.remote(first) is not None:
        return first, None
    return None, first


def _moved(dataset: str, kind: str, name: str, was: str | None, now: str | None, forced: bool = False) -> str:
    """`reviews@main: 1a2b3c4d5e6f..9f8e7d6c5b4a`, as git prints a ref update."""
    if now is None:
        change = f"(deleted) was {short_id(was)}"
    elif was is None:
        change = f"(new {kind}) {short_id(now)}"
    elif forced:
        change = f"{short_id(was)}...{short_id(now)} (forced)"
    else:
        change = f"{short_id(was)}..{short_id(now)}"
    return f"{dataset}@{name}: {change}"


# -- remote add | list | remove ------------------------------------------------------------
@click.group(cls=OrderedGroup)
def remote() -> None:
    """Add, list and remove remotes.

    A remote is an S3-compatible prefix (s3://bucket/prefix, with --endpoint-url for
    MinIO, R2, Ceph, ...) or a folder (file:///absolute/path). Credentials come from the
    usual AWS sources (environment, ~/.aws, AWS_PROFILE, instance roles) and are never
    stored; the registry records only the URL and the endpoint.
    """


@remote.command(name="add")
@click.argument("name")
@click.argument("url", required=False, metavar="[URL]")
@endpoint_option
@click.option("--from-dvc", "dvc_repo", metavar="REPO", type=click.Path(file_okay=False),
              help="Instead of URL: the URL and endpoint of a remote of DVC repository REPO, under its own "
                   "prefix URL/dsreg (give the DVC remote's name in place of URL; default: DVC's default remote).")
@click.option("--check", is_flag=True,
              help="Fail unless the remote can be reached now (by default one that cannot, with no "
                   "credentials or no network, is added all the same and probed at its first push).")
@json_option
@pass_state
def remote_add(state: State, name: str, url: str | None, endpoint_url: str | None, dvc_repo: str | None,
               check: bool, as_json: bool) -> None:
    """Add remote NAME at URL.

    Refs move on a remote by compare-and-swap (conditional PUT). A store that ignores
    conditional writes is still added, for reading, but refs are never pushed there. A
    remote that cannot be reached now (offline, no credentials yet) is added all the same
    and probed at its first push; --check refuses it instead.

    \b
    Examples:
      dsreg remote add origin s3://team-datasets/registry
      dsreg remote add minio s3://datasets/reg --endpoint-url http://minio.local:9000
      dsreg remote add shared file:///mnt/shared/dsreg
      dsreg remote add team --from-dvc ../project       DVC's default remote + /dsreg
    """
    from dsreg.remote import transfer
    if dvc_repo is not None:
        if endpoint_url:
            raise UsageError("--endpoint-url comes from DVC's config with --from-dvc")
        from dsreg import porcelain
        from dsreg.cli.dvc import render_remote_from_dvc
        info = porcelain.add_remote_from_dvc(state.reg, name, dvc_repo, url)
        url = info["url"]
    elif url is None:
        raise click.UsageError("Missing argument 'URL'.", click.get_current_context())
    else:
        info = transfer.add_remote(state.reg, name, url, endpoint_url, probe=True if check else None)
    cas = info["conditional_writes"]
    if as_json:
        emit_json(info)
    else:
        if dvc_repo is not None:
            render_remote_from_dvc(name, info)
        else:
            echo(f"added remote {name}: {url}" + (f" (endpoint {endpoint_url})" if endpoint_url else ""))
        echo("conditional writes: " + {
            True: "yes (refs move by compare-and-swap)",
            False: "no",
            None: f"not probed ({info.get('not_probed', 'no write access')}); probed before the first push"}[cas])
    if cas is False:
        warn(NO_CONDITIONAL_WRITES.format(url=url, name=name))


@remote.command(name="list")
@json_option
@pass_state
def remote_list(state: State, as_json: bool) -> None:
    """List the remotes, with their URLs and endpoints."""
    remotes = [{"name": r.name, "url": r.url, "endpoint_url": r.endpoint_url, "conditional_writes": r.cas_ok}
               for r in state.reg.manifest.remotes()]
    if as_json:
        emit_json(remotes)
    elif not remotes:
        echo("no remotes yet; add one with 'dsreg remote add NAME URL'")
    else:
        rows = [[r["name"], r["url"],
                 (f"endpoint {r['endpoint_url']}" if r["endpoint_url"] else "")
                 + (" (no conditional writes: read only)" if r["conditional_writes"] is False else "")]
                for r in remotes]
        echo("\n".join(table_lines(rows)))


@remote.command(name="remove")
@click.argument("name")
@json_option
@pass_state
def remote_remove(state: State, name: str, as_json: bool) -> None:
    """Forget remote NAME (the remote itself is not changed).

    The registry drops what it knew about the remote's refs and objects.
    """
    from dsreg.remote import transfer
    transfer.remove_remote(state.reg, name)
    if as_json:
        emit_json({"removed": name})
    else:
        echo(f"removed remote {name}")


# -- push / fetch / pull -------------------------------------------------------------------
@click.command()
@click.argument("remote_name", required=False, metavar="[REMOTE]")
@click.argument("spec", required=False, metavar="[NAME[@BRANCH]]")
@click.option("-f", "--force", is_flag=True,
              help="Replace remote branches and tags even where that drops commits the remote has.")
@click.option("--no-verify", is_flag=True, help="Skip the checks of the branches pushed (see 'dsreg check').")
@json_option
@pass_state
def push(state: State, remote_name: str | None, spec: str | None, force: bool, no_verify: bool,
         as_json: bool) -> None:
    """Upload what the remote lacks, then move its branches and tags.

    Without NAME, every branch and tag of every dataset is pushed; NAME pushes those of
    one dataset, NAME@BRANCH (or NAME@TAG) just one. REMOTE defaults to origin, or to the
    only remote. With a single argument, the name of a configured remote wins over a
    dataset's: write NAME@main to mean the dataset.

    A remote branch only moves forward: if it has commits you do not have, push stops and
    says so (pull first, or replace it with --force). Objects are uploaded before the refs
    that reach them, and each ref moves by compare-and-swap. A branch's new commit must
    keep the branch's checks (see 'dsreg check'); --no-verify skips them. The checks
    themselves travel too: the remote keeps each branch's, and pull and clone take them.

    \b
    Examples:
      dsreg push                        everything, to origin
      dsreg push origin reviews@main    one branch
    """
    from dsreg.remote import transfer
    reg = state.reg
    remote_name, spec = _remote_and_target(reg, remote_name, spec)
    if spec is not None and remote_name is None and "@" not in spec and not reg.manifest.has_dataset(spec):
        raise UsageError(f"{spec!r} is neither a remote nor a dataset",
                         "run 'dsreg remote list' or 'dsreg ls'")
    from dsreg.checks.verify import push_verifier
    from dsreg.cli.checks import showing_failures
    with showing_failures():
        result = transfer.push(reg, remote_name, spec, force=force, progress=state.progress(),
                               verify=None if no_verify else push_verifier(reg))
    if as_json:
        emit_json(result.to_json())
        return
    for r in result.refs:
        forced = force and r["was"] is not None and not transfer.is_ancestor(reg, r["was"], r["commit"])
        echo(_moved(r["dataset"], r["kind"], r["name"], r["was"], r["commit"], forced))
    if not result.refs:
        echo(f"{result.remote} is up to date")
    echo(f"uploaded {plural(result.uploaded_objects, 'object')} ({format_size(result.uploaded_bytes)}), "
               f"skipped {result.skipped_objects:,}")


@click.command()
@click.argument("remote_name", required=False, metavar="[REMOTE]")
@click.argument("dataset", required=False, metavar="[NAME]")
@json_option
@pass_state
def fetch(state: State, remote_name: str | None, dataset: str | None, as_json: bool) -> None:
    """Download new commits from a remote: metadata only.

    Fetch records where the remote's branches and tags are, downloads the commits and
    snapshots they reach, and shows what moved. Local branches do not move (see pull);
    the data of a version arrives with pull, or on its first read. REMOTE defaults to
    origin, or to the only remote; NAME limits the fetch to one dataset. With a single
    argument, the name of a configured remote wins.
    """
    from dsreg.remote import transfer
    reg = state.reg
    remote_name, dataset = _remote_and_target(reg, remote_name, dataset)
    name, _ = transfer.get_remote(reg, remote_name)
    before = {(r.dataset, r.kind, r.name): r.commit for r in reg.manifest.remote_refs(name, dataset)}
    result = transfer.fetch(reg, name, dataset, progress=state.progress())
    if as_json:
        emit_json(result.to_json())
        return
    after = {(r["dataset"], r["kind"], r["name"]): r["commit"] for r in result.refs}
    moved = [_moved(*key, before.get(key), after.get(key))
             for key in sorted(before.keys() | after.keys()) if before.get(key) != after.get(key)]
    for line in moved:
        echo(line)
    if not moved and not result.commits:
        echo(f"{name} has nothing new")
    else:
        echo(f"fetched {plural(result.commits, 'commit')} from {name} "
                   f"({plural(result.downloaded_objects, 'object')}, {format_size(result.downloaded_bytes)}): "
                   f"metadata only; 'dsreg pull {name} NAME' brings the data")


PULL_STATUS = {
    "created": "created at {now} from {remote}",
    "fast-forward": "fast-forward {was}..{now}",
    "up-to-date": "already up to date at {now}",
    "ahead": "ahead of {remote} at {now}; 'dsreg push {remote} {label}' shares your commits",
    "rebased": "rebased your commits onto {remote}'s: {was}...{now}",
    "pinned": "a commit, not a branch: no local branch moves; read it as {dataset}@{full}",
}
# The first line tells what happened to the ref, the second what moved over the wire, so that
# "up to date" (the ref) and "downloaded 7 objects" (the data, first read now) never clash.


@click.command()
@click.argument("args", nargs=-1, metavar="[REMOTE] NAME[@REV]")
@click.option("--rebase", is_flag=True,
              help="If both sides have new commits, replay yours on top of the remote's.")
@json_option
@pass_state
@click.pass_context
def pull(ctx: click.Context, state: State, args: tuple[str, ...], rebase: bool, as_json: bool) -> None:
    """Bring a version and its data, and update the local branch.

    Fetch, download the data of NAME@REV, and fast-forward the local branch (or create
    it, or the tag). REV is a branch or tag of the remote (default: main). It may also be
    a commit id, or a unique prefix of one (6+ hex characters), that the remote's branches
    or tags reach, or any REV followed by ~N: then that version's data arrives and no
    local branch moves. REMOTE defaults to origin, or to the only remote. If both sides
    have new commits, pull stops and changes nothing; --rebase replays your commits on top
    of the remote's (both sides changing the same split is a conflict, and nothing moves).

    The status is one of created, fast-forward, up-to-date, ahead (you have commits the
    remote has not: push them), rebased, or pinned (a commit id or REV~N: data only).

    \b
    Examples:
      dsreg pull origin reviews                 main, fast-forwarded
      dsreg pull origin reviews@7704c1e9        one pinned version's data
    """
    from dsreg.model.revisions import split_spec
    from dsreg.remote import transfer
    if not args:
        raise click.UsageError("Missing argument 'NAME[@REV]'.", ctx)
    if len(args) > 2:
        raise click.UsageError(f"Got unexpected extra argument ({args[2]})", ctx)
    reg = state.reg
    remote_name, spec = args if len(args) == 2 else (None, args[0])
    dataset, rev, _ = split_spec(spec)
    if len(args) == 1 and "@" not in spec and reg.manifest.remote(spec) is not None \
            and not reg.manifest.has_dataset(spec):
        raise UsageError(f"pull needs the dataset to pull, after the remote: dsreg pull {spec} NAME[@REV]")
    was = reg.manifest.ref(dataset, "branch", rev) or reg.manifest.ref(dataset, "tag", rev)
    result = transfer.pull(reg, remote_name, spec, rebase=rebase, progress=state.progress())
    doc = result.to_json()
    if as_json:
        emit_json(doc)
        return
    label = f"{result.dataset}@{result.ref or short_id(result.commit)}"
    echo(f"{label}: " + PULL_STATUS[result.status].format(
        was=short_id(was), now=short_id(result.commit), remote=doc["remote"], label=label,
        dataset=result.dataset, full=result.commit))
    echo(pull_data_line(doc["downloaded_objects"], doc["downloaded_bytes"]))


def pull_data_line(objects: int, nbytes: int) -> str:
    if not objects:
        return "data: every object was here already; downloaded nothing"
    return f"data: downloaded {plural(objects, 'object')} ({format_size(nbytes)})"


# -- clone -----------------------------------------------------------------------------------
def _folder_for(url: str) -> str:
    """The last path component of URL, as git clone names its folder."""
    name = url.rstrip("/").rpartition("/")[2]
    if not name or name.endswith(":") or name in (".", ".."):
        raise UsageError(f"cannot tell a folder name from {url!r}", "name one: dsreg clone URL DIR")
    return name


@click.command()
@click.argument("url")
@click.argument("directory", required=False, metavar="[DIR]", type=click.Path(file_okay=False))
@endpoint_option
@json_option
@pass_state
def clone(state: State, url: str, directory: str | None, endpoint_url: str | None, as_json: bool) -> None:
    """Create a registry from a remote, with origin set.

    The registry goes in DIR, with origin set to URL. Every branch and tag is created,
    with the metadata of the commits it reaches; the data arrives on demand (the first
    read of a shard fetches it) or with pull. DIR defaults to the last part of URL, as
    with git clone (--registry and DSREG_DIR are not used), and must be new or empty. If
    the clone fails, nothing is left behind.

    \b
    Examples:
      dsreg clone s3://team-datasets/registry           into ./registry
      dsreg clone s3://datasets/reg work --endpoint-url http://minio.local:9000
    """
    from dsreg.registry import DIRNAME, Registry
    reg, fetched = Registry.clone(url, directory or _folder_for(url), endpoint_url, progress=state.progress())
    try:
        origin = reg.manifest.remote("origin")
        assert origin is not None       # a clone's origin is set before it returns
        root, cas = reg.root, origin.cas_ok
    finally:
        reg.close()
    if as_json:
        emit_json({"root": str(root), "registry": str(root / DIRNAME), "url": url, **fetched.to_json()})
    else:
        echo(f"cloned {url} into {root}")
        for r in sorted(fetched.refs, key=lambda r: (r["dataset"], r["kind"], r["name"])):
            echo(_moved(r["dataset"], r["kind"], r["name"], None, r["commit"]))
        echo(f"fetched {plural(fetched.commits, 'commit')} ({plural(fetched.downloaded_objects, 'object')}, "
                   f"{format_size(fetched.downloaded_bytes)}); the data arrives on first read, or with pull")
    if cas is not None and not cas:
        warn(NO_CONDITIONAL_WRITES.format(url=url, name="origin"))


COMMANDS = (remote, push, fetch, pull, clone)
