"""IMAP (RFC 9051 / 3501) through imapclient, with TLS that cannot be skipped.

* The host name is resolved by the project's resolver and the connection made to the IP;
  TLS verifies the certificate for the host name with ``adapters.tls``'s context.
* ``imap_security = "tls"``: implicit TLS (port 993). ``"starttls"``: STARTTLS is mandatory
  (RFC 9051 6.2.1); a server that does not offer it gets nothing more. A ``* PREAUTH``
  greeting on such a connection (RFC 9051 7.1.4: the session would skip authentication AND
  the STARTTLS upgrade) is refused before any command is sent (security.md item 2). Bytes a
  server sends after its STARTTLS reply are discarded with the plaintext reader, or break the
  TLS handshake; capabilities are read again over TLS.
* ``pin`` (the account's ``tls_fingerprint``): the server certificate's SHA-256 must match,
  checked right after the handshake (implicit TLS) or right after the STARTTLS handshake,
  before any command goes over TLS; a mismatch closes the connection with nothing sent.
* LOGIN, and AUTHENTICATE OAUTHBEARER (RFC 7628) / XOAUTH2 for accounts with an
  ``oauth_token_command``, are only sent inside TLS. imapclient's protocol trace (which would
  include whole message literals, hence plaintext) never reaches our logs.
* UIDPLUS (RFC 4315) and MULTIAPPEND (RFC 3502) are detected and used when offered.
* Reading mail never writes it (security.md item 17): ``examine()`` opens a folder with EXAMINE
  and hands back a :class:`ReadOnlyFolder`, which can only SEARCH and FETCH with BODY.PEEK.
  EXAMINE neither clears ``\\Recent`` nor permits a STORE, BODY.PEEK does not set ``\\Seen``,
  so a folder the user may only read (ACL ``lr``, RFC 4314) is enough.
"""

from __future__ import annotations

import base64
import contextlib
import imaplib
import logging
import re
import socket
import ssl
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from e2email.adapters import tls
from e2email.adapters.dns import Resolver
from e2email.core import sasl
from e2email.errors import (
    EX_NOPERM,
    AuthenticationError,
    E2emailError,
    ProtocolViolation,
    TemporaryFailure,
    TLSError,
)

logging.getLogger("imapclient").setLevel(logging.WARNING)

SocketFactory = Callable[[], socket.socket]
_APPENDUID = re.compile(rb"\[APPENDUID (\d+) ([0-9:,]+)\]", re.IGNORECASE)


class ReadOnlyFolderError(E2emailError):
    """SELECT (read-write) of a folder the server opens only ``[READ-ONLY]`` (e.g. ACL ``lr``)."""

    exit_code = EX_NOPERM


class PreauthRefused(ProtocolViolation):
    """The server greeted a STARTTLS connection with ``* PREAUTH``: TLS would be skipped."""


class _Plain(imaplib.IMAP4):
    """imaplib on a socket we connected; a PREAUTH greeting is fatal before any command."""

    def __init__(self, host: str, port: int, connect: SocketFactory, pin: str | None) -> None:
        self._connect_socket, self._pin = connect, pin
        super().__init__(host, port)

    def _create_socket(self, timeout: float | None = None) -> socket.socket:
        return self._connect_socket()

    def _get_capabilities(self) -> None:
        # imaplib sets state AUTH on "* PREAUTH" and then sends CAPABILITY: stop first.
        if self.state == "AUTH" and not isinstance(self.sock, ssl.SSLSocket):
            raise PreauthRefused(
                f"{self.host}: the server sent PREAUTH on a connection that must start "
                "TLS first (STARTTLS would be skipped); refusing to continue"
            )
        if isinstance(self.sock, ssl.SSLSocket):  # after STARTTLS: before the first command
            tls.check_pin(self.sock, self._pin, self.host)
        super()._get_capabilities()  # type: ignore[misc]


def _client_class() -> Any:
    from imapclient import IMAPClient

    class _Client(IMAPClient):  # type: ignore[misc]
        """IMAPClient on an imaplib object built by us (resolver, verified TLS)."""

        def __init__(self, factory: Callable[[], imaplib.IMAP4], endpoint: tuple[str, int],
                     implicit: bool, t: float) -> None:  # fmt: skip
            self._factory = factory
            super().__init__(endpoint[0], endpoint[1], ssl=implicit, timeout=t)

        def _create_IMAP4(self) -> imaplib.IMAP4:
            return self._factory()

        def sasl(self, mechanism: str, answer: Callable[[bytes], bytes | None]) -> Any:
            """AUTHENTICATE (RFC 9051 6.2.2); NO raises imaplib's error, as LOGIN does."""
            return self._command_and_check("authenticate", mechanism, answer)

    return _Client


