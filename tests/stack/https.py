"""An HTTPS server (WKD, MTA-STS) on one IP:443, in a thread of the test process.

Each virtual host has its own docroot (``docroot(host)``) and certificate, chosen by SNI and
issued by the test CA on first use; ``set_cert`` installs a different one (expired, self-signed,
wrong name). ``respond`` overrides one path with a canned answer (status, headers, body), for
redirects, 5xx and hostile answers. ``requests`` records what was asked, ``delay`` adds latency.
"""

from __future__ import annotations

import io
import socketserver
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .pki import Pki
from .procs import StackError, tcp_open, wait_until


@dataclass(frozen=True)
class Canned:
    """A fixed answer for one host and path."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def _host_of(header: str | None) -> str:
    host = (header or "").strip().lower()
    if host.startswith("["):
        return host
    return host.rsplit(":", 1)[0] if ":" in host else host


class _Handler(SimpleHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        self.server.owner.log_line(format % args)

    def _route(self) -> tuple[str, str]:
        host = _host_of(self.headers.get("Host"))
        path = urlsplit(self.path).path
        self.server.owner.requests.append((host, path))
        return host, path

    def send_head(self) -> Any:
        owner = self.server.owner
        host, path = self._route()
        if owner.delay:
            time.sleep(owner.delay)
        canned = owner.canned.get((host, path))
        if canned is not None:
            return self._send_canned(canned)
        if not owner.has_host(host):
            self.send_error(404, f"unknown host {host!r}")
            return None
        self.directory = str(owner.docroot(host))
        return super().send_head()

    def _send_canned(self, canned: Canned) -> None:
        self.send_response(canned.status)
        headers = {"Content-Length": str(len(canned.body)), **canned.headers}
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(canned.body)

    def list_directory(self, path: Any) -> io.BytesIO | None:
        self.send_error(404, "no directory listings")
        return None


class _Server(ThreadingHTTPServer):
    request_queue_size = 64  # 20 concurrent WKD/MTA-STS clients must not hit a full backlog
    daemon_threads = True
    owner: Https

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls socket.getfqdn(), a PTR query off loopback: skip it.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def finish_request(self, request: Any, client_address: Any) -> None:
        # TLS handshake in the request thread, so one stuck client cannot block accept().
        request.settimeout(10)
        try:
            tls = self.owner.default_context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        try:
            super().finish_request(tls, client_address)
        finally:
            tls.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # socketserver prints a traceback on sys.stderr, which a test's in-process CliRunner
        # captures as the command's output (a client closing mid-answer: SSLEOFError). The
        # access log keeps it instead.
        import traceback

        self.owner.log_line(f"error serving {client_address}: {traceback.format_exc(limit=2)}")


class Https:
    """The HTTPS server: ``docroot(host)`` gives a host's directory (created on demand)."""

    def __init__(self, directory: Path, pki: Pki, ip: str, hosts: list[str]) -> None:
        self.dir = directory
        self.pki = pki
        self.ip = ip
        self.port = 443
        self.dir.mkdir(parents=True, exist_ok=True)
        self.log = directory / "access.log"
        self.requests: list[tuple[str, str]] = []
        self.canned: dict[tuple[str, str], Canned] = {}
        self.delay = 0.0
        self._contexts: dict[str, ssl.SSLContext] = {}
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.default_cert = pki.issue(hosts)
        self.default_context = self._context(self.default_cert)
        self.default_context.sni_callback = self._sni
        for host in hosts:
            self.docroot(host)

    @staticmethod
    def _context(cert: tuple[Path, Path]) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(*cert)
        return context

    def _sni(self, sock: ssl.SSLObject | ssl.SSLSocket, name: str | None, _: Any) -> None:
        if not name:
            return
        with self._lock:
            context = self._contexts.get(name.lower())
            if context is None and (self.dir / name.lower()).is_dir():
                context = self._contexts[name.lower()] = self._context(self.pki.issue([name]))
        if context is not None:
            sock.context = context

    def log_line(self, line: str) -> None:
        """Append one line to the access log."""
        with self._lock, self.log.open("a") as out:
            out.write(line + "\n")

    def has_host(self, host: str) -> bool:
        """True if ``host`` has a docroot."""
        return (self.dir / host).is_dir() if host and "/" not in host else False

    def docroot(self, host: str) -> Path:
        """The document root of virtual host ``host`` (created if needed)."""
        host = host.lower().rstrip(".")
        if not host or "/" in host or host.startswith("."):
            raise ValueError(f"bad host name {host!r}")
        root = self.dir / host
        root.mkdir(exist_ok=True)
        return root

    def set_cert(self, host: str, cert: tuple[Path, Path]) -> None:
        """Serve ``cert`` (a ``(cert_path, key_path)`` pair) to clients asking for ``host``."""
        self.docroot(host)
        with self._lock:
            self._contexts[host.lower()] = self._context(cert)

    def respond(
        self,
        host: str,
        path: str,
        status: int,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer ``GET https://host/path`` with a fixed response instead of a file."""
        self.docroot(host)
        self.canned[(host.lower(), path)] = Canned(status, body, dict(headers or {}))

    def url(self, host: str, path: str = "/") -> str:
        """``https://host/path`` (resolve ``host`` through the stack's resolver)."""
        return f"https://{host}{path}"

    def start(self) -> None:
        """Serve in a daemon thread; return once the port accepts connections."""
        try:
            server = _Server((self.ip, self.port), _Handler, bind_and_activate=True)
        except OSError as exc:
            raise StackError(f"https: cannot listen on {self.ip}:{self.port}: {exc}") from exc
        server.owner = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            daemon=True,
            name=f"https-{self.ip}",
        )
        self._thread.start()
        wait_until(lambda: tcp_open(self.ip, self.port), 5, "the HTTPS server")

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
