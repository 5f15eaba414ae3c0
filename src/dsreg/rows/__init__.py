"""L1, rows <-> shards and runs: arrow types, fingerprints, equality, shards, snapshots, compaction, ingest, export, the input cache."""
