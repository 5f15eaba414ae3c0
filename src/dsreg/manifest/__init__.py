"""L0, the index: one SQLite database of datasets, commits, snapshots, shards, refs and remotes."""
from dsreg.manifest.database import Manifest

__all__ = ["Manifest"]
