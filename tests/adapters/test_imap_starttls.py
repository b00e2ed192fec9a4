"""IMAP STARTTLS that cannot be injected into (security.md item 2, the IMAP side).

Dovecot never sends anything after its STARTTLS reply; this fake does: a forged CAPABILITY and
a forged tagged OK in clear, right behind ``OK Begin TLS``. Whatever the client read in clear
must be forgotten: capabilities come from inside TLS, and LOGIN travels only inside TLS.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from collections.abc import Iterator

import pytest

from e2email.adapters import tls
from e2email.adapters.dns import Resolver
from e2email.adapters.imap import ImapSession
from e2email.errors import TemporaryFailure
from tests.fakes.fixtures import fake_pki_fixture  # noqa: F401
from tests.fakes.pki import FakePki

INJECTED = b"* CAPABILITY IMAP4rev1 X-INJECTED AUTH=PLAIN\r\n"
PASSWORD = "imap-s3cret"


class InjectingImap:
    """Greets with STARTTLS, answers STARTTLS with OK plus injected lines, then does TLS."""

    def __init__(self, pki: FakePki, injected: bytes) -> None:
        self.injected, self.clear, self.tls = injected, bytearray(), bytearray()
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(str(pki.cert), str(pki.key))
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.sock.accept()
        with conn, contextlib.suppress(OSError, ssl.SSLError):
            conn.settimeout(10)
            conn.sendall(b"* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] fake ready\r\n")
            self._dialogue(conn, self.clear, tls=False)

    def _dialogue(self, conn: socket.socket, record: bytearray, *, tls: bool) -> None:
        buf = b""
        while True:
            chunk = conn.recv(4096)
            if not chunk:
                return
            record.extend(chunk)
            buf += chunk
            while b"\r\n" in buf:
                line, buf = buf.split(b"\r\n", 1)
                tag, _, rest = line.partition(b" ")
                verb = rest.split(b" ")[0].upper()
                if verb == b"STARTTLS" and not tls:
                    conn.sendall(tag + b" OK Begin TLS\r\n" + self.injected)
                    with self.ctx.wrap_socket(conn, server_side=True) as wrapped:
                        self._dialogue(wrapped, self.tls, tls=True)
                    return
                conn.sendall(self._answer(tag, verb, tls))

    @staticmethod
    def _answer(tag: bytes, verb: bytes, tls: bool) -> bytes:
        if verb == b"CAPABILITY":
            caps = b"IMAP4rev1 AUTH=PLAIN" if tls else b"IMAP4rev1 STARTTLS LOGINDISABLED"
            return b"* CAPABILITY " + caps + b"\r\n" + tag + b" OK done\r\n"
        if verb == b"LOGIN" and tls:
            return tag + b" OK logged in\r\n"
        if verb == b"LOGOUT":
            return b"* BYE\r\n" + tag + b" OK bye\r\n"
        return tag + b" BAD not here\r\n"

    def close(self) -> None:
        self.thread.join(timeout=10)
        self.sock.close()


@contextlib.contextmanager
def serving(pki: FakePki, injected: bytes) -> Iterator[InjectingImap]:
    server = InjectingImap(pki, injected)
    try:
        yield server
    finally:
        server.close()


def open_session(server: InjectingImap, pki: FakePki) -> ImapSession:
    return ImapSession.open(
        "127.0.0.1",
        server.port,
        security="starttls",
        context=tls.client_context(pki.ca_pem),
        resolver=Resolver(),
        timeout=5,
    )


@pytest.mark.parametrize(
    "injected",
    [INJECTED, INJECTED + b"a002 OK LOGIN completed (forged)\r\n", b"a002 OK forged\r\n"],
)
def test_bytes_after_the_starttls_reply_are_discarded_or_fatal(
    fake_pki: FakePki, injected: bytes
) -> None:
    with serving(fake_pki, injected) as server:
        try:
            session = open_session(server, fake_pki)
        except TemporaryFailure:  # fatal is fine: nothing was sent after STARTTLS
            session = None
        if session is not None:
            assert session.secure
            assert not session.has("X-INJECTED")  # capabilities re-read inside TLS
            session.login("bob@example.test", PASSWORD)
            session.logout()
    clear = bytes(server.clear).upper()
    assert b"LOGIN" not in clear and PASSWORD.encode() not in bytes(server.clear)
    assert clear.count(b"STARTTLS") == 1
    if session is not None:
        assert b"LOGIN" in bytes(server.tls).upper()  # it went, inside TLS
