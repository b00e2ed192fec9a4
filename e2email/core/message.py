"""Ready RFC 5322 messages (``send --message``, the sendmail drop-in), parsed strictly.

Every decoded header value is checked for CR/LF/NUL (CVE-2024-6923); every address in
From/To/Cc/Bcc/Sender/Reply-To is parsed by ``core/addresses.py`` (CVE-2023-27043); a line in
the header section that is not a header field is refused rather than silently starting the
body. The body is kept byte for byte (line ends made CRLF): a message the sender's mail
program already signed or encrypted is recognised and never re-encoded.

Pure: bytes in, values out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email import errors as email_errors
from email.message import Message
from email.parser import BytesHeaderParser

from e2email.core import mime
from e2email.core.addresses import check_header_value, parse_mailbox
from e2email.core.compose import Outgoing, split_address_list
from e2email.core.mime import Entity
from e2email.errors import MessageError
from e2email.model import Address, Recipient, Role

ADDRESS_FIELDS = ("from", "to", "cc", "bcc", "sender", "reply-to")
_FIELD_NAME = re.compile(rb"[!-9;-~]+")
_BCC_LINE = re.compile(rb"(?i)(?:resent-)?bcc[ \t]*:")
_BLIND = ("bcc", "resent-bcc")  # RFC 5322 3.6.3, 3.6.6: never in any copy (security.md 4)


@dataclass(frozen=True)
class Ready:
    """A parsed ready message: its recipients by header and what is to be sent."""

    sender: Address | None
    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    bcc: tuple[Address, ...]
    header_block: bytes
    body: bytes
    fields: tuple[tuple[str, str], ...]

    @property
    def has_content_type(self) -> bool:
        """True if the message declares its Content-Type (else RFC 2045 5.2's default)."""
        return any(n.lower() == "content-type" for n, _ in self.fields)

    @property
    def mua(self) -> str | None:
        """``encrypted`` or ``signed`` when the sender's mail program already protected it."""
        return protection_of(self.content_fields(), self.body)

    def content_fields(self) -> list[tuple[str, str]]:
        """The entity's own header fields (Content-*), MIME-Version dropped."""
        return [
            (n, v)
            for n, v in self.fields
            if mime.is_content_header(n) and n.lower() != "mime-version"
        ]

    def message_fields(self) -> list[tuple[str, str]]:
        """Every other header field except Bcc and Resent-Bcc, in their order."""
        return [
            (n, v)
            for n, v in self.fields
            if not mime.is_content_header(n) and n.lower() not in _BLIND
        ]


def parse(raw: bytes) -> Ready:
    """Parse a message strictly (RFC 5322 2.2 and 3.6; security.md item 7)."""
    data = mime.crlf(raw)
    header_block, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        if data.endswith(b"\r\n") and not data.startswith(b"\r\n"):
            header_block, body = data[:-2], b""
        else:
            raise MessageError("the message has no header section (no blank line after headers)")
    header_block += b"\r\n"
    _check_lines(header_block)
    msg = BytesHeaderParser(policy=mime.PARSE_POLICY).parsebytes(header_block + b"\r\n")
    boxes = {name: _addresses(msg, name) for name in ADDRESS_FIELDS}
    fields = _fields(msg)
    sender = boxes["from"][0] if boxes["from"] else None
    return Ready(sender, boxes["to"], boxes["cc"], boxes["bcc"], header_block, body, tuple(fields))


def _check_lines(block: bytes) -> None:
    """Every line is a field (``name:``) or a continuation (RFC 5322 2.2, 2.2.3)."""
    lines = block.split(b"\r\n")[:-1]
    if lines and lines[0][:1] in (b" ", b"\t"):
        raise MessageError("the message starts with a continuation line")
    for line in lines:
        if line[:1] in (b" ", b"\t"):
            continue
        name, colon, _ = line.partition(b":")
        if not colon or _FIELD_NAME.fullmatch(name.rstrip(b" \t")) is None:
            shown = line[:40].decode("ascii", "replace")
            raise MessageError(f"not a header field: {shown!r}")


def _fields(msg: Message) -> list[tuple[str, str]]:
    fields = []
    for name, value in msg.items():
        text = str(value)
        for defect in getattr(value, "defects", ()):
            if (
                isinstance(defect, email_errors.InvalidHeaderDefect)
                and name.lower() in ADDRESS_FIELDS
            ):
                raise MessageError(f"{name}: {defect}: {text[:80]!r}")
        fields.append((name, check_header_value(name, text)))
    return fields


def _addresses(msg: Message, name: str) -> tuple[Address, ...]:
    """The addresses of every ``name`` field, parsed from the raw text (RFC 5322 3.4).

    The email package's own rendering of an address field is a repaired guess; the strict
    parser reads what the sender wrote (unfolded), so nothing is silently reinterpreted.
    """
    out: list[Address] = []
    for field_name, raw in msg.raw_items():
        if field_name.lower() != name:
            continue
        text = re.sub(r"\r?\n([ \t])", r"\1", str(raw)).strip()
        for item in split_address_list(check_header_value(name, text)):
            out.append(parse_mailbox(item)[1])
    return tuple(out)


def protection_of(content_fields: list[tuple[str, str]], body: bytes) -> str | None:
    """What the sender's mail program applied: RFC 3156, RFC 8551 or inline OpenPGP."""
    ctype, params = _content_type(content_fields)
    if ctype == "multipart/encrypted":
        return "encrypted"
    if ctype == "multipart/signed":
        return "signed"
    if ctype in ("application/pkcs7-mime", "application/x-pkcs7-mime"):
        kind = params.get("smime-type", "").lower()
        return "encrypted" if kind in ("enveloped-data", "authenveloped-data") else "signed"
    if ctype == "text/plain":
        start = body.lstrip()[:40]
        if start.startswith(b"-----BEGIN PGP MESSAGE-----"):
            return "encrypted"
        if start.startswith(b"-----BEGIN PGP SIGNED MESSAGE-----"):
            return "signed"
    return None


def _content_type(fields: list[tuple[str, str]]) -> tuple[str, dict[str, str]]:
    from email.message import EmailMessage

    scratch = EmailMessage(policy=mime.SMTP_POLICY)
    for name, value in fields:
        if name.lower() == "content-type":
            scratch["Content-Type"] = value
            break
    params = {k.lower(): str(v) for k, v in scratch.get_params(header="content-type") or []}
    return scratch.get_content_type(), params


def strip_bcc(header_block: bytes) -> bytes:
    """The header section without any Bcc or Resent-Bcc field, continuation lines included
    (RFC 5322 3.6.3, 3.6.6)."""
    out = []
    skipping = False
    for line in header_block.split(b"\r\n")[:-1]:
        if line[:1] in (b" ", b"\t"):
            if not skipping:
                out.append(line)
            continue
        skipping = _BCC_LINE.match(line) is not None
        if not skipping:
            out.append(line)
    return b"".join(ln + b"\r\n" for ln in out)


def outgoing(ready: Ready, *, message_id: str, extra: list[tuple[str, str]]) -> Outgoing:
    """The ready message as an Outgoing; ``extra`` fields (Date, Message-ID) were missing.

    ``original`` is the message as the sender's program made it, Bcc removed and ``extra``
    added: what goes out when nothing is to be added (already encrypted, or cleartext).
    """
    fields = [*ready.message_fields(), *extra]
    content = ready.content_fields()
    if not ready.has_content_type:
        charset = "us-ascii" if ready.body.isascii() else "utf-8"
        content = [("Content-Type", f'text/plain; charset="{charset}"'), *content]
        if not ready.body.isascii():
            content.append(("Content-Transfer-Encoding", "8bit"))
    entity = Entity(tuple(content), (ready.body,) if ready.body else ())
    added = mime.render_fields(extra)[:-2] if extra else b""
    original = strip_bcc(ready.header_block) + added + b"\r\n" + ready.body
    return Outgoing(tuple(fields), entity, message_id, ready.mua, original)


def recipients(
    ready: Ready, explicit: tuple[Address, ...] | None, extra: tuple[Address, ...] = ()
) -> tuple[Recipient, ...]:
    """Envelope recipients with their roles, each once (To before Cc before Bcc).

    ``explicit`` None: To, Cc and Bcc of the message (sendmail ``-t``). Any address given
    that the To or Cc field does not show is blind: it gets a copy of its own.
    """

    def role(a: Address) -> Role:
        if any(a.matches(b) for b in ready.to):
            return Role.TO
        if any(a.matches(b) for b in ready.cc):
            return Role.CC
        return Role.BCC

    base = (*ready.to, *ready.cc, *ready.bcc) if explicit is None else explicit
    seen: dict[str, Recipient] = {}
    for a in (*base, *extra):
        seen.setdefault(str(a).lower(), Recipient(a, role(a)))
    return tuple(seen.values())