@dataclass(frozen=True)
class Fetched:
    """One message as FETCH returned it."""

    uid: int
    raw: bytes
    flags: tuple[str, ...]
    internaldate: datetime | None


@dataclass(frozen=True)
class ToAppend:
    """One message to APPEND, with the flags and INTERNALDATE it must keep."""

    raw: bytes
    flags: tuple[str, ...]
    internaldate: datetime | None


@dataclass(frozen=True)
class Selected:
    """What SELECT/EXAMINE said: UIDVALIDITY, size, whether keywords can be stored."""

    uidvalidity: int
    exists: int
    keywords_allowed: bool


@contextmanager
def _errors(host: str, what: str) -> Iterator[None]:
    """Turn imapclient/imaplib/socket errors into E2emailError subclasses (one line)."""
    from imapclient import exceptions as imx

    try:
        yield
    except E2emailError:
        raise
    except imx.LoginError as e:
        raise AuthenticationError(f"{host}: IMAP login refused: {_text(e)}") from None
    except ssl.SSLError as e:
        raise tls.explain(e, host) from None
    except imaplib.IMAP4.readonly:  # a subclass of abort, but the connection is fine
        raise ReadOnlyFolderError(f"{host}: {what}: read-only for this account") from None
    except (imaplib.IMAP4.abort, OSError) as e:
        raise TemporaryFailure(f"{host}: IMAP connection lost during {what}: {_text(e)}") from None
    except (imx.IMAPClientError, imaplib.IMAP4.error) as e:
        raise TemporaryFailure(f"{host}: IMAP {what} failed: {_text(e)}") from None


def _text(e: BaseException) -> str:
    return " ".join(str(e).split())[:300] or type(e).__name__


