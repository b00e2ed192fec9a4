"""RFC 3156 framing (core/pgpmime.py): what a MIME parser sees, and the exact signed bytes."""

from __future__ import annotations

from email import message_from_bytes, policy

from e2email.core import compose, pgpmime

HEAD = compose.render_headers([("From", "a@example.test"), ("Subject", "[...]")])


def test_encrypted_framing_is_rfc3156_section_4() -> None:
    boundary = "=_e2email_abc"
    ctype = pgpmime.encrypted_content_type(boundary)
    header = compose.render_headers(
        [("From", "a@example.test"), ("MIME-Version", "1.0"), ("Content-Type", ctype)]
    )
    armored = b"-----BEGIN PGP MESSAGE-----\n\nabc\n-----END PGP MESSAGE-----\n"
    data = pgpmime.encrypted_framing(header, boundary).wrap(armored)
    assert b"\n" not in data.replace(b"\r\n", b"")  # CRLF only
    msg = message_from_bytes(data, policy=policy.default)
    assert msg.get_content_type() == "multipart/encrypted"
    assert msg.get_param("protocol") == "application/pgp-encrypted"
    version, body = msg.iter_parts()  # type: ignore[attr-defined]
    assert version.get_content_type() == "application/pgp-encrypted"
    assert version.get_payload(decode=True).strip() == b"Version: 1"
    assert body.get_content_type() == "application/octet-stream"
    assert body.get_content().replace(b"\r\n", b"\n") == armored


def test_signed_framing_keeps_the_signed_bytes_exact() -> None:
    boundary = "=_e2email_sig"
    entity = b"Content-Type: text/plain\r\n\r\nline one\r\nline two\r\n"
    signature = b"-----BEGIN PGP SIGNATURE-----\n\nxyz\n-----END PGP SIGNATURE-----\n"
    header = compose.render_headers(
        [("MIME-Version", "1.0"), ("Content-Type", pgpmime.signed_content_type(boundary))]
    )
    framing = pgpmime.signed_framing(boundary)
    data = header + framing.wrap(entity, pgpmime.signature_part(signature))
    body = data.split(b"\r\n\r\n", 1)[1]
    start = body.index(b"--" + boundary.encode() + b"\r\n") + len(boundary) + 4
    end = body.index(b"\r\n--" + boundary.encode() + b"\r\n", start)
    assert body[start:end] == entity  # RFC 1847 2.1: the CRLF before the boundary is not signed
    msg = message_from_bytes(data, policy=policy.default)
    assert msg.get_content_type() == "multipart/signed"
    assert msg.get_param("micalg") == "pgp-sha256"
    assert msg.get_param("protocol") == "application/pgp-signature"
    _, sig = msg.iter_parts()  # type: ignore[attr-defined]
    assert sig.get_content_type() == "application/pgp-signature"
    assert b"-----END PGP SIGNATURE-----\r\n--" + boundary.encode() + b"--\r\n" in data
