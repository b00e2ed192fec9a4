"""The test side of IMAP: stdlib imaplib against the stack's Dovecot, independent of e2email's
own IMAP adapter, to put corpora in and to look at what ``imap decrypt`` left behind."""

from __future__ import annotations

import imaplib
import re
import textwrap
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.header import decode_header, make_header
from pathlib import Path
from typing import Any

from tests.services.imapcorpus import Sample
from tests.stack.clients import IMAP4_SSL, tls_context

BOB = "bob@example.test"


@dataclass(frozen=True)
class Msg:
    """One stored message as the server reports it."""

    uid: int
    flags: frozenset[str]
    internaldate: float
    raw: bytes

    @property
    def user_flags(self) -> frozenset[str]:
        """Flags without \\Recent, which no client can set."""
        return self.flags - {"\\Recent"}

    def header(self, name: str) -> str | None:
        """One header field's unfolded value, RFC 2047 words decoded."""
        m = re.search(
            rb"^" + re.escape(name.encode()) + rb":[ \t]*([^\r\n]*(?:\r\n[ \t][^\r\n]*)*)",
            self.raw.split(b"\r\n\r\n", 1)[0],
            re.IGNORECASE | re.MULTILINE,
        )
        if m is None:
            return None
        raw = m.group(1).replace(b"\r\n", b"").decode("utf-8", "replace")
        return str(make_header(decode_header(raw)))


@contextmanager
def imap(stack: Any, user: str = BOB) -> Iterator[imaplib.IMAP4_SSL]:
    """A logged-in imaplib connection to the stack's Dovecot (implicit TLS)."""
    conn = IMAP4_SSL(stack.imap_tls, tls_context(stack.ca_pem))
    conn.login(user, stack.users[user])
    try:
        yield conn
    finally:
        conn.logout()


def append(stack: Any, folder: str, samples: Iterable[Sample]) -> None:
    """Create ``folder`` and APPEND the samples with their flags and dates."""
    with imap(stack) as c:
        c.create(folder)
        for s in samples:
            flags = "(" + " ".join(s.flags) + ")" if s.flags else None
            typ, data = c.append(folder, flags, imaplib.Time2Internaldate(s.date), s.raw)
            assert typ == "OK", data


def messages(stack: Any, folder: str) -> list[Msg]:
    """Every message of ``folder`` with flags, INTERNALDATE and body (nothing marked \\Seen)."""
    with imap(stack) as c:
        typ, _ = c.select(folder, readonly=True)
        assert typ == "OK", folder
        typ, data = c.uid("FETCH", "1:*", "(UID FLAGS INTERNALDATE BODY.PEEK[])")
    out = []
    for item in data:
        if not isinstance(item, tuple):
            continue
        meta = item[0]
        uid = int(re.search(rb"UID (\d+)", meta).group(1))  # type: ignore[union-attr]
        flags = re.search(rb"FLAGS \(([^)]*)\)", meta).group(1).decode().split()  # type: ignore[union-attr]
        when = time.mktime(imaplib.Internaldate2tuple(meta))  # type: ignore[arg-type]
        out.append(Msg(uid, frozenset(flags), when, item[1]))
    return out


@dataclass(frozen=True)
class State:
    """What a reader must leave as it was: STATUS counters (UNSEEN, RECENT, HIGHESTMODSEQ...)
    and each message's flags and MODSEQ (RFC 7162)."""

    status: dict[str, int]
    messages: dict[int, tuple[frozenset[str], int]]


_ITEMS = (rb"UID (\d+)", rb"FLAGS \(([^)]*)\)", rb"MODSEQ \((\d+)\)")


def state(stack: Any, folder: str) -> State:
    """``folder``'s state, read without changing it (STATUS, then EXAMINE and FETCH)."""
    with imap(stack) as c:
        typ, data = c.status(folder, "(MESSAGES UNSEEN RECENT UIDNEXT UIDVALIDITY HIGHESTMODSEQ)")
        assert typ == "OK", data
        pairs = re.findall(rb"([A-Z]+) (\d+)", data[0])  # type: ignore[arg-type]
        typ, _ = c.select(folder, readonly=True)
        assert typ == "OK", folder
        typ, rows = c.uid("FETCH", "1:*", "(UID FLAGS MODSEQ)")
    messages = {}
    for row in rows:
        meta = (row[0] if isinstance(row, tuple) else row) or b""
        uid, flags, modseq = (re.search(p, meta) for p in _ITEMS)
        assert uid and flags and modseq, meta
        messages[int(uid[1])] = (frozenset(flags[1].decode().split()), int(modseq[1]))
    return State({k.decode(): int(v) for k, v in pairs}, messages)


def count(stack: Any, folder: str) -> int:
    """How many messages ``folder`` holds (STATUS, no SELECT)."""
    with imap(stack) as c:
        typ, data = c.status(folder, "(MESSAGES)")
    if typ != "OK":
        return 0
    return int(re.search(rb"MESSAGES (\d+)", data[0]).group(1))  # type: ignore[arg-type, union-attr]


def folder_exists(stack: Any, folder: str) -> bool:
    """True if LIST finds ``folder``."""
    with imap(stack) as c:
        typ, data = c.list('""', folder)
    return typ == "OK" and any(d for d in data if d)


def disk_bytes(root: Path) -> bytes:
    """Every file under ``root`` (the user's whole Dovecot storage), concatenated."""
    return b"".join(p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file())


def config(tmp: Path, stack: Any, gnupghome: Path, *, security: str = "tls", port: int = 993,
           host: str = "imap.example.test", ca: Path | None = None) -> Path:  # fmt: skip
    """A config with account ``bob`` (IMAP on the stack), bob's gpg home and S/MIME identity."""
    from tests.support import SMIME

    cfg = tmp / "config.toml"
    cfg.write_text(
        textwrap.dedent(f"""\
        [accounts.bob]
        from = ["{BOB}"]
        smtp_host = "smtp.example.test"
        username = "{BOB}"
        password_command = "printf '%s\\\\n' '{stack.users[BOB]}'"
        imap_host = "{host}"
        imap_port = {port}
        imap_security = "{security}"

        [openpgp]
        gnupghome = "{gnupghome}"

        [smime]
        certificate = "{SMIME / "bob.pem"}"
        private_key = "{SMIME / "bob.key"}"
        trust_anchors = "{SMIME / "ca.pem"}"

        [network]
        nameservers = ["{stack.nameserver}"]
        ca_file = "{ca or stack.ca_pem}"
        timeout = 10
        """)
    )
    return cfg
