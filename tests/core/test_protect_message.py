"""core/message.py: ready messages parsed strictly (security.md item 7), Bcc stripped."""

from __future__ import annotations

import base64

import pytest

from e2email.core import message
from e2email.errors import HeaderInjectionError, MessageError
from e2email.model import Address, Role

BOB = Address("bob", "example.test")
CAROL = Address("carol", "example.test")
DAVE = Address("dave", "example.test")

RAW = (
    b"From: Alice <alice@example.test>\n"
    b'To: "Bob, B." <bob@example.test>, team: dave@example.test;\n'
    b"Cc: undisclosed-recipients:;\n"
    b"Bcc: carol@example.test,\n"
    b"  erin@example.test\n"
    b"Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\n"
    b"Content-Type: text/plain; charset=utf-8\n"
    b"\n"
    b"body\xc3\xbc\n"
)


def test_parse_recipients_roles_and_bcc() -> None:
    ready = message.parse(RAW)
    assert ready.sender == Address("alice", "example.test")
    assert ready.to == (BOB, DAVE)
    assert ready.cc == ()
    assert ready.bcc == (CAROL, Address("erin", "example.test"))
    recips = message.recipients(ready, None)
    assert [(str(r.address), r.role) for r in recips] == [
        ("bob@example.test", Role.TO),
        ("dave@example.test", Role.TO),
        ("carol@example.test", Role.BCC),
        ("erin@example.test", Role.BCC),
    ]
    explicit = message.recipients(ready, (CAROL, BOB), (Address("zed", "example.test"),))
    assert [(r.address.local, r.role) for r in explicit] == [
        ("carol", Role.BCC),
        ("bob", Role.TO),
        ("zed", Role.BCC),  # not shown in To/Cc: blind, own copy
    ]


