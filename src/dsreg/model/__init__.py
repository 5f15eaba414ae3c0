"""L1, versions as objects: serialization of commits and snapshots, history walks, revisions."""
