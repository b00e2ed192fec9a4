"""A scripted SMTP server that records every byte the client sends.

Postfix will not inject lines after its STARTTLS reply, refuse STARTTLS with 502, reset a
connection in the middle of DATA or advertise REQUIRETLS; this server does whatever its
:class:`Script` says. Each connection is a :class:`Session` holding ``clear`` (bytes received
before TLS) and ``tls`` (bytes received inside TLS), so tests can assert on everything the
client ever put on the wire.
"""

from __future__ import annotations

import base64
import contextlib
import socket
import ssl
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

HOST = "127.0.0.1"


@dataclass
class Script:
    """How the fake behaves. Reply values are raw bytes, CRLF included."""

    greeting: bytes = b"220 fake.example.test ESMTP fake\r\n"
    clear_caps: tuple[str, ...] = ("PIPELINING", "SIZE 10000000", "STARTTLS", "8BITMIME")
    tls_caps: tuple[str, ...] = ("PIPELINING", "SIZE 10000000", "AUTH PLAIN LOGIN", "8BITMIME")
    starttls_reply: bytes = b"220 2.0.0 Ready to start TLS\r\n"
    implicit_tls: bool = False
    users: dict[str, str] = field(default_factory=lambda: {"alice@example.test": "s3cret"})
    tokens: dict[str, str] = field(default_factory=dict)  # user -> OAuth bearer token
    mail_reply: bytes = b"250 2.1.0 Ok\r\n"
    rcpt_replies: dict[str, bytes] = field(default_factory=dict)  # address -> reply
    data_reply: bytes = b"354 End data with <CR><LF>.<CR><LF>\r\n"
    final_replies: list[bytes] = field(default_factory=list)  # per message; then "250"
    reset_after_data_bytes: int | None = None  # RST after this many DATA bytes
    stall_after_data: float = 0.0  # seconds to wait before the final reply


@dataclass
class Message:
    """One completed transaction as the fake saw it."""

    sender: str
    params: str
    recipients: list[str]
    data: bytes


@dataclass
class Session:
    """Everything one client connection sent, split at the TLS handshake."""

    clear: bytearray = field(default_factory=bytearray)
    tls: bytearray = field(default_factory=bytearray)
    commands: list[tuple[bool, str]] = field(default_factory=list)  # (in TLS?, verb line)
    messages: list[Message] = field(default_factory=list)
    authenticated: str | None = None
    error: str | None = None

    @property
    def everything(self) -> bytes:
        """All bytes the client sent (clear first, then decrypted TLS)."""
        return bytes(self.clear) + bytes(self.tls)


class _Peer:
    def __init__(self, sock: socket.socket, session: Session) -> None:
        self.sock, self.session, self.buf, self.in_tls = sock, session, b"", False

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _recv(self) -> bytes:
        chunk = self.sock.recv(65536)
        (self.session.tls if self.in_tls else self.session.clear).extend(chunk)
        return chunk

    def readline(self) -> bytes | None:
        while b"\r\n" not in self.buf:
            chunk = self._recv()
            if not chunk:
                return None
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line

    def read_data(self, limit: int | None) -> bytes | None:
        """The message up to the lone dot, un-stuffed (RFC 5321 4.5.2); None on EOF/limit."""
        while limit is not None or b"\r\n.\r\n" not in b"\r\n" + self.buf:
            if limit is not None and len(self.buf) >= limit:
                return None  # the connection dies mid-DATA, whatever was sent
            chunk = self._recv()
            if not chunk:
                return None
            self.buf += chunk
        joined = b"\r\n" + self.buf
        end = joined.index(b"\r\n.\r\n")
        data, self.buf = joined[2 : end + 2], joined[end + 5 :]
        lines = data.split(b"\r\n")
        return b"\r\n".join(ln[1:] if ln.startswith(b".") else ln for ln in lines)


class FakeSmtp:
    """Serve ``script`` on 127.0.0.1 (a free port) until ``close()``."""

    def __init__(self, script: Script, cert: tuple[Path, Path]) -> None:
        self.script = script
        self.sessions: list[Session] = []
        self._ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._ctx.load_cert_chain(str(cert[0]), str(cert[1]))
        self._listener = socket.create_server((HOST, 0))
        self._listener.settimeout(1.0)
        self.port = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._accept = threading.Thread(target=self._serve, daemon=True)
        self._accept.start()

    @property
    def messages(self) -> list[Message]:
        """Every accepted message, across sessions."""
        return [m for s in self.sessions for m in s.messages]

    def close(self) -> None:
        """Stop accepting and wait for the connection threads."""
        self._stop.set()
        with contextlib.suppress(OSError):  # wakes the blocked accept() at once (Linux)
            self._listener.shutdown(socket.SHUT_RDWR)
        self._accept.join(5)
        self._listener.close()
        for t in self._threads:
            t.join(5)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            session = Session()
            self.sessions.append(session)
            t = threading.Thread(target=self._run, args=(conn, session), daemon=True)
            self._threads.append(t)
            t.start()

    def _run(self, conn: socket.socket, session: Session) -> None:
        conn.settimeout(10)
        peer = _Peer(conn, session)
        try:
            if self.script.implicit_tls:
                peer.sock = self._ctx.wrap_socket(conn, server_side=True)
                peer.in_tls = True
            _Dialogue(self, peer).run()
        except (OSError, ssl.SSLError, ValueError) as e:
            session.error = f"{type(e).__name__}: {e}"
        finally:
            with contextlib.suppress(OSError):
                peer.sock.close()
            with contextlib.suppress(OSError):
                conn.close()


