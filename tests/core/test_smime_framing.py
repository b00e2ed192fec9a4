"""RFC 8551 framing (core/smime.py): header fields and base64 around CMS DER."""

from __future__ import annotations

import base64
from email import message_from_bytes, policy

import pytest

from e2email.core import compose, smime


def test_enveloped_message_parses_as_pkcs7_mime() -> None:
    der = bytes(range(256)) * 3
    header = compose.render_headers(
        [("From", "a@example.test"), ("MIME-Version", "1.0"), *smime.enveloped_fields()]
    )
    body = smime.base64_body(der)
    assert all(len(line) <= 76 for line in body.split(b"\r\n"))
    msg = message_from_bytes(header + body, policy=policy.default)
    assert msg.get_content_type() == "application/pkcs7-mime"
    assert msg.get_param("smime-type") == "enveloped-data"
    assert msg.get_filename() == "smime.p7m"
    assert msg.get_content() == der
    auth = dict(smime.enveloped_fields(smime.AUTH_ENVELOPED))
    assert "smime-type=authEnveloped-data" in auth["Content-Type"]
    with pytest.raises(ValueError, match="not an encrypted"):
        smime.enveloped_fields("signed-data")


def test_detached_signature_framing() -> None:
    boundary = "=_e2email_s"
    entity = b"Content-Type: text/plain\r\n\r\nhello\r\n"
    signature = b"\x30\x82\x01\x00" + bytes(256)
    header = compose.render_headers([("Content-Type", smime.signed_content_type(boundary))])
    data = header + smime.signed_framing(boundary).wrap(entity, smime.base64_body(signature))
    msg = message_from_bytes(data, policy=policy.default)
    assert msg.get_content_type() == "multipart/signed"
    assert msg.get_param("protocol") == "application/pkcs7-signature"
    assert msg.get_param("micalg") == "sha-256"
    first, sig = msg.iter_parts()  # type: ignore[attr-defined]
    assert first.get_content().replace("\r\n", "\n") == "hello\n"
    assert sig.get_content_type() == "application/pkcs7-signature"
    assert base64.b64decode(sig.get_payload()) == signature


def test_literal_fields_keep_rfc8551_spelling() -> None:
    block = smime.literal_fields(smime.enveloped_fields())
    assert block.startswith(
        b"Content-Type: application/pkcs7-mime;\r\n smime-type=enveloped-data;\r\n"
        b' name="smime.p7m"\r\n'
    )
    signed = smime.literal_fields([("Content-Type", smime.signed_content_type("=_b"))])
    assert b"micalg=sha-256;" in signed and all(len(ln) <= 78 for ln in signed.split(b"\r\n"))
    msg = message_from_bytes(block + b"\r\nAAAA\r\n", policy=policy.default)
    assert msg.get_param("smime-type") == "enveloped-data"
    with pytest.raises(ValueError, match="literal"):
        smime.literal_fields([("X", "a\r\nBcc: b")])
