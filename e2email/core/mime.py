"""MIME entities as values: content header fields plus a body of byte segments and streams.

A large attachment never has to be one Python object: its place in the body is a
:class:`Stream` segment, which the service fills with the base64 of a file while writing
(RFC 2045 6.8: 76-character lines). Everything else is bytes with CRLF line ends.

Pure: nothing here reads a file. The email package builds and parses the structure; before
anything it produced is serialised, decoded header values are checked for CR/LF
(CVE-2024-6923, security.md item 7).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser

from e2email.core.addresses import check_header_value
from e2email.errors import MessageError

SMTP_POLICY = policy.SMTP.clone(max_line_length=78)
SMTPUTF8_POLICY = policy.SMTPUTF8.clone(max_line_length=78)
PARSE_POLICY = policy.default.clone(linesep="\r\n")

STREAM_MARK = "e2email-stream-"
_TOKEN = re.compile(rb"e2email-stream-([a-z0-9]{1,64})")
MAX_LINE = 998  # RFC 5322 2.1.1, without CRLF


@dataclass(frozen=True)
class Stream:
    """A place in a body filled with the base64 of the data the service knows as ``ref``."""

    ref: str

    @property
    def token(self) -> str:
        """The placeholder text that stands for the stream while the email package works."""
        return STREAM_MARK + self.ref


Segment = bytes | Stream


@dataclass(frozen=True)
class Entity:
    """A MIME entity (RFC 2045 3): its content header fields and its body (CRLF, segments)."""

    headers: tuple[tuple[str, str], ...]
    body: tuple[Segment, ...]

    @property
    def content_type(self) -> str:
        """The Content-Type value (``text/plain`` when absent, RFC 2045 5.2)."""
        for name, value in self.headers:
            if name.lower() == "content-type":
                return value
        return "text/plain; charset=us-ascii"

    @property
    def streams(self) -> tuple[Stream, ...]:
        """The stream segments, in order."""
        return tuple(s for s in self.body if isinstance(s, Stream))


def crlf(data: bytes) -> bytes:
    """Every line end as CRLF (RFC 5322 2.1; RFC 3156 5 canonical form for signing)."""
    return re.sub(rb"\r?\n", b"\r\n", data)


def is_content_header(name: str) -> bool:
    """True for the header fields that describe the entity itself (RFC 2045 9)."""
    lower = name.lower()
    return lower.startswith("content-") or lower == "mime-version"


def check_headers(msg: Message) -> None:
    """Refuse any decoded header value in the tree that contains CR, LF or NUL (CVE-2024-6923)."""
    for part in msg.walk():
        for name, value in part.items():
            check_header_value(name, str(value))


def from_message(msg: EmailMessage, refs: Collection[str] = ()) -> Entity:
    """Serialise an email-package entity; tokens of the streams ``refs`` become Stream segments.

    Only known references are cut out, so text that merely looks like a token stays text.
    """
    check_headers(msg)
    data = msg.as_bytes(policy=SMTP_POLICY)
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        head, body = data.rstrip(b"\r\n"), b""
    headers = tuple((n, str(v)) for n, v in msg.items() if n.lower() != "mime-version")
    del head
    return Entity(headers, split_tokens(body, refs))


def split_tokens(body: bytes, refs: Collection[str]) -> tuple[Segment, ...]:
    """Cut a serialised body at the tokens of the streams ``refs``."""
    out: list[Segment] = []
    pos = 0
    for m in _TOKEN.finditer(body):
        if m.group(1).decode("ascii") not in refs:
            continue
        out.append(body[pos : m.start()])
        out.append(Stream(m.group(1).decode("ascii")))
        pos = m.end()
    out.append(body[pos:])
    return tuple(s for s in out if s != b"")


def refs_of(entity: Entity) -> set[str]:
    """The references of the entity's streams."""
    return {s.ref for s in entity.streams}


def to_message(entity: Entity) -> EmailMessage:
    """Parse an entity back into the email package (streams as their tokens)."""
    parts = [s if isinstance(s, bytes) else s.token.encode("ascii") for s in entity.body]
    raw = render_fields(list(entity.headers)) + b"".join(parts)
    msg = BytesParser(policy=PARSE_POLICY).parsebytes(raw)
    assert isinstance(msg, EmailMessage)  # noqa: S101  (PARSE_POLICY's message factory)
    return msg


