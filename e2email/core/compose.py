"""Turning what the user asked for into a message: header fields and the content entity.

Pure: the date, the Message-ID and the attachments' stream references come in as values.
The result is an :class:`Outgoing`, the one shape every protection mode starts from (the
sendmail path builds the same shape from a ready message, see ``core/message.py``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from email.message import EmailMessage

from e2email.core import mime
from e2email.core.addresses import check_header_value, parse_mailbox
from e2email.core.mime import Entity, Stream
from e2email.errors import MessageError
from e2email.model import Address

SMTP_POLICY = mime.SMTP_POLICY
SMTPUTF8_POLICY = mime.SMTPUTF8_POLICY
_MIME_TYPE = re.compile(r"[A-Za-z0-9!#$&^_.+-]+/[A-Za-z0-9!#$&^_.+-]+")


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
class Attachment:
    """A file to attach: its name, media type, and the stream that carries its bytes."""

    filename: str
    content_type: str
    stream: Stream
    inline: bool = False


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
    attachments: tuple[Attachment, ...] = ()

    def visible_headers(self) -> list[tuple[str, str]]:
        """The message header fields (RFC 5322 3.6) every copy carries; never Bcc."""
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


@dataclass(frozen=True)
class Outgoing:
    """A message ready for protection: its header fields and its content entity.

    ``headers`` never contains Bcc or content header fields. ``mua`` says what the sender's
    mail program already did: ``None``, ``"signed"`` (the entity must stay byte-exact) or
    ``"encrypted"`` (``original`` is sent unchanged). ``original`` is a ready message as its
    program made it, Bcc removed; None for a message composed here.
    """

    headers: tuple[tuple[str, str], ...]
    entity: Entity
    message_id: str
    mua: str | None = None
    original: bytes | None = None

    @property
    def utf8(self) -> bool:
        """True when an address header is non-ASCII (RFC 6532 needs SMTPUTF8)."""
        return needs_utf8(list(self.headers))


ADDRESS_FIELDS = ("from", "to", "cc", "sender", "reply-to")


def needs_utf8(headers: list[tuple[str, str]]) -> bool:
    """True when an address itself is non-ASCII (RFC 6532), which needs SMTPUTF8.

    A non-ASCII display name does not: RFC 2047 encodes it.
    """
    for name, value in headers:
        if name.lower() not in ADDRESS_FIELDS or value.isascii():
            continue
        for item in split_address_list(value):
            if not str(parse_mailbox(item)[1]).isascii():
                return True
    return False


def split_address_list(value: str) -> list[str]:
    """The mailboxes of an address-list (RFC 5322 3.4), groups flattened, empty groups dropped."""
    items: list[str] = []
    current: list[str] = []
    quoted = angle = False
    escaped = False
    for ch in value:
        if escaped:
            current.append(ch)
            escaped = False
            continue
        if ch == "\\" and quoted:
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif not quoted and ch == "<":
            angle = True
        elif not quoted and ch == ">":
            angle = False
        elif not quoted and not angle and ch in ",;":
            items.append("".join(current))
            current = []
            continue
        elif not quoted and not angle and ch == ":":
            current = []  # "group-name:" opens a group (RFC 5322 3.4)
            continue
        current.append(ch)
    if quoted or angle:
        raise MessageError(f"unbalanced quote or angle bracket in address list: {value!r}")
    items.append("".join(current))
    return [i.strip() for i in items if i.strip()]


def render_headers(headers: list[tuple[str, str]]) -> bytes:
    """Header block with CRLF line ends and the blank line, encoded per RFC 2047/6532."""
    return mime.render_fields(headers, utf8=needs_utf8(headers))


def outgoing(draft: Draft) -> Outgoing:
    """The draft as an Outgoing message (RFC 5322 3.6 fields, RFC 2045/2046 content)."""
    return Outgoing(tuple(draft.visible_headers()), entity(draft), draft.message_id)


def entity(draft: Draft) -> Entity:
    """text/plain, or multipart/mixed with the attachments (RFC 2046 5.1.3)."""
    text = text_part(draft.body)
    if not draft.attachments:
        return mime.from_message(text)
    root = EmailMessage(policy=SMTP_POLICY)
    root["Content-Type"] = "multipart/mixed"
    root.attach(text)
    for att in draft.attachments:
        root.attach(attachment_part(att))
    root.set_boundary(_boundary(draft.message_id))
    return mime.from_message(root, {a.stream.ref for a in draft.attachments})


def text_part(body: str) -> EmailMessage:
    """A 7-bit-safe text/plain part (quoted-printable when needed), RFC 2045 6.7."""
    part = EmailMessage(policy=SMTP_POLICY)
    data = mime.crlf(body.encode("utf-8"))
    if data.isascii() and not mime.needs_reencoding(Entity((), (data,))):
        part["Content-Type"] = 'text/plain; charset="us-ascii"'
        part["Content-Transfer-Encoding"] = "7bit"
        part.set_payload(data.decode("ascii"))
    else:
        part["Content-Type"] = 'text/plain; charset="utf-8"'
        part["Content-Transfer-Encoding"] = "quoted-printable"
        part.set_payload(mime.qp_encode(data))
    return part


def attachment_part(att: Attachment) -> EmailMessage:
    """A base64 part whose body is the attachment's stream (RFC 2183 Content-Disposition)."""
    check_header_value("attachment file name", att.filename)
    if _MIME_TYPE.fullmatch(att.content_type) is None:
        raise ValueError(f"not a media type: {att.content_type!r}")
    part = EmailMessage(policy=SMTP_POLICY)
    part["Content-Type"] = att.content_type
    part.set_param("name", att.filename)
    disposition = "inline" if att.inline else "attachment"
    part.add_header("Content-Disposition", disposition, filename=att.filename)
    part["Content-Transfer-Encoding"] = "base64"
    part.set_payload(att.stream.token)
    return part


def _boundary(seed: str) -> str:
    """A boundary no base64 or quoted-printable line can contain (RFC 2046 5.1.1)."""
    token = re.sub(r"[^A-Za-z0-9]", "", seed)[:24] or "x"
    return f"=_e2email_{token}_="
