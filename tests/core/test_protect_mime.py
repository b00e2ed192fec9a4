"""core/mime.py and core/compose.py: entities, streams, 7-bit canonical form, injection checks."""

from __future__ import annotations

import base64
from email import message_from_bytes, policy

import pytest

from e2email.core import compose, mime
from e2email.core.compose import Attachment, Draft, Mailbox
from e2email.core.mime import Entity, Stream
from e2email.errors import HeaderInjectionError
from e2email.model import Address

ALICE = Mailbox(Address("alice", "example.test"), "Alice")
BOB = Mailbox(Address("bob", "example.test"), "Böb")


def draft(body: str = "hello\n", **kw: object) -> Draft:
    base: dict[str, object] = {
        "sender": ALICE,
        "to": (BOB,),
        "subject": "Grüße",
        "body": body,
        "date": "Sun, 22 Nov 2026 10:00:00 +0000",
        "message_id": "<m1@example.test>",
    }
    base.update(kw)
    return Draft(**base)  # type: ignore[arg-type]


def flat(entity: Entity, fill: dict[str, bytes] | None = None) -> bytes:
    out = b""
    for seg in mime.render(entity):
        if isinstance(seg, Stream):
            data = (fill or {})[seg.ref]
            out += b"\r\n".join(base64.encodebytes(data).split(b"\n")[:-1])
        else:
            out += seg
    return out


def test_crlf_everywhere() -> None:
    assert mime.crlf(b"a\nb\r\nc\n") == b"a\r\nb\r\nc\r\n"


def test_text_part_is_7bit_when_it_can_be_and_qp_otherwise() -> None:
    plain = compose.text_part("just ascii\n")
    assert plain["Content-Transfer-Encoding"] == "7bit"
    for body in ("ünïcödé\n", "trailing space \n", "From the start\n", "x" * 1200 + "\n"):
        part = compose.text_part(body)
        assert part["Content-Transfer-Encoding"] == "quoted-printable", body[:20]
        raw = part.as_bytes()
        assert raw.isascii()
        assert b" \r\n" not in raw and b"\nFrom " not in raw
        assert part.get_content().replace("\r\n", "\n") == body


def test_draft_with_attachments_streams_their_bodies() -> None:
    d = draft(
        attachments=(
            Attachment("résumé €.pdf", "application/pdf", Stream("r1")),
            Attachment("data.bin", "application/octet-stream", Stream("r2")),
        )
    )
    entity = compose.entity(d)
    assert entity.streams == (Stream("r1"), Stream("r2"))
    data = {"r1": b"%PDF-1.7" + bytes(200), "r2": bytes(range(256))}
    msg = message_from_bytes(flat(entity, data), policy=policy.default)
    text, pdf, binary = msg.iter_parts()  # type: ignore[attr-defined]
    assert text.get_content().strip() == "hello"
    assert pdf.get_filename() == "résumé €.pdf"  # RFC 2231 encoded on the wire
    assert pdf.get_content() == data["r1"]
    assert binary.get_content() == data["r2"]
    assert flat(entity, data).isascii()


def test_injection_in_draft_fields_is_refused() -> None:
    with pytest.raises(HeaderInjectionError):
        draft(subject="hi\nBcc: evil@evil.test").visible_headers()
    with pytest.raises(HeaderInjectionError):
        compose.attachment_part(Attachment("a\r\nb.txt", "text/plain", Stream("x")))
    with pytest.raises(ValueError, match="media type"):
        compose.attachment_part(Attachment("a.txt", "text/plain\nX: y", Stream("x")))


def test_rendering_refuses_decoded_newlines_cve_2024_6923() -> None:
    with pytest.raises(HeaderInjectionError):
        mime.render_fields([("Subject", "hi\nBcc: evil@evil.test")])


def test_only_known_stream_tokens_are_cut() -> None:
    body = b"text e2email-stream-abc text e2email-stream-zzz end"
    assert mime.split_tokens(body, {"abc"}) == (
        b"text ",
        Stream("abc"),
        b" text e2email-stream-zzz end",
    )


def test_seven_bit_reencodes_only_what_needs_it() -> None:
    eight = (
        b"--b\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        b"gr\xc3\xbc\xc3\x9fe \r\nFrom here\r\n"
        b"--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n"
        b"\x00\x01\xff\xfe\r\n"
        b"--b\r\nContent-Type: text/plain\r\n\r\nfine\r\n--b--\r\n"
    )
    entity = Entity((("Content-Type", "multipart/mixed; boundary=b"),), (eight,))
    out = mime.seven_bit(entity)
    data = flat(out)
    assert data.isascii() and b" \r\n" not in data and b"\nFrom " not in data
    text, binary, fine = message_from_bytes(data, policy=policy.default).iter_parts()  # type: ignore[attr-defined]
    assert text["Content-Transfer-Encoding"] == "quoted-printable"
    assert text.get_content().replace("\r\n", "\n") == "grüße \nFrom here"
    assert binary["Content-Transfer-Encoding"] == "base64"
    assert binary.get_content() == b"\x00\x01\xff\xfe"
    assert fine["Content-Transfer-Encoding"] is None
    ascii_entity = Entity((("Content-Type", "text/plain"),), (b"all fine\r\n",))
    assert mime.seven_bit(ascii_entity) is ascii_entity


def test_set_param_adds_to_content_type() -> None:
    out = mime.set_param([("Content-Type", "text/plain; charset=utf-8")], "hp", "cipher")
    assert out == [("Content-Type", 'text/plain; charset="utf-8"; hp="cipher"')]
    assert mime.set_param([], "hp", "clear")[0][1].startswith("text/plain")


def test_needs_utf8_only_for_non_ascii_addresses() -> None:
    assert not compose.needs_utf8([("To", "Böb <bob@example.test>")])
    assert compose.needs_utf8([("To", "Jörg <jörg@example.test>")])
    assert not compose.needs_utf8([("Subject", "jörg@example.test")])