class _Dialogue:
    """The server side of one connection, driven by the script."""

    def __init__(self, server: FakeSmtp, peer: _Peer) -> None:
        self.server, self.peer, self.s = server, peer, server.script
        self.sender, self.params, self.rcpts = "", "", list[str]()

    def run(self) -> None:
        self.peer.send(self.s.greeting)
        while (line := self.peer.readline()) is not None:
            text = line.decode("utf-8", "replace")
            verb = text.split(" ", 1)[0].upper()
            self.peer.session.commands.append((self.peer.in_tls, text[:200]))
            handler = getattr(self, f"do_{verb.lower()}", None)
            if handler is None:
                self.peer.send(b"502 5.5.2 Error: command not recognized\r\n")
            elif handler(text) is False:
                return

    def do_ehlo(self, text: str) -> None:
        caps = self.s.tls_caps if self.peer.in_tls else self.s.clear_caps
        lines = ["fake.example.test", *caps]
        out = b"".join(
            f"250{'-' if i < len(lines) - 1 else ' '}{ln}\r\n".encode()
            for i, ln in enumerate(lines)
        )
        self.peer.send(out)

    def do_starttls(self, text: str) -> bool:
        self.peer.send(self.s.starttls_reply)
        if not self.s.starttls_reply.startswith(b"220"):
            return True
        self.peer.sock = self.server._ctx.wrap_socket(self.peer.sock, server_side=True)
        self.peer.in_tls = True
        return True

    def do_auth(self, text: str) -> None:
        parts = text.split(" ")
        mech = parts[1].upper() if len(parts) > 1 else ""
        initial = parts[2] if len(parts) > 2 else None
        user = self._auth(mech, initial)
        if user is None:
            self.peer.send(b"535 5.7.8 Error: authentication failed\r\n")
        else:
            self.peer.session.authenticated = user
            self.peer.send(b"235 2.7.0 Authentication successful\r\n")

    def _auth(self, mech: str, initial: str | None) -> str | None:
        if mech == "PLAIN" and initial:
            _, user, password = base64.b64decode(initial).decode().split("\0")
            return user if self.s.users.get(user) == password else None
        if mech == "LOGIN":
            self.peer.send(b"334 VXNlcm5hbWU6\r\n")
            user = base64.b64decode(self.peer.readline() or b"").decode()
            self.peer.send(b"334 UGFzc3dvcmQ6\r\n")
            password = base64.b64decode(self.peer.readline() or b"").decode()
            return user if self.s.users.get(user) == password else None
        if mech in ("OAUTHBEARER", "XOAUTH2") and initial:
            raw = base64.b64decode(initial).decode()
            for user, token in self.s.tokens.items():
                if f"auth=Bearer {token}\x01" in raw and user in raw:
                    return user
            self.peer.send(b"334 eyJzdGF0dXMiOiI0MDEifQ==\r\n")
            self.peer.readline()
        return None

    def do_mail(self, text: str) -> None:
        addr, _, params = text[len("MAIL FROM:") :].partition(" ")
        self.sender, self.params, self.rcpts = addr.strip("<>"), params, []
        self.peer.send(self.s.mail_reply)

    def do_rcpt(self, text: str) -> None:
        addr = text[len("RCPT TO:") :].strip().strip("<>")
        reply = self.s.rcpt_replies.get(addr, b"250 2.1.5 Ok\r\n")
        if reply.startswith(b"250"):
            self.rcpts.append(addr)
        self.peer.send(reply)

    def do_data(self, text: str) -> bool:
        self.peer.send(self.s.data_reply)
        if not self.s.data_reply.startswith(b"354"):
            return True
        data = self.peer.read_data(self.s.reset_after_data_bytes)
        if data is None:
            if self.s.reset_after_data_bytes is not None:  # RST, not FIN
                self.peer.sock.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
            return False
        if self.s.stall_after_data:
            self.server._stop.wait(self.s.stall_after_data)
        reply = self.s.final_replies.pop(0) if self.s.final_replies else b"250 2.0.0 Ok: queued\r\n"
        if reply.startswith(b"250"):
            msg = Message(self.sender, self.params, list(self.rcpts), data)
            self.peer.session.messages.append(msg)
        self.peer.send(reply)
        return True

    def do_rset(self, text: str) -> None:
        self.sender, self.rcpts = "", []
        self.peer.send(b"250 2.0.0 Ok\r\n")

    def do_noop(self, text: str) -> None:
        self.peer.send(b"250 2.0.0 Ok\r\n")

    def do_quit(self, text: str) -> bool:
        self.peer.send(b"221 2.0.0 Bye\r\n")
        return False


@contextlib.contextmanager
def serve(script: Script, cert: tuple[Path, Path]) -> Iterator[FakeSmtp]:
    """Run a fake for the duration of a ``with`` block."""
    server = FakeSmtp(script, cert)
    try:
        yield server
    finally:
        server.close()
