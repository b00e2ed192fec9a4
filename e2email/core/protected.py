"""RFC 9788 on the receiving side: the decrypted copy shows the protected header fields.

The Cryptographic Payload's root carries the real header fields (RFC 9788 2.1, ``hp="cipher"``
or ``hp="clear"``); ``HP-Outer`` records what the sender left outside (2.2) and is dropped. When
a payload declares header protection, an unprotected user-facing field outside (an injected
Cc or Reply-To) is not carried into the copy (4.2, 4.10); trace fields (Received, DKIM...) are.
The older ``protected-headers="v1"`` payloads (Thunderbird, Enigmail) have no HP-Outer: their
fields replace outer fields of the same name and nothing else is dropped.

Two rules the copy keeps whatever the payload says: the original's Message-ID (a folder's
threads and our idempotency check rely on it), and the outer From when the protected From names
another address (4.4: a protected From that disagrees is a spoof signal, not an upgrade).
"""

from __future__ import annotations

import base64
import quopri
import re
from collections.abc import Sequence
from dataclasses import dataclass
from email.utils import getaddresses, quote

from e2email.core.rawmime import CRLF, Entity, Field, field, split_entity, split_multipart
from e2email.core.reader import decode_body, own_header

# User-facing fields (RFC 9787 1.1.2): shown to the user, so only protected values count.
USER_FACING = frozenset(
    {
        "from",
        "sender",
        "reply-to",
        "to",
        "cc",
        "bcc",
        "subject",
        "date",
        "message-id",
        "in-reply-to",
        "references",
        "keywords",
        "comments",
        "organization",
        "followup-to",
        "mail-followup-to",
    }
)
# Kept from outside when the payload lacks them: a copy without a Date is worse than an
# unprotected Date (Message-ID is handled on its own: the original's is always kept).
FALLBACK = frozenset({"date"})
HP_OUTER = "hp-outer"
LEGACY_CLASS = "header-protection-legacy-display"
_HEADER_LINE = re.compile(rb"^[\x21-\x39\x3b-\x7e]+:[^\r\n]*$")
_LEGACY_DIV = re.compile(
    rb"<div\s+class\s*=\s*[\"']" + LEGACY_CLASS.encode() + rb"[\"']\s*>.*?</div>\s*",
    re.IGNORECASE | re.DOTALL,
)


@dataclass(frozen=True)
class Restored:
    """The copy's header section (no structural or e2email fields) and how it was derived."""

    fields: tuple[Field, ...]
    scheme: str | None
    notes: tuple[str, ...] = ()


def scheme_of(payload: Entity) -> str | None:
    """``rfc9788`` (hp parameter, RFC 9788 2.1), ``v1`` (protected-headers="v1") or None."""
    ct = payload.content_type
    if (ct.param("hp") or "").lower() in ("cipher", "clear"):
        return "rfc9788"
    if (ct.param("protected-headers") or "").lower() == "v1":
        return "v1"
    return None


def _mailboxes(f: Field | None) -> set[str]:
    if f is None:
        return set()
    return {addr.lower() for _, addr in getaddresses([f.value]) if addr}


def restore(outer: Entity, payload: Entity) -> Restored:
    """Merge outer and protected header fields (RFC 9788 4.2-4.4)."""
    mine = [f for f in outer.fields if not f.structural and not own_header(f.name)]
    scheme = scheme_of(payload)
    if scheme is None:
        return Restored(tuple(mine), None)
    inner = [
        f
        for f in payload.fields
        if not f.structural and not own_header(f.name) and f.lname != HP_OUTER
    ]
    names = {f.lname for f in inner}
    dropped = USER_FACING - FALLBACK if scheme == "rfc9788" else frozenset()
    kept = [f for f in mine if f.lname not in names and f.lname not in dropped]
    notes: list[str] = []
    outer_id = outer.get("Message-ID")
    if outer_id is not None:
        inner = [f for f in inner if f.lname != "message-id"]
        kept.insert(0, outer_id)
    outer_from, inner_from = outer.get("From"), payload.get("From")
    if outer_from and inner_from and _mailboxes(outer_from) != _mailboxes(inner_from):
        inner = [outer_from if f.lname == "from" else f for f in inner]
        notes.append("from-mismatch")
    return Restored(tuple(kept + inner), scheme, tuple(notes))


def strip_legacy_display(entity: Entity) -> Entity:
    """Remove legacy display elements from the main body parts (RFC 9788 4.5.3)."""
    ct = entity.content_type
    if ct.type == "multipart/signed":
        return entity
    if ct.maintype == "multipart":
        mp = split_multipart(entity.body, ct.param("boundary") or "")
        every = ct.type == "multipart/alternative"
        parts = list(mp.parts)
        for i, raw in enumerate(parts if every else parts[:1]):
            parts[i] = strip_legacy_display(split_entity(raw)).to_bytes()
        if parts == list(mp.parts):
            return entity
        joined = type(mp)(mp.boundary, mp.preamble, tuple(parts), mp.epilogue).join()
        return Entity(entity.fields, joined)
    if ct.param("hp-legacy-display") != "1" or ct.type not in ("text/plain", "text/html"):
        return entity
    text = decode_body(entity)
    text = _strip_html(text) if ct.type == "text/html" else _strip_text(text)
    return Entity(_without_param(entity, "hp-legacy-display"), _encode_like(entity, text))


def _strip_text(text: bytes) -> bytes:
    """RFC 9788 4.5.3.2: leading header-like lines and the blank line after them."""
    head, sep, rest = text.partition(CRLF + CRLF)
    lines = head.split(CRLF)
    if sep and lines and all(_HEADER_LINE.match(line) for line in lines):
        return rest
    return text


def _strip_html(text: bytes) -> bytes:
    """RFC 9788 4.5.3.3: the first ``div.header-protection-legacy-display`` element."""
    return _LEGACY_DIV.sub(b"", text, count=1)


def _encode_like(entity: Entity, text: bytes) -> bytes:
    cte = entity.get("Content-Transfer-Encoding")
    encoding = cte.value.lower() if cte else "7bit"
    if encoding == "base64":
        return base64.encodebytes(text).replace(b"\n", CRLF)
    if encoding == "quoted-printable":
        return quopri.encodestring(text).replace(b"\r\n", b"\n").replace(b"\n", CRLF)
    return text


def _without_param(entity: Entity, name: str) -> tuple[Field, ...]:
    ct = entity.content_type
    params = "".join(f'; {k}="{quote(v)}"' for k, v in ct.params if k != name)
    new = field("Content-Type", ct.type + params)
    return tuple(new if f.lname == "content-type" else f for f in entity.fields)


def assemble(own: Sequence[Field], headers: Sequence[Field], body: Entity) -> bytes:
    """The copy: e2email's fields, the restored header section, then the body entity."""
    structural = [f for f in body.fields if f.structural and f.lname != "mime-version"]
    fields = [*own, *headers, field("MIME-Version", "1.0"), *structural]
    return b"".join(f.raw for f in fields) + CRLF + body.body
