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
# Postfix's header_size_limit: a larger header section is cut by the first MTA anyway. The
# email package's address parser is slow on long fields (about 1 s per 40 KB of encoded words),
# so one address field is held to what a thousand recipients need.
MAX_HEADER_BYTES = 102_400
MAX_ADDRESS_FIELD_BYTES = 32_768
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
    _check_sizes(header_block)
    _check_lines(header_block)
    msg = BytesHeaderParser(policy=mime.PARSE_POLICY).parsebytes(header_block + b"\r\n")
    boxes = {name: _addresses(msg, name) for name in ADDRESS_FIELDS}
    fields = _fields(msg)
    sender = boxes["from"][0] if boxes["from"] else None
    return Ready(sender, boxes["to"], boxes["cc"], boxes["bcc"], header_block, body, tuple(fields))


def _check_sizes(block: bytes) -> None:
    if len(block) > MAX_HEADER_BYTES:
        raise MessageError(
            f"the header section is {len(block)} bytes; over {MAX_HEADER_BYTES} (Postfix's "
            "header_size_limit) it would be cut on the way"
        )
    for m in re.finditer(rb"(?im)^(from|to|cc|bcc|sender|reply-to)[ \t]*:(?:[^\r\n]|\r\n[ \t])*",
                         block):  # fmt: skip
        if len(m.group(0)) > MAX_ADDRESS_FIELD_BYTES:
            raise MessageError(
                f"the {m.group(1).decode()} field is {len(m.group(0))} bytes; the limit is "
                f"{MAX_ADDRESS_FIELD_BYTES} (send to more recipients as arguments or a list)"
            )


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
    for name, raw in msg.raw_items():
        value = _header(msg, name, raw)
        text = str(value)
        for defect in getattr(value, "defects", ()):
            if (
                isinstance(defect, email_errors.InvalidHeaderDefect)
                and name.lower() in ADDRESS_FIELDS
            ):
                raise MessageError(f"{name}: {defect}: {text[:80]!r}")
        fields.append((name, check_header_value(name, text)))
    return fields


def _header(msg: Message, name: str, raw: str) -> object:
    """The email package's parse of one field; its own crashes on odd input become ours.

    CPython's header parser raises AttributeError, IndexError... on some malformed fields
    (``From:.Alice <a@b>``): the field is refused like any other malformed one.
    """
    try:
        return msg.policy.header_fetch_parse(name, raw)
    except Exception as e:
        raise MessageError(f"{name}: unparseable field ({type(e).__name__})") from None


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
    """What the sender's mail program applied: RFC 3156, RFC 8551 or inline OpenPGP.

    "encrypted" is passed through untouched, so it is believed only when the body holds
    ciphertext in the form the label promises; a label alone raises MessageError (fail closed:
    a plaintext body under ``multipart/encrypted`` would otherwise leave unencrypted).
    """
    verdict = _labelled(content_fields, body)
    if verdict == "encrypted":
        _check_ciphertext(content_fields, body)
    return verdict


def _labelled(content_fields: list[tuple[str, str]], body: bytes) -> str | None:
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


# DER of the OIDs of EnvelopedData (1.2.840.113549.1.7.3), AuthEnvelopedData (…9.16.1.23)
_CMS_ENCRYPTED = (
    bytes.fromhex("06092a864886f70d010703"),
    bytes.fromhex("060b2a864886f70d0109100117"),
)


def _check_ciphertext(content_fields: list[tuple[str, str]], body: bytes) -> None:
    from e2email.core import reader

    head = "".join(f"{n}: {v}\r\n" for n, v in content_fields).encode("utf-8", "replace")
    env = reader.classify(head + b"\r\n" + body)
    if env.kind in (reader.Kind.PGP_MIME, reader.Kind.INLINE_PGP):
        if reader.BEGIN in env.ciphertext and reader.END in env.ciphertext:
            return
    elif env.kind is reader.Kind.SMIME and env.ciphertext[:1] == b"\x30":  # noqa: SIM102
        if any(oid in env.ciphertext[:64] for oid in _CMS_ENCRYPTED):
            return
    raise MessageError(
        "the message is labelled encrypted but its body holds no ciphertext; refusing to pass "
        "it through (let e2email encrypt it: send it unencrypted from your mail program)"
    )


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
