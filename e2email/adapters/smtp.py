"""A small SMTP submission client (RFC 5321, 3207, 4954, 6409) that cannot be talked out of TLS.

Why not smtplib: it silently keeps bytes that arrive between the STARTTLS reply and the
handshake, logs ``AUTH PLAIN <base64>`` at debug level, calls getfqdn(), and would let a
caller AUTH in clear. Here:

* TLS is mandatory: implicit (465) or STARTTLS (587); a server that does not offer
  STARTTLS, refuses it, or fails verification gets nothing, not even EHLO's follow-up.
* Bytes received after the ``220`` to STARTTLS and before the handshake are fatal
  (RFC 3207 5; "NO STARTTLS", USENIX Security 2021). Capabilities are re-read after TLS.
* AUTH is only ever sent on a TLS connection; the credential never reaches a log.
* Replies are values; only faults raise (``TemporaryFailure``, ``PermanentFailure``...).
"""

from __future__ import annotations

import logging
import socket
import ssl
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from e2email.adapters import tls
from e2email.adapters.dns import Resolver
from e2email.core import sasl
from e2email.errors import (
    AuthenticationError,
    MessageError,
    PermanentFailure,
    ProtocolViolation,
    TemporaryFailure,
    TLSError,
)

log = logging.getLogger("e2email.smtp")

MAX_LINE = 4096
MAX_REPLY_LINES = 200
CHUNK = 64 * 1024
LONG_LINE = 1 << 20  # stuffed() passes a line this long on in pieces (no server takes it)


@dataclass(frozen=True)
class Reply:
    """One SMTP reply: the code and its text lines."""

    code: int
    lines: tuple[str, ...]

    @property
    def text(self) -> str:
        """The reply as one line, for messages."""
        return f"{self.code} " + " / ".join(self.lines)

    @property
    def ok(self) -> bool:
        """2xx."""
        return 200 <= self.code < 300

    @property
    def transient(self) -> bool:
        """4xx."""
        return 400 <= self.code < 500


@dataclass
class Capabilities:
    """The EHLO keywords and their parameters (upper-cased keywords)."""

    keywords: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_reply(cls, reply: Reply) -> Capabilities:
        """Parse an EHLO reply (RFC 5321 4.1.1.1); the first line is the greeting."""
        caps: dict[str, str] = {}
        for line in reply.lines[1:]:
            word, _, params = line.strip().partition(" ")
            caps[word.upper()] = params
        return cls(caps)

    def has(self, word: str) -> bool:
        """True if the server advertised ``word``."""
        return word.upper() in self.keywords

    def auth_mechanisms(self) -> set[str]:
        """The SASL mechanisms of the AUTH keyword."""
        return {m.upper() for m in self.keywords.get("AUTH", "").split()}