class ImapSession:
    """One authenticated-TLS IMAP connection. ``open()``, ``login()``, ... ``logout()``."""

    def __init__(self, client: Any, host: str, port: int = 0) -> None:
        self._c, self.host, self.port = client, host, port
        self._c.normalise_times = False
        self._opened: object | None = None  # the view of the folder selected last

    @classmethod
    def open(
        cls,
        host: str,
        port: int,
        *,
        security: str,
        context: ssl.SSLContext,
        resolver: Resolver,
        timeout: float,
        pin: str | None = None,
    ) -> ImapSession:
        """Connect and secure the connection (implicit TLS or mandatory STARTTLS).

        ``pin`` (``sha256:<hex>``): the server certificate must also match it, or the
        connection is closed before any command is sent.
        """

        def connect() -> socket.socket:
            sock = resolver.connect(host, port, timeout)
            if security != "tls":
                return sock
            try:
                wrapped = context.wrap_socket(sock, server_hostname=host)
            except (ssl.SSLError, OSError) as e:
                sock.close()
                raise tls.explain(e, host) from None
            try:
                tls.check_pin(wrapped, pin, host)
            except BaseException:
                wrapped.close()
                raise
            return wrapped

        with _errors(host, "connect"):
            client = _client_class()(
                lambda: _Plain(host, port, connect, pin), (host, port), security == "tls", timeout
            )
        session = cls(client, host, port)
        if security != "tls":
            session._starttls(context, pin)
        return session

    def _starttls(self, context: ssl.SSLContext, pin: str | None) -> None:
        try:
            with _errors(self.host, "STARTTLS"):
                if not self._c.has_capability("STARTTLS"):
                    raise TLSError(f"{self.host}: the server does not offer STARTTLS; refusing")
                try:
                    self._c.starttls(context)
                except ssl.SSLError as e:
                    raise tls.explain(e, self.host) from None
                # Checked here whatever imapclient does after the handshake: 4.x re-reads the
                # capabilities (and _Plain checks the pin before that command), 3.0 does not.
                sock = self._c.socket()
                if not isinstance(sock, ssl.SSLSocket):
                    raise TLSError(f"{self.host}: STARTTLS did not start TLS; refusing")
                tls.check_pin(sock, pin, self.host)
        except BaseException:
            with contextlib.suppress(Exception):
                self._c.shutdown()
            raise

    @property
    def secure(self) -> bool:
        """True when the connection runs over TLS."""
        return isinstance(self._c.socket(), ssl.SSLSocket)

    def login(self, username: str, password: str) -> None:
        """LOGIN (RFC 9051 6.2.3), only ever over TLS."""
        if not self.secure:
            raise TLSError(f"{self.host}: refusing to log in without TLS")
        with _errors(self.host, "LOGIN"):
            self._c.login(username, password)

    def login_oauth(self, username: str, token: str, mechanism: str = "auto") -> str:
        """AUTHENTICATE OAUTHBEARER (RFC 7628) or XOAUTH2, only over TLS; the mechanism used.

        "auto" prefers OAUTHBEARER. A failure answer (RFC 7628 3.2.3: a challenge with the
        error as JSON) gets the dummy ``%x01`` (XOAUTH2: an empty line), never the token again.
        """
        if not self.secure:
            raise TLSError(f"{self.host}: refusing to authenticate without TLS")
        with _errors(self.host, "CAPABILITY"):
            caps = [_str(c).upper() for c in self._c.capabilities()]
        offered = {c[5:] for c in caps if c.startswith("AUTH=")}
        mech = sasl.choose(offered, mechanism, sasl.OAUTH_MECHANISMS, self.host)
        if mech == "OAUTHBEARER":
            first = sasl.oauthbearer_response(username, self.host, self.port, token)
        else:
            first = sasl.xoauth2_response(username, token)
        self._authenticate(mech, base64.b64decode(first), sasl.secret_forms(username, token))
        return mech

    def _authenticate(self, mech: str, first: bytes, secrets: list[str]) -> None:
        answers = iter([first])

        def answer(_challenge: bytes) -> bytes:
            return next(answers, b"\x01" if mech == "OAUTHBEARER" else b"")

        from imapclient import exceptions as imx

        with _errors(self.host, f"AUTHENTICATE {mech}"):
            try:
                self._c.sasl(mech, answer)
            except imaplib.IMAP4.abort:
                raise
            except (imx.IMAPClientError, imaplib.IMAP4.error) as e:
                text = sasl.scrub(_text(e), secrets)
                raise AuthenticationError(
                    f"{self.host}: IMAP {mech} authentication refused: {text}"
                ) from None

    def has(self, capability: str) -> bool:
        """True if the server advertises ``capability`` (read after TLS and login)."""
        with _errors(self.host, "CAPABILITY"):
            return bool(self._c.has_capability(capability))

    def select(self, folder: str) -> Selected:
        """SELECT a folder read-write (only for commands that change it: ``--in-place``).

        A folder the server opens ``[READ-ONLY]`` raises :class:`ReadOnlyFolderError`.
        """
        return self._open(folder, readonly=False)

    def examine(self, folder: str) -> ReadOnlyFolder:
        """EXAMINE a folder: the read-only view every command that only reads mail uses."""
        view = ReadOnlyFolder(self, folder, self._open(folder, readonly=True))
        self._opened = view
        return view

    def _open(self, folder: str, *, readonly: bool) -> Selected:
        verb = "EXAMINE" if readonly else "SELECT"
        self._opened = None
        with _errors(self.host, f"{verb} {folder}"):
            info = self._c.select_folder(folder, readonly=readonly)
        permanent = [bytes(f) for f in info.get(b"PERMANENTFLAGS", ())]
        return Selected(
            int(info.get(b"UIDVALIDITY", 0)),
            int(info.get(b"EXISTS", 0)),
            b"\\*" in permanent,
        )

    def is_open(self, view: object) -> bool:
        """True while ``view`` is the folder this session has selected."""
        return self._opened is view

    def exists(self, folder: str) -> bool:
        """True if the folder exists."""
        with _errors(self.host, "LIST"):
            return bool(self._c.folder_exists(folder))

    def create(self, folder: str) -> None:
        """CREATE and SUBSCRIBE a folder, so that mail clients show it."""
        with _errors(self.host, f"CREATE {folder}"):
            self._c.create_folder(folder)
            self._c.subscribe_folder(folder)

    def search(self, criteria: Sequence[str]) -> list[int]:
        """UID SEARCH; the UIDs in ascending order."""
        with _errors(self.host, "SEARCH"):
            return sorted(int(u) for u in self._c.search(list(criteria)))

    def fetch(self, uids: Sequence[int]) -> list[Fetched]:
        """UID FETCH the whole messages (BODY.PEEK: \\Seen is not set), flags and dates."""
        if not uids:
            return []
        with _errors(self.host, "FETCH"):
            data = self._c.fetch(list(uids), ["FLAGS", "INTERNALDATE", "BODY.PEEK[]"])
        out = []
        for uid, item in data.items():
            raw = item.get(b"BODY[]")
            if raw is None:
                continue
            flags = tuple(_str(f) for f in item.get(b"FLAGS", ()))
            out.append(Fetched(int(uid), bytes(raw), flags, item.get(b"INTERNALDATE")))
        return sorted(out, key=lambda m: m.uid)

    def fetch_headers(self, uids: Sequence[int], names: Sequence[str]) -> dict[int, bytes]:
        """Some header fields of each message (``BODY.PEEK[HEADER.FIELDS (...)]``)."""
        if not uids:
            return {}
        fields = " ".join(n.upper() for n in names)
        key = f"BODY[HEADER.FIELDS ({fields})]".encode()
        with _errors(self.host, "FETCH"):
            data = self._c.fetch(list(uids), [f"BODY.PEEK[HEADER.FIELDS ({fields})]"])
        return {int(u): bytes(v.get(key, b"")) for u, v in data.items()}

    def append(self, folder: str, items: Sequence[ToAppend]) -> list[int] | None:
        """APPEND (MULTIAPPEND when offered: one transaction); the new UIDs with UIDPLUS."""
        if not items:
            return []
        with _errors(self.host, f"APPEND to {folder}"):
            if len(items) > 1 and self._c.has_capability("MULTIAPPEND"):
                msgs = [_append_dict(i) for i in items]
                reply = self._c.multiappend(folder, msgs)
                return _appenduids(reply, len(items))
            uids: list[int] = []
            for item in items:
                reply = self._c.append(folder, item.raw, item.flags, item.internaldate)
                got = _appenduids(reply, 1)
                uids += got or []
            return uids if len(uids) == len(items) else None

    def add_flags(self, uids: Sequence[int], flags: Sequence[str]) -> None:
        """UID STORE +FLAGS.SILENT."""
        if uids:
            with _errors(self.host, "STORE"):
                self._c.add_flags(list(uids), list(flags), silent=True)

    def uid_expunge(self, uids: Sequence[int]) -> None:
        """UID EXPUNGE (RFC 4315 2.1): only these messages, never others marked \\Deleted."""
        if uids:
            with _errors(self.host, "UID EXPUNGE"):
                self._c.uid_expunge(list(uids))

    def logout(self) -> None:
        """LOGOUT and close, never raising."""
        try:
            self._c.logout()
        except Exception:  # the work is done; the connection may already be gone
            with contextlib.suppress(Exception):
                self._c.shutdown()


