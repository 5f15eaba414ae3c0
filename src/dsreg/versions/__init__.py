"""L2, making versions: commit, refs, rebase."""