def render_fields(headers: list[tuple[str, str]], *, utf8: bool = False) -> bytes:
    """Header fields with CRLF line ends and the blank line (RFC 2047/2231, or RFC 6532)."""
    pol = SMTPUTF8_POLICY if utf8 else SMTP_POLICY
    out = bytearray()
    for name, value in headers:
        stored = pol.header_store_parse(name, check_header_value(name, value))
        out += pol.fold_binary(*stored)
    return bytes(out) + b"\r\n"


def set_param(headers: Iterable[tuple[str, str]], param: str, value: str) -> list[tuple[str, str]]:
    """The header list with a Content-Type parameter added or replaced (RFC 2045 5.1)."""
    scratch = EmailMessage(policy=SMTP_POLICY)
    out: list[tuple[str, str]] = []
    found = False
    for name, text in headers:
        if name.lower() == "content-type" and not found:
            scratch["Content-Type"] = text
            scratch.set_param(param, value)
            out.append((name, str(scratch["Content-Type"])))
            found = True
        else:
            out.append((name, text))
    if not found:
        scratch["Content-Type"] = "text/plain; charset=us-ascii"
        scratch.set_param(param, value)
        out.insert(0, ("Content-Type", str(scratch["Content-Type"])))
    return out


def render(
    entity: Entity, extra: Iterable[tuple[str, str]] = (), *, utf8: bool = False
) -> list[Segment]:
    """The entity as segments: its header fields (then ``extra``), blank line, body."""
    return [render_fields([*entity.headers, *extra], utf8=utf8), *entity.body]


_FRAGILE = re.compile(rb"[ \t]\r\n|(?:^|\n)From ")


def needs_reencoding(entity: Entity) -> bool:
    """True when a body segment would not survive relays unchanged (RFC 3156 3, RFC 2045 2.7).

    8-bit data, over-long lines, trailing white space and lines starting ``From ``.
    """
    for seg in entity.body:
        if isinstance(seg, bytes) and (
            not seg.isascii()
            or _FRAGILE.search(seg) is not None
            or any(len(ln) > MAX_LINE for ln in seg.split(b"\r\n"))
        ):
            return True
    return False


def seven_bit(entity: Entity) -> Entity:
    """The entity with every leaf 7-bit safe: quoted-printable text, base64 otherwise.

    RFC 3156 5 and RFC 8551 3.1.1: what is signed must survive relays that re-encode.
    Entities that already are 7-bit come back unchanged (and are not re-parsed).
    """
    if not needs_reencoding(entity):
        return entity
    msg = to_message(entity)
    for part in msg.walk():
        if not part.is_multipart():
            _reencode_leaf(part)
    return from_message(msg, refs_of(entity))


def _reencode_leaf(part: Message) -> None:
    cte = str(part.get("Content-Transfer-Encoding", "7bit")).strip().lower()
    if cte in ("base64", "quoted-printable", "7bit") and _seven_bit_ok(part.get_payload()):
        return
    raw = part.get_payload(decode=True)
    if not isinstance(raw, bytes):
        raise MessageError("a MIME part could not be decoded")
    del part["Content-Transfer-Encoding"]
    if part.get_content_maintype() == "text":
        part["Content-Transfer-Encoding"] = "quoted-printable"
        part.set_payload(qp_encode(raw))
    else:
        part["Content-Transfer-Encoding"] = "base64"
        part.set_payload(b64_lines(raw).decode("ascii"))


def _seven_bit_ok(payload: object) -> bool:
    if not isinstance(payload, str):
        return False
    try:
        data = crlf(payload.encode("ascii"))
    except UnicodeEncodeError:
        return False
    if _FRAGILE.search(data) is not None:
        return False
    return all(len(ln) <= MAX_LINE for ln in data.split(b"\r\n"))


def qp_encode(data: bytes) -> str:
    """Quoted-printable of text bytes (RFC 2045 6.7), line ends kept as hard breaks.

    Trailing white space and a leading ``From `` are encoded too, so a signature over the
    result survives relays that strip spaces or mangle ``From`` (RFC 3156 3).
    """
    from email import quoprimime

    text = data.replace(b"\r\n", b"\n").decode("latin-1")
    encoded = quoprimime.body_encode(text, maxlinelen=76, eol="\n")
    lines = [("=46" + ln[1:]) if ln.startswith("From ") else ln for ln in encoded.split("\n")]
    return "\r\n".join(lines)


def b64_lines(data: bytes) -> bytes:
    """Base64 in 76-character CRLF lines (RFC 2045 6.8), ending with CRLF."""
    import base64

    out = bytearray()
    for i in range(0, len(data), 57):
        out += base64.b64encode(data[i : i + 57]) + b"\r\n"
    return bytes(out)
