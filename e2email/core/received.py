"""Received trace fields (RFC 5321 4.4) -> the hops a message took, and whether each used TLS.

Pure. The ``with`` protocol names of RFC 3848 and RFC 6531 (``ESMTPS``, ``ESMTPSA``,
``UTF8SMTPS``, ``LMTPS``...) say TLS was used; ``SMTP``/``ESMTP``/``ESMTPA`` say it was not,
unless the header carries TLS details anyway (sendmail, Exchange and Gmail put
``version=TLS1_3``-style comments next to the protocol). Anything else is reported as not
knowable from the header. Headers are the receiving servers' claims: every hop below the
first one written by a server the reader trusts could have been forged by the sender.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Literal

Tls = Literal["yes", "no", "unknown"]

TLS_PROTOCOLS = frozenset(
    {"ESMTPS", "ESMTPSA", "UTF8SMTPS", "UTF8SMTPSA", "LMTPS", "LMTPSA", "UTF8LMTPS", "UTF8LMTPSA"}
)
CLEAR_PROTOCOLS = frozenset(
    {"SMTP", "ESMTP", "ESMTPA", "UTF8SMTP", "UTF8SMTPA", "LMTP", "LMTPA", "UTF8LMTP", "UTF8LMTPA"}
)
LOCAL_PROTOCOLS = frozenset({"LOCAL", "LMTP", "LMTPA", "LMTPS", "LMTPSA"})
CLAUSES = ("from", "by", "via", "with", "id", "for")

_VERSION = re.compile(
    r"\b(TLS ?v?1[._]?[0-3]|TLSv1/SSLv3|SSLv3)\b|version=(TLS[A-Za-z0-9._/]*)", re.IGNORECASE
)
_CIPHER = re.compile(r"cipher[= ]+([A-Za-z0-9_-]+)", re.IGNORECASE)
_TLS_HINT = re.compile(r"\busing TLS|version=TLS|\bTLS ?v?1[._]?[0-3]\b|\btls [A-Z0-9_]+_", re.I)
_IP = re.compile(r"\[(?:IPv6:)?([0-9A-Fa-f:.]+)\]")


@dataclass(frozen=True)
class Hop:
    """One handover: who gave the message to whom, how, and whether TLS protected it."""

    number: int
    from_text: str | None
    from_ip: str | None
    by: str | None
    protocol: str | None
    tls: Tls
    tls_version: str | None
    cipher: str | None
    date: datetime | None
    note: str


def _tokens(text: str) -> list[tuple[str, str]]:
    """Split a header into ("word", w), ("comment", c) and ("angle", a) tokens."""
    out: list[tuple[str, str]] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
        elif ch == "(":
            depth, j = 0, i
            while j < n:
                depth += {"(": 1, ")": -1}.get(text[j], 0)
                j += 1 if text[j] != "\\" else 2
                if depth == 0:
                    break
            out.append(("comment", text[i + 1 : j - 1]))
            i = j
        elif ch == "<":
            j = text.find(">", i)
            j = n if j < 0 else j + 1
            out.append(("angle", text[i:j]))
            i = j
        else:
            j = i
            while j < n and not text[j].isspace() and text[j] not in "(<":
                j += 1
            out.append(("word", text[i:j]))
            i = j
    return out


@dataclass
class _Clause:
    value: str = ""
    comments: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)

    def text(self) -> str:
        return " ".join([*self.extra, *self.comments])


def _clauses(text: str) -> dict[str, _Clause]:
    """Clause keyword -> its value, the comments and further words that follow it."""
    found: dict[str, _Clause] = {}
    current: _Clause | None = None
    for kind, value in _tokens(text):
        if kind == "word" and value.lower() in CLAUSES and value.lower() not in found:
            current = found[value.lower()] = _Clause()
        elif current is None:
            continue
        elif kind == "comment":
            current.comments.append(value)
        elif not current.value:
            current.value = value
        else:
            current.extra.append(value)
    return found


def _protocol(clause: _Clause | None) -> str | None:
    """The ``with`` value; "Microsoft SMTP Server" style names keep their words."""
    if clause is None or not clause.value:
        return None
    words = [clause.value]
    for word in clause.extra:
        if word.lower() in ("id", "for") or not word.isalpha():
            break
        words.append(word)
    return " ".join(words)


def _evidence(clauses: dict[str, _Clause]) -> str:
    """Text that may carry TLS details, without what the client chose (HELO, its name)."""
    parts = []
    for name, clause in clauses.items():
        if name == "from":
            parts += clause.comments[1:] + clause.extra
        else:
            parts.append(clause.text())
    return " ".join(parts)


def parse_received(value: str, number: int = 0) -> Hop:
    """One Received field value (unfolded or not) -> a Hop (RFC 5321 4.4, RFC 3848)."""
    text = " ".join(value.split())
    body, _, date_text = text.rpartition(";") if ";" in text else (text, "", "")
    clauses = _clauses(body)
    frm, by = clauses.get("from"), clauses.get("by")
    protocol = _protocol(clauses.get("with"))
    from_text = from_ip = None
    if frm is not None and frm.value:
        first = frm.comments[:1]
        from_text = " ".join([frm.value, *(f"({c})" for c in first)])
        match = _IP.search(from_text)
        from_ip = match.group(1) if match else None
    tls, version, cipher, note = _tls_of(protocol, _evidence(clauses))
    by_host = by.value or None if by is not None else None
    return Hop(
        number, from_text, from_ip, by_host, protocol, tls, version, cipher, _date(date_text), note
    )


def _tls_of(protocol: str | None, text: str) -> tuple[Tls, str | None, str | None, str]:
    version_match = _VERSION.search(text)
    version = (version_match.group(1) or version_match.group(2)) if version_match else None
    cipher_match = _CIPHER.search(text)
    cipher = cipher_match.group(1) if cipher_match else None
    proto = (protocol or "").upper()
    if proto in TLS_PROTOCOLS or _TLS_HINT.search(text):
        note = "TLS (the header does not say whether the certificate was verified)"
        if proto in LOCAL_PROTOCOLS:
            note = "local delivery (LMTP) over TLS"
        return "yes", version, cipher, note
    if proto in LOCAL_PROTOCOLS:
        return "unknown", None, None, "local delivery (LMTP or local): not over the open network"
    if proto in CLEAR_PROTOCOLS:
        return "no", None, None, f"no TLS: {protocol} is the protocol name for cleartext SMTP"
    if not protocol:
        return "unknown", None, None, "no 'with' clause: cannot tell whether TLS was used"
    return "unknown", None, None, f"protocol {protocol!r} does not say whether TLS was used"


def _date(text: str) -> datetime | None:
    text = text.strip()
    if not text:
        return None
    try:
        return parsedate_to_datetime(re.sub(r"\s*\([^)]*\)\s*$", "", text))
    except (TypeError, ValueError, IndexError, OverflowError):  # year 2222222024 overflows
        return None


def trace(values: Sequence[str]) -> list[Hop]:
    """Received values as they appear in a message (newest first) -> hops, oldest first."""
    return [parse_received(v, i) for i, v in enumerate(reversed(values), 1)]
