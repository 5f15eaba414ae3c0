"""Planning and streaming reads of one split of a pinned version: `Dataset`, read units,
filter pushdown, prefetching streams, and the project lock file."""
