"""Objects (and ref files) under an S3-compatible prefix, through boto3.

Objects go to `<prefix>/objects/ab/cdef...`, written once with `If-None-Match: *` where the
store honours it (never overwritten), verified on every read. Credentials, region and
profile come from the usual AWS sources (environment, ~/.aws, instance roles); nothing
secret is ever stored by dsreg.
"""
from __future__ import annotations

import datetime as dt
import os
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlparse

from dsreg.errors import (
    AccessDenied,
    ChecksumMismatch,
    ConditionalConflict,
    PreconditionFailed,
    RemoteError,
    RemoteUnreachable,
    TransferInterrupted,
    UsageError,
)
from dsreg.faults import crashpoint
from dsreg.ids import ObjectId, is_object_id
from dsreg.store.base import ObjectStore, check_object_id, verified

PARALLEL = 16
# Objects this large or larger go up in parts (DSREG_S3_MULTIPART_THRESHOLD, in bytes), each
# part DSREG_S3_PART_SIZE bytes (S3 wants 5 MiB or more for every part but the last).
MULTIPART_THRESHOLD = 64 << 20
PART_SIZE = 16 << 20
# Requests are retried by botocore (standard mode: 500/503/SlowDown, resets, timeouts).
# A body that breaks off or arrives damaged is caught after the request succeeded, and
# botocore stops retrying at all once its retry quota (shared by every thread of a
# transfer) runs dry on a bad link, so object reads and writes, which are idempotent, are
# tried again here, a few times, before giving up; bad bytes are never kept.
TRANSFER_ATTEMPTS = 5


def again(fn, *retry_on: type[BaseException]):
    """fn(), tried up to TRANSFER_ATTEMPTS times while it raises one of `retry_on`."""
    for attempt in range(TRANSFER_ATTEMPTS):
        try:
            return fn()
        except retry_on:
            if attempt == TRANSFER_ATTEMPTS - 1:
                raise
            time.sleep(min(0.05 * 2 ** attempt, 1.0))
    raise AssertionError("unreachable")
# Until an endpoint has answered once in this process, failing to connect to it (refused,
# unknown host, TLS failure, closed before any reply) is a wrong URL or a host that is
# down, not a blip: give up after this many attempts, as git does, instead of backing off
# for most of a minute; a connect timeout has waited long enough already and is not
# repeated. Once the endpoint has answered, an outage gets the full retries.
FIRST_CONTACT_ATTEMPTS = 2
_answered: set[str | None] = set()      # endpoints (None: AWS S3) that sent this process a reply


def _env_number(name: str, default: float, what: str = "a number of seconds") -> float:
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        raise UsageError(f"{name} must be {what}") from None


def multipart_threshold() -> int:
    return int(_env_number("DSREG_S3_MULTIPART_THRESHOLD", MULTIPART_THRESHOLD, "a number of bytes"))


def part_size() -> int:
    n = int(_env_number("DSREG_S3_PART_SIZE", PART_SIZE, "a number of bytes"))
    if n < 1:
        raise UsageError("DSREG_S3_PART_SIZE must be a number of bytes (1 or more)")
    return n


def _max_attempts() -> int:
    n = _env_number("DSREG_S3_MAX_ATTEMPTS", 8, "a whole number of attempts (1 or more)")
    if n < 1 or n != int(n):
        raise UsageError("DSREG_S3_MAX_ATTEMPTS must be a whole number of attempts (1 or more)")
    return int(n)


def _first_contact_policy(endpoint_url: str | None, max_attempts: int):
    """A `needs-retry` handler, registered ahead of botocore's own, that ends the retries of
    a connection failure while `endpoint_url` has never answered (see FIRST_CONTACT_ATTEMPTS)."""
    from botocore.exceptions import ConnectionClosedError, ConnectTimeoutError
    from botocore.exceptions import ConnectionError as BotoConnectionError

    def needs_retry(response=None, caught_exception=None, attempts: int = 1, **_):
        if response is not None:
            _answered.add(endpoint_url)         # any HTTP reply, even an error, is an answer
            return None
        if endpoint_url in _answered or not isinstance(caught_exception, (BotoConnectionError,
                                                                          ConnectionClosedError)):
            return None         # botocore's standard policy decides
        limit = 1 if isinstance(caught_exception, ConnectTimeoutError) else FIRST_CONTACT_ATTEMPTS
        if attempts >= min(limit, max_attempts):
            return False        # the first answer that is not None wins over botocore's delay
        return None
    return needs_retry


