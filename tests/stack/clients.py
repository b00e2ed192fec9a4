"""Stdlib clients that reach a stack server by IP but verify TLS for its host name.

The stack's names exist only in its own DNS, so clients connect to ``Endpoint.ip`` and pass
``Endpoint.host`` as ``server_hostname``. Every TLS context here verifies against ``ca_pem``.
"""

from __future__ import annotations

import http.client
import imaplib
import smtplib
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

CLIENT_NAME = "client.example.test"  # smtplib's local_hostname: never let it call getfqdn()


@dataclass(frozen=True)
class Endpoint:
    """A server address: connect to ``ip:port``, verify TLS against ``host``."""

    host: str
    ip: str
    port: int

    @property
    def address(self) -> tuple[str, int]:
        """``(ip, port)`` for socket APIs."""
        return (self.ip, self.port)


def tls_context(ca_pem: Path) -> ssl.SSLContext:
    """A verifying client context trusting only the test CA."""
    context = ssl.create_default_context(cafile=str(ca_pem))
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


class SMTP(smtplib.SMTP):
    """``smtplib.SMTP`` to ``endpoint.ip``; STARTTLS verifies ``endpoint.host``."""

    def __init__(self, endpoint: Endpoint, *, timeout: float = 10, **kwargs: Any) -> None:
        self._ip = endpoint.ip
        kwargs.setdefault("local_hostname", CLIENT_NAME)
        super().__init__(endpoint.host, endpoint.port, timeout=timeout, **kwargs)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        return socket.create_connection((self._ip, port), timeout)


class SMTP_SSL(smtplib.SMTP_SSL):
    """``smtplib.SMTP_SSL`` (implicit TLS) to ``endpoint.ip``, verifying ``endpoint.host``."""

    def __init__(
        self, endpoint: Endpoint, context: ssl.SSLContext, *, timeout: float = 10, **kwargs: Any
    ) -> None:
        self._ip = endpoint.ip
        self._name = endpoint.host
        kwargs.setdefault("local_hostname", CLIENT_NAME)
        super().__init__(endpoint.host, endpoint.port, timeout=timeout, context=context, **kwargs)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        sock = socket.create_connection((self._ip, port), timeout)
        return self.context.wrap_socket(sock, server_hostname=self._name)


class IMAP4(imaplib.IMAP4):
    """``imaplib.IMAP4`` to ``endpoint.ip``; ``starttls(context)`` verifies ``endpoint.host``."""

    def __init__(self, endpoint: Endpoint, *, timeout: float = 10) -> None:
        self._ip = endpoint.ip
        super().__init__(endpoint.host, endpoint.port, timeout=timeout)

    def _create_socket(self, timeout: float | None) -> socket.socket:
        return socket.create_connection((self._ip, self.port), timeout)


class IMAP4_SSL(imaplib.IMAP4_SSL):
    """``imaplib.IMAP4_SSL`` to ``endpoint.ip``, verifying ``endpoint.host``."""

    def __init__(self, endpoint: Endpoint, context: ssl.SSLContext, *, timeout: float = 10) -> None:
        self._ip = endpoint.ip
        super().__init__(endpoint.host, endpoint.port, ssl_context=context, timeout=timeout)

    def _create_socket(self, timeout: float | None) -> socket.socket:
        sock = socket.create_connection((self._ip, self.port), timeout)
        context = cast(ssl.SSLContext, self.ssl_context)
        return context.wrap_socket(sock, server_hostname=self.host)


class HTTPSConnection(http.client.HTTPSConnection):
    """``http.client.HTTPSConnection`` to ``ip``, verifying (and sending Host:) ``host``."""

    def __init__(
        self, host: str, ip: str, context: ssl.SSLContext, *, port: int = 443, timeout: float = 10
    ) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self._ip = ip
        self._tls = context

    def connect(self) -> None:
        """Connect to the pinned IP, handshake for ``self.host``."""
        sock = socket.create_connection((self._ip, self.port), self.timeout)
        self.sock = self._tls.wrap_socket(sock, server_hostname=self.host)


def https_get(
    host: str, ip: str, path: str, ca_pem: Path, *, port: int = 443
) -> tuple[int, dict[str, str], bytes]:
    """GET ``https://host/path`` from ``ip``; return (status, headers, body)."""
    conn = HTTPSConnection(host, ip, tls_context(ca_pem), port=port)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()
