"""`remote add NAME --from-dvc REPO [DVC_REMOTE]`: a DVC remote's place as a dsreg remote.

The URL and endpoint come from DVC's own config (`.dvc/config` and `config.local`, as
DVC merges them); dsreg's objects go under their own prefix beside DVC's (URL + "/dsreg"),
so neither tool ever sees the other's files. Credentials in DVC's config are never
copied: dsreg reads them from the usual AWS sources, so a DVC `profile` is reported for
AWS_PROFILE.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from dsreg.errors import DsregError, UsageError
from dsreg.integrations.dvc.repo import open_repo, quiet

if TYPE_CHECKING:
    from dsreg.registry import Registry

PREFIX = "dsreg"


def remote_from_dvc(reg: Registry, name: str, repo_path: str | os.PathLike, dvc_remote: str | None = None) -> dict:
    from dsreg.remote.transfer import add_remote
    with open_repo(repo_path) as repo, quiet():
        config = repo.config
        remotes = dict(config.get("remote") or {})
        chosen = dvc_remote or config.get("core", {}).get("remote") or (next(iter(remotes)) if len(remotes) == 1 else None)
        if not remotes:
            raise DsregError(f"the DVC repository {repo.root_dir} has no remote", "add one with 'dvc remote add'")
        if chosen is None:
            raise DsregError(f"the DVC repository {repo.root_dir} has several remotes and no default",
                             f"name one: {', '.join(sorted(remotes))}")
        if chosen not in remotes:
            raise DsregError(f"the DVC repository {repo.root_dir} has no remote {chosen!r}",
                             f"its remotes: {', '.join(sorted(remotes))}")
        conf = remotes[chosen]
    if reg.manifest.remote(name) is not None:      # before a folder is made for it
        raise UsageError(f"remote {name!r} already exists", "remove it first with 'dsreg remote remove'")
    url, endpoint = dsreg_url(chosen, conf["url"]), conf.get("endpointurl")
    info = add_remote(reg, name, url, endpoint)
    return {**info, "dvc_remote": chosen, "dvc_url": conf["url"], "profile": conf.get("profile")}


def dsreg_url(remote: str, url: str) -> str:
    """dsreg's prefix inside the DVC remote at `url` (s3:// or a folder)."""
    scheme, sep, rest = url.partition("://")
    if sep and scheme == "s3":
        return f"s3://{rest.rstrip('/')}/{PREFIX}"
    if sep and scheme != "file":
        raise DsregError(f"DVC remote {remote!r} is a {scheme}:// remote; dsreg remotes are S3-compatible "
                         "(s3://) or folders")
    folder = Path(rest if sep else url)
    if not folder.is_absolute():
        raise DsregError(f"DVC remote {remote!r} is the relative path {url!r}, which DVC did not resolve")
    folder = folder / PREFIX
    folder.mkdir(parents=True, exist_ok=True)       # a folder remote must exist before it is added
    return f"file://{folder}"
