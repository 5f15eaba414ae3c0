"""A fault-injecting HTTP proxy on loopback, in front of the S3 server, for tests.

At a set rate (from a seeded random generator, so runs repeat) a request gets one of:

    500         an InternalError reply, before the request reaches S3
    503         a SlowDown reply, before the request reaches S3
    reset       the connection is reset before the request reaches S3
    reset-after the request reaches S3 (and takes effect), then the connection is reset
    stall       nothing is sent back for `stall` seconds (longer than the client's read
                timeout), then the connection is closed
    truncate    a GET of an object gets its headers and half its body, then a reset
    corrupt     a GET of an object gets its body with one bit flipped (same length)
    409         (by `rule` only) ConditionalRequestConflict, before the request reaches S3

`down` makes every request fail with a reset (an outage); `deny_writes` answers every
PUT, POST and DELETE with 403 AccessDenied, as S3 does for read-only credentials; `log`
records every request with what happened to it.
"""
from __future__ import annotations

import http.client
import random
import socket
import struct
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse

KINDS = ("500", "503", "reset", "reset-after", "stall", "truncate", "corrupt")
BODY_KINDS = ("truncate", "corrupt")        # only for GETs of objects, which are verified

_XML = ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{msg}</Message>'
        '<RequestId>faultproxy</RequestId></Error>')


class FaultProxy:
    def __init__(self, target: str, rate: float = 0.0, seed: int = 0, kinds: tuple[str, ...] = KINDS,
                 stall: float = 1.5):
        parsed = urlparse(target)
        self.host, self.port = parsed.hostname, parsed.port
        self.rate, self.kinds, self.stall = rate, tuple(kinds), stall
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.injected: Counter = Counter()
        self.log: list[tuple[str, str, str]] = []        # (method, path, "ok <status>" or fault)
        self.down = False
        self.deny_writes = False
        self.rule = None        # (method, path) -> a fault kind for this request, or None
        self.trip_after: tuple[str, int] | None = None     # ("PUT"|"GET", n): go down after n object requests
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def handle_one_request(self):
                try:
                    super().handle_one_request()
                except (ConnectionError, OSError):
                    self.close_connection = True

            def _forward(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                if proxy.deny_writes and self.command in ("PUT", "POST", "DELETE"):
                    return self._reply(403, _XML.format(code="AccessDenied", msg="Access Denied").encode(),
                                       [("Content-Type", "application/xml")], "denied")
                fault = proxy._choose(self.command, self.path)
                if fault in ("500", "503"):
                    code, msg = ("InternalError", "We encountered an internal error. Please try again.") \
                        if fault == "500" else ("SlowDown", "Please reduce your request rate.")
                    return self._reply(int(fault), _XML.format(code=code, msg=msg).encode(),
                                       [("Content-Type", "application/xml")], fault)
                if fault == "409":      # only by a rule: another conditional write of the key in progress
                    return self._reply(409, _XML.format(code="ConditionalRequestConflict",
                                                        msg="A conflicting operation occurred.").encode(),
                                       [("Content-Type", "application/xml")], fault)
                if fault == "reset":
                    return self._reset(fault)
                if fault == "stall":
                    time.sleep(proxy.stall)
                    return self._reset(fault)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                headers["Host"] = f"{proxy.host}:{proxy.port}"
                conn = http.client.HTTPConnection(proxy.host, proxy.port, timeout=60)
                try:
                    conn.request(self.command, self.path, body=body, headers=headers)
                    resp = conn.getresponse()
                    data = resp.read()
                finally:
                    conn.close()
                if fault == "reset-after":
                    return self._reset(fault)
                if fault in BODY_KINDS and (resp.status != 200 or not data):
                    with proxy.lock:        # nothing to damage: forward as it is
                        proxy.injected[fault] -= 1
                    fault = None
                kept = [(k, v) for k, v in resp.getheaders()
                        if k.lower() not in ("transfer-encoding", "content-length", "connection")]
                if fault == "truncate":
                    self.send_response(resp.status)
                    for k, v in kept:
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data[: len(data) // 2])
                    self.wfile.flush()
                    return self._reset(fault)
                if fault == "corrupt":
                    data = bytearray(data)
                    data[len(data) // 2] ^= 0x10
                    data = bytes(data)
                self._reply(resp.status, data, kept, fault or f"ok {resp.status}")

            def _reply(self, status, data, headers, what):
                self.send_response(status)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                proxy._log(self.command, self.path, what)

            def _reset(self, what):
                proxy._log(self.command, self.path, what)
                self.close_connection = True
                try:
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.connection.close()
                except OSError:
                    pass

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass            # a reset connection is the point, not a problem

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _choose(self, method: str, path: str) -> str | None:
        with self.lock:
            if self.down:
                self.injected["outage"] += 1
                return "reset"
            if self.rule is not None:
                kind = self.rule(method, path)
                if kind is not None:
                    self.injected[kind] += 1
                    return kind
            if self.rate <= 0 or self.rng.random() >= self.rate:
                return None
            body_ok = method == "GET" and "/objects/" in path
            kinds = [k for k in self.kinds if body_ok or k not in BODY_KINDS]
            if not kinds:
                return None
            kind = self.rng.choice(kinds)
            self.injected[kind] += 1
            return kind

    def _log(self, method: str, path: str, what: str) -> None:
        with self.lock:
            self.log.append((method, path, what))
            if self.trip_after and method == self.trip_after[0] and "/objects/" in path and what == "ok 200":
                done = sum(1 for m, p, w in self.log if m == method and "/objects/" in p and w == "ok 200")
                if done >= self.trip_after[1]:
                    self.down = True

    def object_puts(self) -> list[str]:
        """Paths of object PUTs that reached S3 and whose success reached the client."""
        return [p for m, p, w in self.log if m == "PUT" and "/objects/" in p and w == "ok 200"]

    def object_gets(self) -> list[str]:
        return [p for m, p, w in self.log if m == "GET" and "/objects/" in p]

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
