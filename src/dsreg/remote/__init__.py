"""L3, sharing: folder and S3 remotes, push, fetch, pull, clone, reads straight from a remote."""