class ReadOnlyFolder:
    """A folder opened with EXAMINE (RFC 9051 6.3.3): SEARCH and BODY.PEEK fetches, nothing else.

    It has no method that writes, so code holding only this view cannot change the folder
    (no STORE, no EXPUNGE, no \\Seen set by a fetch, no \\Recent taken by a SELECT). Once the
    session opens another folder, the view refuses to run (it would read the wrong folder).
    """

    def __init__(self, session: ImapSession, name: str, selected: Selected) -> None:
        self._session, self.name, self.selected = session, name, selected

    def _check(self) -> ImapSession:
        if not self._session.is_open(self):
            raise E2emailError(f"{self.name} is no longer the folder open on this connection")
        return self._session

    def search(self, criteria: Sequence[str]) -> list[int]:
        """UID SEARCH; the UIDs in ascending order."""
        return self._check().search(criteria)

    def fetch(self, uids: Sequence[int]) -> list[Fetched]:
        """Whole messages with flags and INTERNALDATE (``BODY.PEEK[]``)."""
        return self._check().fetch(uids)

    def fetch_headers(self, uids: Sequence[int], names: Sequence[str]) -> dict[int, bytes]:
        """Some header fields of each message (``BODY.PEEK[HEADER.FIELDS (...)]``)."""
        return self._check().fetch_headers(uids, names)


def _append_dict(item: ToAppend) -> dict[str, Any]:
    d: dict[str, Any] = {"msg": item.raw, "flags": item.flags}
    if item.internaldate is not None:
        d["date"] = item.internaldate
    return d


def _str(flag: Any) -> str:
    return flag.decode("utf-8", "replace") if isinstance(flag, bytes) else str(flag)


def _appenduids(reply: Any, count: int) -> list[int] | None:
    """The UIDs of an APPENDUID response code (RFC 4315 3), or None without one."""
    text = reply if isinstance(reply, bytes) else str(reply).encode()
    m = _APPENDUID.search(text)
    if m is None:
        return None
    uids: list[int] = []
    for piece in m.group(2).decode().split(","):
        lo, _, hi = piece.partition(":")
        uids += range(int(lo), int(hi or lo) + 1)
    return uids if len(uids) == count else None
