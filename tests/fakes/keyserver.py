"""A keyserver speaking the VKS (keys.openpgp.org API v1) and HKP (op=get, options=mr)
interfaces over HTTPS, for the discovery and refresh tests.

Debian packages no keyserver (neither Hagrid nor Hockeypuck nor SKS), so this small server
serves the documented HTTP interfaces instead: ``GET /vks/v1/by-email/ADDR``,
``/vks/v1/by-fingerprint/FPR`` and ``/pks/lookup?op=get&options=mr&search=...``. A test says
exactly which bytes each request gets (``serve``), including what a real server would not
send: oversize bodies, keys with foreign user IDs or none at all, 5xx, redirects, slow
answers (``canned``). It runs in a thread of the test process with certificates from the
stack's CA (per SNI name), on an address of the stack's block; ``requests`` records every
(host, path with query, monotonic time).
"""

from __future__ import annotations

import contextlib
import socketserver
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Answer:
    """What one request gets: status, body, headers, and a delay before the answer."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        del format, args

    def do_GET(self) -> None:
        owner = self.server.owner
        host = (self.headers.get("Host") or "").split(":")[0].lower()
        with owner.lock:
            owner.requests.append((host, self.path, time.monotonic()))
            answer = owner.answers.get((host, self.path)) or owner.answers.get(("*", self.path))
        answer = answer or Answer(404, b"not found\n", {"Content-Type": "text/plain"})
        if answer.delay:
            time.sleep(answer.delay)
        self.send_response(answer.status)
        headers = {"Content-Length": str(len(answer.body)), **answer.headers}
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        with contextlib.suppress(OSError):
            self.wfile.write(answer.body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    owner: FakeKeyserver

    def server_bind(self) -> None:
        socketserver.TCPServer.server_bind(self)  # no getfqdn(): that would query off loopback
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def finish_request(self, request: Any, client_address: Any) -> None:
        request.settimeout(10)
        try:
            tls = self.owner.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        try:
            super().finish_request(tls, client_address)
        finally:
            tls.close()


class FakeKeyserver:
    """The keyserver on ``ip:443`` for host names ``hosts`` (a certificate from ``pki``)."""

    def __init__(self, pki: Any, ip: str, hosts: list[str]) -> None:
        self.ip = ip
        self.hosts = hosts
        self.lock = threading.Lock()
        self.requests: list[tuple[str, str, float]] = []
        self.answers: dict[tuple[str, str], Answer] = {}
        cert, key = pki.issue(hosts)
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert, key)
        self._server = _Server((ip, 443), _Handler)
        self._server.owner = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def serve(self, host: str, path: str, body: bytes, **kw: Any) -> None:
        """Answer ``GET https://host/path`` (path with its query) with ``body`` (200)."""
        kw.setdefault("headers", {"Content-Type": "application/pgp-keys"})
        self.canned(host, path, Answer(200, body, **kw))

    def canned(self, host: str, path: str, answer: Answer) -> None:
        """Answer ``GET https://host/path`` with ``answer`` (``host`` "*": any host)."""
        with self.lock:
            self.answers[(host.lower(), path)] = answer

    def clear(self) -> None:
        """Forget every answer and request."""
        with self.lock:
            self.answers.clear()
            self.requests.clear()

    def asked(self, since: int = 0) -> list[str]:
        """The paths requested since request number ``since``."""
        with self.lock:
            return [p for _, p, _ in self.requests[since:]]

    def close(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
