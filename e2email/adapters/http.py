"""HTTPS GET for WKD and MTA-STS: verified TLS, our resolver, no redirects, hard caps.

Deliberately small: one request, one connection, to a host name resolved through the
project's resolver (``network.nameservers``) with SNI and certificate verification for that
name. Redirects are never followed (a 3xx is an answer the caller judges), the body is read
up to ``max_bytes`` and a larger body is an error, and the whole exchange has a deadline.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import time
from dataclasses import dataclass

from e2email.adapters import tls
from e2email.adapters.dns import Resolver
from e2email.errors import TemporaryFailure, TLSError


class HttpError(TemporaryFailure):
    """The HTTPS exchange failed (connect, TLS, protocol, time); ``kind`` says which."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


class TooLarge(HttpError):
    """The body exceeded the caller's cap."""


@dataclass(frozen=True)
class Response:
    """Status, lower-cased headers and the (capped) body."""

    status: int
    headers: dict[str, str]
    body: bytes

    def header(self, name: str) -> str | None:
        """A header value, case-insensitively."""
        return self.headers.get(name.lower())


class _Connection(http.client.HTTPSConnection):
    """Connects to an address we resolved, while TLS verifies the host name."""

    def __init__(
        self, host: str, addr: str, port: int, context: ssl.SSLContext, timeout: float
    ) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self._addr = addr

    def connect(self) -> None:
        sock = socket.create_connection((self._addr, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


def get(
    resolver: Resolver,
    context: ssl.SSLContext,
    host: str,
    path: str,
    *,
    max_bytes: int,
    timeout: float = 10.0,
    port: int = 443,
) -> Response:
    """GET ``https://host/path``; raise HttpError (kind: dns, connect, tls, http, timeout, size)."""
    deadline = time.monotonic() + timeout
    try:
        addresses = resolver.addresses(host, port)
    except TemporaryFailure as e:
        raise HttpError(f"https://{host}: {e}", "dns") from None
    last: HttpError | None = None
    for addr, p in addresses:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        try:
            return _fetch(host, addr, p, context, path, max_bytes, remaining, deadline)
        except HttpError as e:
            if e.kind != "connect":
                raise
            last = e
    raise last or HttpError(f"https://{host}{path}: timed out", "timeout")


def _fetch(  # noqa: PLR0913, PLR0917
    host: str,
    addr: str,
    port: int,
    context: ssl.SSLContext,
    path: str,
    max_bytes: int,
    timeout: float,
    deadline: float,
) -> Response:
    url = f"https://{host}{path}"
    conn = _Connection(host, addr, port, context, timeout)
    try:
        try:
            conn.connect()
        except (ssl.SSLError, ssl.CertificateError) as e:
            err: TLSError = tls.explain(e, host)
            raise HttpError(f"{url}: {err}", "tls") from None
        except TimeoutError:
            raise HttpError(f"{url}: connection timed out", "timeout") from None
        except OSError as e:
            raise HttpError(f"{url}: cannot connect: {e.strerror or e}", "connect") from None
        conn.request("GET", path, headers={"Host": host, "User-Agent": "e2email", "Accept": "*/*"})
        resp = conn.getresponse()
        body = _read_capped(resp, max_bytes, url, deadline)
        headers = {k.lower(): v for k, v in resp.getheaders()}
        return Response(resp.status, headers, body)
    except TimeoutError:
        raise HttpError(f"{url}: timed out", "timeout") from None
    except (http.client.HTTPException, OSError) as e:
        raise HttpError(f"{url}: {type(e).__name__}: {e}", "http") from None
    finally:
        conn.close()


def _read_capped(
    resp: http.client.HTTPResponse, max_bytes: int, url: str, deadline: float
) -> bytes:
    length = resp.getheader("Content-Length")
    if length and length.isdigit() and int(length) > max_bytes:
        raise TooLarge(f"{url}: body of {length} bytes exceeds {max_bytes}", "size")
    chunks: list[bytes] = []
    total = 0
    while True:
        if time.monotonic() > deadline:
            raise HttpError(f"{url}: timed out reading the body", "timeout")
        chunk = resp.read(min(65536, max_bytes + 1 - total))
        if not chunk:
            return b"".join(chunks)
        total += len(chunk)
        if total > max_bytes:
            raise TooLarge(f"{url}: body exceeds {max_bytes} bytes", "size")
        chunks.append(chunk)
