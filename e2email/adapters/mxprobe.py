"""Probe one MX address: greeting, EHLO, STARTTLS offered?, handshake with SNI, what was shown.

Only observes; never sends mail, never authenticates, never sends anything secret. The TLS
handshake uses pyOpenSSL because it must (a) complete with a bad certificate so the problem
can be *reported*, (b) record OpenSSL's own verification error (the same engine and trust
store rules as Postfix's posttls-finger), and (c) return the peer's whole chain for DANE-TA,
which Python 3.11's ``ssl`` module does not expose. Host-name matching and expiry are judged
in ``core/verdict.py`` from the chain returned here.

A port that is closed or filtered gives ``reachable=False`` and says which: many ISPs block
outgoing port 25, and that is not a property of the recipient's domain.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
import time
from pathlib import Path

from cryptography.hazmat.primitives.serialization import Encoding
from OpenSSL import SSL, crypto

from e2email.core.verdict import Probe

HELO_NAME = "e2email-check.invalid"
MAX_LINE = 4096
MAX_LINES = 100

_VERIFY_ERRORS = {
    2: "unable to get issuer certificate",
    7: "certificate signature failure",
    9: "certificate is not yet valid",
    10: "certificate has expired",
    18: "self-signed certificate",
    19: "self-signed certificate in certificate chain",
    20: "unable to get local issuer certificate",
    21: "unable to verify the first certificate",
    24: "invalid CA certificate",
    26: "unsupported certificate purpose",
}


class _Failed(Exception):
    """The exchange ended early; ``reachable`` says whether the server answered at all."""

    def __init__(self, message: str, *, reachable: bool) -> None:
        super().__init__(message)
        self.reachable = reachable


class _Lines:
    """Reads SMTP replies from a plain socket under one deadline."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self.sock, self.deadline, self.buf = sock, deadline, b""

    def _fill(self) -> None:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise _Failed("timed out waiting for the server", reachable=True)
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(MAX_LINE)
        except TimeoutError:
            raise _Failed("timed out waiting for the server", reachable=True) from None
        except OSError as e:
            raise _Failed(f"connection lost: {e.strerror or e}", reachable=True) from None
        if not chunk:
            raise _Failed("the server closed the connection", reachable=True)
        self.buf += chunk

    def reply(self) -> tuple[int, list[str]]:
        """One (possibly multi-line) reply: code and text lines."""
        lines: list[str] = []
        while len(lines) < MAX_LINES:
            while b"\n" not in self.buf:
                if len(self.buf) > MAX_LINE:
                    raise _Failed("reply line too long", reachable=True)
                self._fill()
            raw, _, self.buf = self.buf.partition(b"\n")
            line = raw.rstrip(b"\r").decode("utf-8", "replace")
            if len(line) < 3 or not line[:3].isdigit():
                raise _Failed(f"not an SMTP reply: {line[:60]!r}", reachable=True)
            lines.append(line[4:])
            if line[3:4] != "-":
                return int(line[:3]), lines
        raise _Failed("reply too long", reachable=True)


def probe(
    address: str,
    port: int,
    host: str,
    *,
    timeout: float,
    ca_file: Path | None = None,
) -> Probe:
    """Probe ``address:port`` sending ``host`` as SNI; never raises for network trouble.

    ``host`` is the MX host name, or the TLSA base domain when DANE records were found at
    a CNAME target (RFC 7672 8.1: SNI names the TLSA base domain).
    """
    deadline = time.monotonic() + timeout
    try:
        sock = _connect(address, port, timeout)
    except _Failed as e:
        return Probe(address, False, error=str(e))
    try:
        return _converse(sock, address, host, deadline, ca_file)
    except _Failed as e:
        return Probe(address, e.reachable, error=str(e))
    finally:
        sock.close()


def _connect(address: str, port: int, timeout: float) -> socket.socket:
    try:
        return socket.create_connection((address, port), timeout=timeout)
    except ConnectionRefusedError:
        raise _Failed(f"port {port} closed (connection refused)", reachable=False) from None
    except TimeoutError:
        raise _Failed(
            f"no answer on port {port} within {timeout:g} s (filtered? many ISPs block "
            "outgoing port 25)",
            reachable=False,
        ) from None
    except OSError as e:
        raise _Failed(
            f"cannot connect to port {port}: {e.strerror or e}", reachable=False
        ) from None


