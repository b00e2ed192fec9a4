"""RFC 9788 header protection: the real header fields travel inside the cryptographic payload.

For an encrypted copy the payload's Content-Type carries ``hp="cipher"``, its header section
holds every message header field (Bcc never: security.md item 4) and one ``HP-Outer`` field
per field left outside (RFC 9788 2.2); the outside follows the ``hcp_baseline`` policy
(RFC 9788 3.2.1): Subject becomes ``[...]``, Keywords and Comments are removed, the rest is
copied so that the message stays deliverable and threadable. A signed-only copy carries
``hp="clear"`` and no HP-Outer. ``protected-headers="v1"`` is added too, for the clients that
implemented the draft before the RFC (Thunderbird, K-9/Thunderbird for Android).

The optional Legacy Display Element (RFC 9788 2.1.1 and 4.5) repeats the hidden user-facing
fields at the top of the main body parts, for clients that show only the outer header.

Pure: header lists and entities in, header lists and entities out.
"""

from __future__ import annotations

from collections.abc import Iterable
from email.message import EmailMessage, Message

from e2email.core import mime
from e2email.core.mime import Entity

Fields = list[tuple[str, str]]

HP_CIPHER = "cipher"
HP_CLEAR = "clear"
OBSCURED_SUBJECT = "[...]"
HP_OUTER = "HP-Outer"
LEGACY_PARAM = "hp-legacy-display"
LEGACY_CLASS = "header-protection-legacy-display"
_REMOVED = frozenset({"keywords", "comments"})
_NEVER = frozenset({"bcc", HP_OUTER.lower()})
_USER_FACING = ("Subject", "From", "To", "Cc", "Date", "Reply-To", "Keywords", "Comments")


def message_fields(headers: Iterable[tuple[str, str]]) -> Fields:
    """The non-structural header fields worth protecting: no Bcc, no Content-*/MIME-Version."""
    return [(n, v) for n, v in headers if n.lower() not in _NEVER and not mime.is_content_header(n)]


def hcp_baseline(name: str, value: str) -> str | None:
    """The outer value of one field under hcp_baseline (RFC 9788 3.2.1); None: removed."""
    lower = name.lower()
    if lower == "subject":
        return OBSCURED_SUBJECT
    if lower in _REMOVED:
        return None
    return value


def outer_fields(headers: Iterable[tuple[str, str]]) -> Fields:
    """The header fields an encrypted copy shows outside (RFC 9788 2.2, hcp_baseline)."""
    out = []
    for name, value in message_fields(headers):
        shown = hcp_baseline(name, value)
        if shown is not None:
            out.append((name, shown))
    return out


def payload_fields(
    entity: Entity, headers: Iterable[tuple[str, str]], *, encrypted: bool
) -> Fields:
    """The header section of the cryptographic payload (RFC 9788 2.1 and 2.2).

    The entity's content fields with ``hp`` set, the protected message fields, and for an
    encrypted copy one ``HP-Outer: Name: value`` per field shown outside.
    """
    fields = message_fields(headers)
    content = mime.set_param(entity.headers, "hp", HP_CIPHER if encrypted else HP_CLEAR)
    content = mime.set_param(content, "protected-headers", "v1")
    section = [*content, *fields]
    if encrypted:
        section += [(HP_OUTER, f"{n}: {v}") for n, v in outer_fields(fields)]
    return section


def payload(entity: Entity, headers: Iterable[tuple[str, str]], *, encrypted: bool) -> Entity:
    """The cryptographic payload: the entity with the protected header section."""
    return Entity(tuple(payload_fields(entity, headers, encrypted=encrypted)), entity.body)


def hidden_fields(headers: Iterable[tuple[str, str]]) -> Fields:
    """User-facing fields whose outer value differs or is missing (RFC 9788 4.5.1)."""
    fields = message_fields(headers)
    outer = dict((n.lower(), v) for n, v in outer_fields(fields))
    return [(n, v) for n, v in fields if n.title() in _USER_FACING and outer.get(n.lower()) != v]


def with_legacy_display(entity: Entity, headers: Iterable[tuple[str, str]]) -> Entity:
    """The entity with a Legacy Display Element in each main body part (RFC 9788 4.5.2/4.5.3).

    text/plain parts start with ``Name: value`` lines and a blank line; text/html parts with
    a ``div`` of class header-protection-legacy-display. Both get ``hp-legacy-display="1"``.
    """
    hidden = hidden_fields(headers)
    if not hidden:
        return entity
    msg = mime.to_message(entity)
    parts = main_body_parts(msg)
    if not parts:
        return entity
    for part in parts:
        _decorate(part, hidden)
    return mime.from_message(msg, mime.refs_of(entity))


def main_body_parts(msg: Message) -> list[Message]:
    """The parts a client renders as the message text (RFC 9788 4.5.1)."""
    ctype = msg.get_content_type()
    if ctype in ("text/plain", "text/html"):
        disposition = str(msg.get("Content-Disposition", "inline")).split(";")[0].strip()
        return [msg] if disposition.lower() == "inline" else []
    if ctype == "multipart/alternative":
        return [p for p in _children(msg) if p.get_content_type() in ("text/plain", "text/html")]
    if msg.get_content_maintype() == "multipart" and ctype != "multipart/signed":
        children = _children(msg)
        return main_body_parts(children[0]) if children else []
    return []


def _children(msg: Message) -> list[Message]:
    payload = msg.get_payload()
    return [p for p in payload if isinstance(p, Message)] if isinstance(payload, list) else []


def _decorate(part: Message, hidden: Fields) -> None:
    assert isinstance(part, EmailMessage)  # noqa: S101  (parsed with PARSE_POLICY)
    text = str(part.get_content())
    lines = [f"{n}: {v}" for n, v in hidden]
    if part.get_content_subtype() == "html":
        import html  # only for the legacy display of an HTML part

        element = (
            f'<div class="{LEGACY_CLASS}"><pre>' + html.escape("\n".join(lines)) + "</pre></div>"
        )
        text = _after_body_tag(text, element)
    else:
        text = "\n".join(lines) + "\n\n" + text
    keep = [
        (n, str(v)) for n, v in part.items() if n.lower() in ("content-disposition", "content-id")
    ]
    subtype = part.get_content_subtype()
    part.set_content(text, subtype=subtype, charset="utf-8", cte="quoted-printable")
    del part["MIME-Version"]
    for name, value in keep:
        del part[name]
        part[name] = value
    part.set_param(LEGACY_PARAM, "1")


def _after_body_tag(text: str, element: str) -> str:
    lower = text.lower()
    start = lower.find("<body")
    if start >= 0:
        end = lower.find(">", start)
        if end >= 0:
            return text[: end + 1] + element + text[end + 1 :]
    return element + text
