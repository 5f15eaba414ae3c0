"""What the tests share: tables, S3 servers, CLI runners, proxies, crash and fault drivers."""