class _Conn:
    """A socket with a reply reader that can tell whether unread bytes are waiting."""

    def __init__(self, sock: socket.socket, host: str) -> None:
        self.sock, self.host, self.buf = sock, host, b""

    def send(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except OSError as e:
            raise TemporaryFailure(f"{self.host}: connection lost while sending: {e}") from None

    def _fill(self) -> None:
        try:
            chunk = self.sock.recv(CHUNK)
        except TimeoutError:
            raise TemporaryFailure(f"{self.host}: timed out waiting for the server") from None
        except OSError as e:
            raise TemporaryFailure(f"{self.host}: connection lost: {e}") from None
        if not chunk:
            raise TemporaryFailure(f"{self.host}: the server closed the connection")
        self.buf += chunk

    def readline(self) -> bytes:
        while b"\n" not in self.buf:
            if len(self.buf) > MAX_LINE:
                raise ProtocolViolation(f"{self.host}: reply line too long")
            self._fill()
        line, _, self.buf = self.buf.partition(b"\n")
        if len(line) > MAX_LINE:
            raise ProtocolViolation(f"{self.host}: reply line too long")
        return line.rstrip(b"\r")

    def pending(self) -> bool:
        """True if any byte is buffered or already waiting in the socket."""
        if self.buf:
            return True
        try:
            self.sock.setblocking(False)
            return bool(self.sock.recv(1, socket.MSG_PEEK))
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            return False
        finally:
            self.sock.setblocking(True)


class SmtpSession:
    """An authenticated-TLS SMTP session. Use ``open()``; close with ``quit()``."""

    def __init__(self, conn: _Conn, host: str, local_hostname: str, port: int = 0) -> None:
        self._conn, self.host, self.local_hostname, self.port = conn, host, local_hostname, port
        self.capabilities = Capabilities()
        self.tls_version: str | None = None
        self.mechanism: str | None = None  # the SASL mechanism that authenticated us

    # -- opening ------------------------------------------------------------------------

    @classmethod
    def open(  # noqa: PLR0913
        cls,
        host: str,
        port: int,
        *,
        security: str,
        context: ssl.SSLContext,
        resolver: Resolver,
        timeout: float,
        pin: str | None = None,
        local_hostname: str = "localhost",
    ) -> SmtpSession:
        """Connect, secure the connection (implicit TLS or STARTTLS) and EHLO over TLS."""
        sock = resolver.connect(host, port, timeout)
        session: SmtpSession | None = None
        try:
            # Each command goes out in one write; without NODELAY, Nagle holds the first command
            # after the TLS handshake until the server's delayed ACK, 40 ms later.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if security == "tls":
                sock = cls._handshake(sock, context, host, pin)
            session = cls(_Conn(sock, host), host, local_hostname, port)
            session._greeting()
            if security != "tls":
                session._starttls(context, pin)
            else:
                session.tls_version = _version(sock)
                session.ehlo()
            return session
        except BaseException:  # the TLS socket, once wrapped, owns the descriptor
            (session._conn.sock if session is not None else sock).close()
            raise

    @staticmethod
    def _handshake(
        sock: socket.socket, context: ssl.SSLContext, host: str, pin: str | None
    ) -> ssl.SSLSocket:
        try:
            wrapped = context.wrap_socket(sock, server_hostname=host)
        except (ssl.SSLError, OSError) as e:
            raise tls.explain(e, host) from None
        try:
            tls.check_pin(wrapped, pin, host)
        except BaseException:
            wrapped.close()
            raise
        return wrapped

    def _greeting(self) -> None:
        reply = self._read_reply()
        if reply.code != 220:
            raise self._failure("greeting", reply)

    def ehlo(self) -> Capabilities:
        """Send EHLO and (re)read the capabilities."""
        reply = self.command(f"EHLO {self.local_hostname}")
        if not reply.ok:
            raise self._failure("EHLO", reply)
        self.capabilities = Capabilities.from_reply(reply)
        return self.capabilities

    def _starttls(self, context: ssl.SSLContext, pin: str | None) -> None:
        caps = self.ehlo()
        if not caps.has("STARTTLS"):
            raise TLSError(f"{self.host}: the server does not offer STARTTLS; refusing to continue")
        reply = self.command("STARTTLS")
        if reply.code != 220:
            raise TLSError(f"{self.host}: STARTTLS refused: {reply.text}")
        if self._conn.pending():
            raise ProtocolViolation(
                f"{self.host}: the server sent data after its STARTTLS reply and before the "
                "TLS handshake (STARTTLS injection?); aborting"
            )
        wrapped = self._handshake(self._conn.sock, context, self.host, pin)
        self._conn = _Conn(wrapped, self.host)
        self.tls_version = _version(wrapped)
        self.capabilities = Capabilities()
        self.ehlo()

    # -- commands -----------------------------------------------------------------------

    def _read_reply(self) -> Reply:
        lines: list[str] = []
        code = 0
        while len(lines) < MAX_REPLY_LINES:
            raw = self._conn.readline()
            text = raw.decode("utf-8", "replace")
            if len(text) < 3 or not text[:3].isdigit() or text[3:4] not in ("", " ", "-"):
                raise ProtocolViolation(f"{self.host}: malformed reply line {text[:80]!r}")
            if code and int(text[:3]) != code:
                raise ProtocolViolation(f"{self.host}: inconsistent multi-line reply")
            code = int(text[:3])
            lines.append(text[4:])
            if text[3:4] != "-":
                log.debug("S: %s", text)
                return Reply(code, tuple(lines))
            log.debug("S: %s", text)
        raise ProtocolViolation(f"{self.host}: reply with too many lines")

    def command(self, line: str, *, log_as: str | None = None) -> Reply:
        """Send one command line and read its reply. ``log_as`` replaces secrets in logs."""
        if any(c in line for c in "\r\n\0"):
            raise MessageError("refusing to send an SMTP command containing a line break")
        log.debug("C: %s", log_as if log_as is not None else line)
        self._conn.send(line.encode("utf-8") + b"\r\n")
        return self._read_reply()

    def _require_tls(self) -> None:
        if self.tls_version is None:
            raise TLSError(f"{self.host}: refusing to authenticate without TLS")

    def login(self, username: str, password: str, mechanism: str = "auto") -> str:
        """Authenticate with PLAIN (RFC 4616) or LOGIN; ``mechanism`` "auto" prefers PLAIN."""
        self._require_tls()
        offered = self.capabilities.auth_mechanisms()
        mech = sasl.choose(offered, mechanism, sasl.PASSWORD_MECHANISMS, self.host)
        if mech == "PLAIN":
            token = sasl.plain_response(username, password)
            reply = self.command(f"AUTH PLAIN {token}", log_as="AUTH PLAIN <credentials hidden>")
        else:
            reply = self._login_mechanism(username, password)
        self._check_auth(reply, sasl.secret_forms(username, password))
        return mech

    def login_oauth(self, username: str, token: str, mechanism: str = "auto") -> str:
        """Authenticate with OAUTHBEARER (RFC 7628) or XOAUTH2; "auto" prefers OAUTHBEARER."""
        self._require_tls()
        offered = self.capabilities.auth_mechanisms()
        mech = sasl.choose(offered, mechanism, sasl.OAUTH_MECHANISMS, self.host)
        if mech == "OAUTHBEARER":
            response = sasl.oauthbearer_response(username, self.host, self.port, token)
        else:
            response = sasl.xoauth2_response(username, token)
        reply = self.command(f"AUTH {mech} {response}", log_as=f"AUTH {mech} <token hidden>")
        if reply.code == 334:  # an error challenge (RFC 7628 3.2.3): answer with %x01
            log.debug("S: (the server's error details are base64 JSON)")
            reply = self.command("AQ==", log_as="AQ== (abort)")
        self._check_auth(reply, sasl.secret_forms(username, token))
        return mech

    def _login_mechanism(self, username: str, password: str) -> Reply:
        reply = self.command("AUTH LOGIN")
        for value in (username, password):
            if reply.code != 334:
                return reply
            reply = self.command(sasl.b64(value), log_as="<credential hidden>")
        return reply

    def _check_auth(self, reply: Reply, secrets: list[str]) -> None:
        if reply.ok:
            return
        text = sasl.scrub(reply.text, secrets)
        if reply.transient:
            raise TemporaryFailure(f"{self.host}: authentication failed temporarily: {text}")
        raise AuthenticationError(f"{self.host}: authentication failed: {text}")

    # -- a transaction ------------------------------------------------------------------

    def mail(self, sender: str, params: Iterable[str] = ()) -> None:
        """MAIL FROM; raise on refusal."""
        extra = "".join(f" {p}" for p in params)
        reply = self.command(f"MAIL FROM:<{sender}>{extra}")
        if not reply.ok:
            raise self._failure("MAIL FROM", reply)

    def rcpt(self, recipient: str) -> Reply:
        """RCPT TO; the reply is returned, the caller decides about partial refusals."""
        return self.command(f"RCPT TO:<{recipient}>")

    def data(self, chunks: Iterable[bytes], ready: Callable[[], bool] | None = None) -> Reply:
        """DATA with CRLF line ends and dot-stuffing, streamed; return the final reply.

        ``ready`` (see ``stuffed``) spares the scan of text known to need no change.
        """
        reply = self.command("DATA")
        if reply.code != 354:
            raise self._failure("DATA", reply)
        pending: list[bytes] = []
        size = 0
        for piece in stuffed(chunks, ready):
            pending.append(piece)
            size += len(piece)
            if size >= CHUNK:  # small pieces go out together, large ones as they come
                self._conn.send(b"".join(pending) if len(pending) > 1 else piece)
                pending.clear()
                size = 0
        pending.append(b".\r\n")
        self._conn.send(b"".join(pending))
        final = self._read_reply()
        if not final.ok:
            raise self._failure("end of DATA", final)
        return final

    def reset(self) -> None:
        """RSET, ignoring the reply."""
        self.command("RSET")

    def quit(self) -> None:
        """QUIT and close, never raising."""
        try:
            self.command("QUIT")
        except Exception:  # noqa: S110  (the transaction is already settled)
            pass
        finally:
            self._conn.sock.close()

    def peer_fingerprint(self) -> str:
        """``sha256:<hex>`` of the server's certificate (the value ``tls_fingerprint`` pins)."""
        sock = self._conn.sock
        if not isinstance(sock, ssl.SSLSocket):
            raise TLSError(f"{self.host}: not a TLS connection")
        return tls.certificate_sha256(sock)

    def close(self) -> None:
        """Close without QUIT."""
        self._conn.sock.close()

    def _failure(self, stage: str, reply: Reply) -> Exception:
        msg = f"{self.host}: {stage} refused: {reply.text}"
        if reply.transient:
            return TemporaryFailure(msg)
        return PermanentFailure(msg)


def stuffed(chunks: Iterable[bytes], ready: Callable[[], bool] | None = None) -> Iterator[bytes]:
    """Normalise line ends to CRLF and dot-stuff (RFC 5321 4.5.2), streaming.

    Each piece is whole lines rewritten by a few C-speed passes (no per-line Python work);
    only a trailing partial line waits for the next chunk, and a line longer than
    ``LONG_LINE`` is passed on in pieces, so memory stays bounded whatever the input. The
    result always ends with CRLF, so the caller appends only ``.\\r\\n``. ``ready()``,
    asked after each chunk, True when everything read so far needs no change: whole lines
    then go on without even being scanned.
    """
    carry = b""
    at_start = True  # does ``carry`` begin a line?
    for chunk in chunks:
        data = carry + chunk if carry else chunk
        cut = data.rfind(b"\n") + 1
        if cut:
            block = data[:cut] if cut < len(data) else data
            yield block if ready is not None and ready() else _lines(block, at_start)
            carry, at_start = data[cut:], True
        else:
            carry = data
        if len(carry) > LONG_LINE:  # keep the last byte: it may be the CR of a CRLF
            yield _lines(carry[:-1], at_start)
            carry, at_start = carry[-1:], False
    if carry:
        yield _lines(carry + b"\n", at_start)


def _lines(block: bytes, at_start: bool) -> bytes:
    """CRLF line ends and doubled leading dots for ``block`` (which ends a line or is a piece
    of one); ``at_start``: it begins a line.

    What e2email itself assembled already has CRLF ends and no line starting with a dot
    (base64 and armor have no dot at all): a few scans find that out and the block goes on
    as it is, without a copy.
    """
    no_dots = b"." not in block or b"\n." not in block  # the first is a plain memchr
    if no_dots and block.count(b"\n") == block.count(b"\r\n"):
        out = block
    else:
        out = block.replace(b"\r\n", b"\n").replace(b"\n.", b"\n..").replace(b"\n", b"\r\n")
    return b"." + out if at_start and out.startswith(b".") else out


def _version(sock: socket.socket) -> str | None:
    return sock.version() if isinstance(sock, ssl.SSLSocket) else None
