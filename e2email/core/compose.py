"""Turning what the user asked for into MIME: the cleartext entity and the outer headers.

Pure: the date, Message-ID and boundaries come in as values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage

from e2email.core.addresses import check_header_value
from e2email.model import Address

SMTP_POLICY = policy.SMTP.clone(max_line_length=78)
SMTPUTF8_POLICY = policy.SMTPUTF8.clone(max_line_length=78)


@dataclass(frozen=True)
class Mailbox:
    """A display name and an address, as they appear in From/To/Cc."""

    address: Address
    name: str = ""

    def header(self) -> str:
        """The mailbox as header text (the email package encodes names per RFC 2047)."""
        if not self.name:
            return str(self.address)
        return (
            f'"{self.name}" <{self.address}>'
            if _needs_quotes(self.name)
            else f"{self.name} <{self.address}>"
        )


def _needs_quotes(name: str) -> bool:
    return any(c in name for c in '()<>[]:;@\\,."')


@dataclass(frozen=True)
class Draft:
    """A message to send, before any protection."""

    sender: Mailbox
    to: tuple[Mailbox, ...]
    subject: str
    body: str
    date: str
    message_id: str
    cc: tuple[Mailbox, ...] = ()
    bcc: tuple[Mailbox, ...] = ()
    extra_headers: tuple[tuple[str, str], ...] = field(default=())

    def visible_headers(self) -> list[tuple[str, str]]:
        """The headers every copy shows; never Bcc."""
        headers = [
            ("From", self.sender.header()),
            ("To", ", ".join(m.header() for m in self.to))
            if self.to
            else ("To", "undisclosed-recipients:;"),
        ]
        if self.cc:
            headers.append(("Cc", ", ".join(m.header() for m in self.cc)))
        headers += [
            ("Subject", self.subject),
            ("Date", self.date),
            ("Message-ID", self.message_id),
            *self.extra_headers,
        ]
        for name, value in headers:
            check_header_value(name, value)
        return headers


def needs_utf8(headers: list[tuple[str, str]]) -> bool:
    """True when an address is non-ASCII (RFC 6532), which needs SMTPUTF8."""
    return any(name in ("From", "To", "Cc") and not value.isascii() for name, value in headers)


def render_headers(headers: list[tuple[str, str]]) -> bytes:
    """Header block with CRLF line ends and the blank line, encoded per RFC 2047/6532."""
    pol = SMTPUTF8_POLICY if needs_utf8(headers) else SMTP_POLICY
    out = bytearray()
    for name, value in headers:
        stored = pol.header_store_parse(name, check_header_value(name, value))
        out += pol.fold_binary(*stored)
    return bytes(out) + b"\r\n"


def text_entity(body: str) -> bytes:
    """A 7-bit-safe text/plain MIME entity (quoted-printable when needed), CRLF line ends."""
    msg = EmailMessage(policy=SMTP_POLICY)
    msg.set_content(body, subtype="plain", charset="utf-8", cte=_cte(body))
    del msg["MIME-Version"]
    return msg.as_bytes()


def _cte(body: str) -> str:
    if body.isascii() and all(len(line) <= 76 for line in body.splitlines()):
        return "7bit"
    return "quoted-printable"