def test_outgoing_strips_bcc_everywhere_and_keeps_the_body() -> None:
    ready = message.parse(RAW)
    out = message.outgoing(
        ready, message_id="<x@example.test>", extra=[("Message-ID", "<x@example.test>")]
    )
    assert all(n.lower() != "bcc" for n, _ in out.headers)
    assert out.original is not None
    assert b"bcc" not in out.original.lower() and b"erin" not in out.original
    assert out.original.endswith(b"\r\n\r\nbody\xc3\xbc\r\n")
    assert b"Message-ID: <x@example.test>\r\n" in out.original
    assert out.entity.headers == (("Content-Type", 'text/plain; charset="utf-8"'),)
    assert dict(out.headers)["Subject"] == "Grüße"
    assert out.mua is None


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (
            b"From: a@example.test\nSubject: =?utf-8?q?x=0ABcc:_e@evil.test?=\n\nb\n",
            HeaderInjectionError,
        ),
        (
            b"From: a@example.test\nSubject: =?utf-8?b?eA1YLUV2aWw6IDE=?=\n\nb\n",
            HeaderInjectionError,
        ),
        (b"From: a@example.test\nTo: bob@example.test <carol@example.test>\n\nb\n", MessageError),
        (b"From: a@example.test\nTo: <bob@@example.test>\n\nb\n", MessageError),
        (b"From: a@example.test\nTo: bob@example.test\nnot a header\n\nb\n", MessageError),
        (b" continuation first\nFrom: a@example.test\n\nb\n", MessageError),
        (b"no header section at all", MessageError),
        (b'From: a@example.test\nTo: "unbalanced <bob@example.test>\n\nb\n', MessageError),
    ],
)
def test_malformed_messages_are_refused(raw: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        message.parse(raw)


PGP_MIME_BODY = (
    b"--x\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n--x\r\n"
    b"Content-Type: application/octet-stream\r\n\r\n-----BEGIN PGP MESSAGE-----\r\n\r\nhQ\r\n"
    b"-----END PGP MESSAGE-----\r\n--x--\r\n"
)
ENVELOPED_DER = base64.b64encode(bytes.fromhex("308006092a864886f70d010703a080"))
AUTH_DER = base64.b64encode(bytes.fromhex("3080060b2a864886f70d0109100117a080"))
INLINE = b"\n-----BEGIN PGP MESSAGE-----\n\nhQ\n-----END PGP MESSAGE-----\n"
PGP_TYPE = 'multipart/encrypted; protocol="application/pgp-encrypted"; boundary=x'


def fields(ctype: str) -> list[tuple[str, str]]:
    """Content fields as a mail program writes them: S/MIME bodies are base64."""
    cte = [("Content-Transfer-Encoding", "base64")] if "pkcs7" in ctype else []
    return [("Content-Type", ctype), *cte]


@pytest.mark.parametrize(
    ("ctype", "body", "kind"),
    [
        (PGP_TYPE, PGP_MIME_BODY, "encrypted"),
        ('multipart/signed; protocol="application/pgp-signature"; boundary=x', b"", "signed"),
        ("application/pkcs7-mime; smime-type=enveloped-data", ENVELOPED_DER, "encrypted"),
        ("application/pkcs7-mime; smime-type=authEnveloped-data", AUTH_DER, "encrypted"),
        ("application/pkcs7-mime; smime-type=signed-data", b"", "signed"),
        ("text/plain", INLINE, "encrypted"),
        ("text/plain", b"-----BEGIN PGP SIGNED MESSAGE-----\n", "signed"),
        ("text/plain", b"hello", None),
        ("multipart/mixed; boundary=x", b"", None),
    ],
)
def test_what_the_mail_program_already_did(ctype: str, body: bytes, kind: str | None) -> None:
    assert message.protection_of(fields(ctype), body) == kind


@pytest.mark.parametrize(
    ("ctype", "body"),
    [
        (PGP_TYPE, b"the secret, in clear\r\n"),
        (PGP_TYPE, PGP_MIME_BODY.replace(b"-----BEGIN PGP MESSAGE-----", b"plain")),
        ("multipart/encrypted; boundary=x", PGP_MIME_BODY),  # no protocol
        ("application/pkcs7-mime; smime-type=enveloped-data", base64.b64encode(b"clear text")),
        ("application/pkcs7-mime; smime-type=enveloped-data", b""),
        ("text/plain", b"\n-----BEGIN PGP MESSAGE-----\nno end, and the secret\n"),
    ],
)
def test_a_label_that_promises_ciphertext_without_it_is_refused(ctype: str, body: bytes) -> None:
    """Fail closed: such a message is passed through untouched, so a lie would leave in clear."""
    with pytest.raises(MessageError):
        message.protection_of(fields(ctype), body)


def test_strip_bcc_handles_folding_and_case() -> None:
    block = b"To: a@b.test\r\nBCC: x@y.test,\r\n  z@y.test\r\nbcc : q@y.test\r\nSubject: s\r\n"
    assert message.strip_bcc(block) == b"To: a@b.test\r\nSubject: s\r\n"
    resent = b"Resent-To: a@b.test\r\nResent-BCC: r@y.test,\r\n s@y.test\r\nX-Bcc-Note: k\r\n"
    assert message.strip_bcc(resent) == b"Resent-To: a@b.test\r\nX-Bcc-Note: k\r\n"


def test_resent_bcc_is_blind_too() -> None:
    # RFC 5322 3.6.6: Resent-Bcc is the Bcc of a resent message; like Bcc it must not reach
    # any copy, neither in the fields that get protected nor in a message sent as it is
    raw = RAW.replace(b"Subject:", b"Resent-Bcc: mallory@example.test\nSubject:")
    out = message.outgoing(message.parse(raw), message_id="<x@example.test>", extra=[])
    assert all(n.lower() not in ("bcc", "resent-bcc") for n, _ in out.headers)
    assert out.original is not None and b"mallory" not in out.original


def test_address_list_groups_quotes_and_empty_groups() -> None:
    assert message.split_address_list('"A, B" <a@x.test>, g: b@x.test, c@x.test;, u:;') == [
        '"A, B" <a@x.test>',
        "b@x.test",
        "c@x.test",
    ]