def parse_s3_url(url: str) -> tuple[str, str]:
    parsed = urlparse(url)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise UsageError(f"malformed S3 URL {url!r}", "use s3://bucket/prefix")
    prefix = parsed.path.strip("/")
    if any(part in ("..", ".") for part in prefix.split("/")):
        raise UsageError(f"malformed S3 URL {url!r}: '.' and '..' are not allowed in the prefix")
    return parsed.netloc, prefix


def _check_endpoint(url: str) -> None:
    """Refuse an endpoint botocore would fail on with a bare ValueError."""
    try:
        parsed = urlparse(url)
        ok = parsed.scheme in ("http", "https") and bool(parsed.hostname)
        _ = parsed.port     # raises ValueError for a bad port
    except ValueError:
        ok = False
    if not ok:
        raise UsageError(f"invalid endpoint URL {url!r}", "use http(s)://host[:port]")


class S3Store(ObjectStore):
    prefers_ranges = True           # a column projection fetches its byte ranges, not whole shards

    def __init__(self, url: str, endpoint_url: str | None = None):
        self.url = self.where = url
        self.bucket, self.prefix = parse_s3_url(url)
        if endpoint_url is not None:
            _check_endpoint(endpoint_url)
        self.endpoint_url = endpoint_url
        self._client = None
        self._client_lock = threading.Lock()
        self._lock = threading.Lock()
        self.bytes_downloaded = 0
        self.bytes_uploaded = 0

    def _count(self, down: int = 0, up: int = 0) -> None:
        with self._lock:
            self.bytes_downloaded += down
            self.bytes_uploaded += up

    def __repr__(self) -> str:
        return f"S3Store({self.url!r})"

    # -- plumbing -------------------------------------------------------------
    @property
    def client(self):
        # One client shared by every thread: boto3 clients are thread-safe, and making
        # one costs ~0.1-0.4 s of CPU (loading the service model), which per-thread
        # clients paid once per worker of every parallel transfer.
        c = self._client
        if c is not None:
            return c
        with self._client_lock:
            if self._client is not None:
                return self._client
            import boto3
            from botocore.config import Config
            session = boto3.session.Session()
            creds = session.get_credentials()
            if creds is not None:       # whatever source they came from, never printed
                from dsreg.redact import remember
                remember(creds.access_key, creds.secret_key, creds.token)
            max_attempts = _max_attempts()
            c = session.client(
                "s3", endpoint_url=self.endpoint_url,
                config=Config(retries={"total_max_attempts": max_attempts, "mode": "standard"},
                              connect_timeout=_env_number("DSREG_S3_CONNECT_TIMEOUT", 10),
                              read_timeout=_env_number("DSREG_S3_READ_TIMEOUT", 60),
                              max_pool_connections=PARALLEL * 2,
                              s3={"addressing_style": "path"} if self.endpoint_url else None),
            )
            c.meta.events.register_first("needs-retry.s3", _first_contact_policy(self.endpoint_url, max_attempts))
            self._client = c
        return c

    def key(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name

    def object_key(self, oid: ObjectId) -> str:
        if not is_object_id(oid):
            raise UsageError(f"malformed object id {oid!r}")
        return self.key(f"objects/{oid[:2]}/{oid[2:]}")

    def _call(self, what: str, fn, *args, **kw):
        from botocore.exceptions import (
            BotoCoreError,
            ClientError,
            FlexibleChecksumError,
            IncompleteReadError,
            NoCredentialsError,
            ReadTimeoutError,
            ResponseStreamingError,
        )
        from urllib3.exceptions import HTTPError as Urllib3Error
        try:
            return fn(*args, **kw)
        except FlexibleChecksumError:
            # the store's own checksum of the body did not match: damaged on the way
            raise TransferInterrupted(f"{what} from {self._where()} arrived corrupt (its checksum does not match)",
                                      "check the endpoint URL and your network") from None
        except (IncompleteReadError, ResponseStreamingError, ReadTimeoutError, Urllib3Error) as e:
            # while streaming a body: botocore has already returned, so nothing retried it
            raise TransferInterrupted(f"{what} from {self._where()} broke off: {type(e).__name__}",
                                      "check the endpoint URL and your network") from None
        except ClientError as e:
            code = e.response.get("Error", {}).get("Code", "")
            status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code == "ConditionalRequestConflict" or status == 409:
                raise ConditionalConflict(code) from None
            if code == "PreconditionFailed" or status == 412:
                raise PreconditionFailed(code) from None
            if code in ("NoSuchKey", "404", "NotFound"):
                raise KeyError(what) from None
            if code == "NoSuchBucket":
                raise RemoteError(f"bucket {self.bucket!r} does not exist at {self._where()}",
                                  "create it or check the remote URL") from None
            if code in ("AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch", "Forbidden"):
                raise AccessDenied(f"access denied to {self.url} ({what}): {code}",
                                  "check your AWS credentials and the bucket policy") from None
            raise RemoteError(f"{self.url}: {what} failed: {code or status}") from None
        except NoCredentialsError:
            raise RemoteUnreachable(f"no AWS credentials found for {self.url}",
                              "set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE") from None
        except BotoCoreError as e:
            raise RemoteUnreachable(f"cannot reach {self._where()}: {type(e).__name__}",
                              "check the endpoint URL and your network") from None

    def _where(self) -> str:
        return self.endpoint_url or "S3"

    # -- object store interface -----------------------------------------------
    def has(self, oid: ObjectId) -> bool:
        try:
            self._call("head", self.client.head_object, Bucket=self.bucket, Key=self.object_key(oid))
            return True
        except KeyError:
            return False

    def has_many(self, oids: Iterable[ObjectId]) -> set[ObjectId]:
        oids = list(oids)
        with ThreadPoolExecutor(PARALLEL) as pool:
            found = list(pool.map(self.has, oids))
        return {o for o, f in zip(oids, found) if f}

    def get(self, oid: ObjectId) -> bytes:
        """Verified bytes; a body that broke off or arrived damaged is fetched again."""
        return again(lambda: super(S3Store, self).get(oid), ChecksumMismatch, TransferInterrupted)

    def read_raw(self, oid: ObjectId) -> bytes:
        try:
            r = self._call("get", self.client.get_object, Bucket=self.bucket, Key=self.object_key(oid))
            data = self._call("get", r["Body"].read)
        except KeyError:
            raise self.missing(oid) from None
        self._count(down=len(data))
        return data

    def read_range(self, oid: ObjectId, start: int, length: int) -> bytes:
        """Bytes [start, start+length) of an object (not verifiable on their own)."""
        if length <= 0:         # `bytes=N-(N-1)` is no range: S3 would send the whole object
            if not self.has(oid):
                raise self.missing(oid)
            return b""
        try:
            r = self._call("get", self.client.get_object, Bucket=self.bucket, Key=self.object_key(oid),
                           Range=f"bytes={start}-{start + length - 1}")
            data = self._call("get", r["Body"].read)
        except KeyError:
            raise self.missing(oid) from None
        self._count(down=len(data))
        return data

    def write_raw(self, oid: ObjectId, data: bytes) -> None:
        again(lambda: self._write_once(oid, data), TransferInterrupted)
        self._count(up=len(data))

    def _write_once(self, oid: ObjectId, data: bytes) -> None:
        key = self.object_key(oid)
        try:
            # never overwrite: an object that is already there holds the same bytes anyway
            if len(data) >= multipart_threshold():
                self._write_parts(key, data)
            else:
                self._call("put", self.client.put_object, Bucket=self.bucket, Key=key, Body=data, IfNoneMatch="*")
        except ConditionalConflict:
            # someone else is writing these same bytes; theirs may still fail: try again
            raise TransferInterrupted(f"writing object {oid} to {self._where()} met another write of it",
                                      "run the command again") from None
        except PreconditionFailed:
            pass        # 412: it is there
        crashpoint("remote.object.write")

    def _write_parts(self, key: str, data: bytes) -> None:
        """A multipart upload, completed with `If-None-Match: *` (boto3's managed upload
        cannot send it), and aborted if anything fails so no parts are left to bill.
        Checksums as boto3's managed upload sends them: CRC32 per part, named again at
        completion (AWS refuses a completion that leaves out part checksums it was sent)."""
        size = part_size()
        upload = self._call("upload", self.client.create_multipart_upload, Bucket=self.bucket, Key=key,
                            ChecksumAlgorithm="CRC32")["UploadId"]
        try:
            def part(i: int) -> dict:
                r = self._call("upload", self.client.upload_part, Bucket=self.bucket, Key=key, UploadId=upload,
                               PartNumber=i + 1, Body=data[i * size:(i + 1) * size], ChecksumAlgorithm="CRC32")
                done = {"PartNumber": i + 1, "ETag": r["ETag"]}
                if r.get("ChecksumCRC32"):
                    done["ChecksumCRC32"] = r["ChecksumCRC32"]
                return done
            with ThreadPoolExecutor(4) as pool:
                parts = list(pool.map(part, range(max(1, -(-len(data) // size)))))
            self._call("upload", self.client.complete_multipart_upload, Bucket=self.bucket, Key=key,
                       UploadId=upload, MultipartUpload={"Parts": parts}, IfNoneMatch="*")
        except BaseException:
            try:
                self._call("abort upload", self.client.abort_multipart_upload, Bucket=self.bucket, Key=key,
                           UploadId=upload)
            except (RemoteError, KeyError, PreconditionFailed):
                pass
            raise

    def restore(self, oid: ObjectId, data: bytes) -> None:
        """Overwrite a damaged object with verified good bytes (fsck --repair only): one
        unconditional PUT, since `write_raw` never replaces an object that is there."""
        verified(check_object_id(oid), data)
        self._call("put", self.client.put_object, Bucket=self.bucket, Key=self.object_key(oid), Body=data)

    def iter(self) -> Iterator[ObjectId]:
        base = self.key("objects/")
        for key, _ in self.list_keys(base):
            rest = key[len(base):].replace("/", "")
            if is_object_id(rest):
                yield ObjectId(rest)

    def delete(self, oid: ObjectId) -> None:
        self._call("delete", self.client.delete_object, Bucket=self.bucket, Key=self.object_key(oid))

    def size(self, oid: ObjectId) -> int:
        try:
            r = self._call("head", self.client.head_object, Bucket=self.bucket, Key=self.object_key(oid))
        except KeyError:
            raise self.missing(oid) from None
        return int(r["ContentLength"])

    # -- named keys (refs), with compare-and-swap -----------------------------
    def list_keys(self, prefix: str) -> Iterator[tuple[str, dt.datetime | None]]:
        paginator = self.client.get_paginator("list_objects_v2")
        pages = self._call("list", lambda: list(paginator.paginate(Bucket=self.bucket, Prefix=prefix)))
        for page in pages:
            for item in page.get("Contents", []):
                yield item["Key"], item.get("LastModified")

    def get_key(self, key: str) -> tuple[bytes, str] | None:
        def once():
            try:
                r = self._call("get ref", self.client.get_object, Bucket=self.bucket, Key=key)
                return self._call("get ref", r["Body"].read), r["ETag"]
            except KeyError:
                return None
        return again(once, TransferInterrupted)

    def put_key_if(self, key: str, data: bytes, etag: str | None) -> str:
        """Write `key` only if its ETag is still `etag` (None: only if it does not exist)."""
        kw = {"IfMatch": etag} if etag else {"IfNoneMatch": "*"}
        try:
            r = self._call("update ref", self.client.put_object, Bucket=self.bucket, Key=key, Body=data, **kw)
        except KeyError:
            raise PreconditionFailed("missing") from None
        return r["ETag"]

    def put_key(self, key: str, data: bytes, what: str = "write") -> None:
        """Write `key` whatever it holds (`what` names the request in errors)."""
        self._call(what, self.client.put_object, Bucket=self.bucket, Key=key, Body=data)

    def delete_key(self, key: str, what: str = "delete") -> None:
        """Delete `key`; deleting a key that is not there is not an error."""
        try:
            self._call(what, self.client.delete_object, Bucket=self.bucket, Key=key)
        except KeyError:
            pass

    def delete_key_if(self, key: str, etag: str) -> None:
        try:
            self._call("delete ref", self.client.delete_object, Bucket=self.bucket, Key=key, IfMatch=etag)
        except KeyError:
            raise PreconditionFailed("missing") from None