def _converse(
    sock: socket.socket, address: str, host: str, deadline: float, ca_file: Path | None
) -> Probe:
    lines = _Lines(sock, deadline)
    code, text = lines.reply()
    if code != 220:
        raise _Failed(f"greeting {code} {' '.join(text)[:80]}", reachable=False)
    sock.sendall(f"EHLO {HELO_NAME}\r\n".encode())
    code, text = lines.reply()
    if code != 250:  # without EHLO there is no way to learn whether STARTTLS is offered
        _quit(sock)
        raise _Failed(f"EHLO refused: {code} {' '.join(text)[:80]}", reachable=True)
    keywords = {t.split(" ", 1)[0].upper() for t in text[1:]}
    if "STARTTLS" not in keywords:
        _quit(sock)
        return Probe(address, True, starttls=False)
    sock.sendall(b"STARTTLS\r\n")
    code, text = lines.reply()
    if code != 220:
        _quit(sock)
        return Probe(address, True, starttls=True, handshake_error=f"STARTTLS refused: {code}")
    return _handshake(sock, address, host, deadline, ca_file)


def _quit(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.sendall(b"QUIT\r\n")


_contexts: dict[Path | None, SSL.Context] = {}
_contexts_lock = threading.Lock()


def _context(ca_file: Path | None) -> SSL.Context:
    """One *observing* context per trust store, shared by every probe of the process.

    Loading the default verify paths costs milliseconds of CPU; with many MX probed at
    once that adds up. Verification is set per connection, where its errors are recorded.
    """
    with _contexts_lock:
        ctx = _contexts.get(ca_file)
        if ctx is None:
            ctx = SSL.Context(SSL.TLS_CLIENT_METHOD)
            ctx.set_default_verify_paths()
            if ca_file is not None:
                ctx.load_verify_locations(str(ca_file))
            _contexts[ca_file] = ctx
        return ctx


def _handshake(
    sock: socket.socket, address: str, host: str, deadline: float, ca_file: Path | None
) -> Probe:
    errors: list[tuple[int, int]] = []

    def record(_c: SSL.Connection, _x: crypto.X509, errno: int, depth: int, ok: int) -> bool:
        """OpenSSL verifies; we note what failed and let the handshake go on (observe)."""
        if not ok:
            errors.append((errno, depth))
        return True

    conn = SSL.Connection(_context(ca_file), sock)
    conn.set_verify(SSL.VERIFY_PEER, record)
    conn.set_tlsext_host_name(host.encode("idna"))
    conn.set_connect_state()
    try:
        _drive(conn, sock, deadline)
    except (SSL.Error, OSError, _Failed) as e:
        return Probe(address, True, starttls=True, handshake_error=_ssl_text(e))
    chain = conn.get_peer_cert_chain(as_cryptography=True) or []
    result = Probe(
        address,
        True,
        starttls=True,
        tls_version=conn.get_protocol_version_name(),
        cipher=conn.get_cipher_name(),
        chain=tuple(c.public_bytes(Encoding.DER) for c in chain),
        verify_error=_verify_text(errors[0]) if errors else None,
    )
    with contextlib.suppress(SSL.Error, OSError):
        conn.sendall(b"QUIT\r\n")
        conn.shutdown()
    return result


def _drive(conn: SSL.Connection, sock: socket.socket, deadline: float) -> None:
    while True:
        try:
            conn.do_handshake()
            return
        except SSL.WantReadError:
            wait_read = True
        except SSL.WantWriteError:
            wait_read = False
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _Failed("timed out during the TLS handshake", reachable=True)
        ready = select.select(
            [sock] if wait_read else [], [] if wait_read else [sock], [], remaining
        )
        if not any(ready):
            raise _Failed("timed out during the TLS handshake", reachable=True)


def _verify_text(error: tuple[int, int]) -> str:
    errno, depth = error
    text = _VERIFY_ERRORS.get(errno, f"certificate verification error {errno}")
    return text if depth == 0 else f"{text} (depth {depth})"


def _ssl_text(err: BaseException) -> str:
    if isinstance(err, SSL.Error) and err.args and isinstance(err.args[0], list):
        reasons = [str(e[2]) for e in err.args[0] if isinstance(e, tuple) and len(e) == 3]
        if reasons:
            return "TLS handshake failed: " + "; ".join(reasons)
    return f"TLS handshake failed: {err or type(err).__name__}"
