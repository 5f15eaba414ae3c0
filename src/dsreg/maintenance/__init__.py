"""L4, keeping a registry and its remotes sound: fsck, gc, repair, rebuild."""
