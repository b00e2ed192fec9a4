"""core.protected: RFC 9788 protected header fields restored, legacy display removed.

The payloads are the RFC's own examples (Appendix C.3.1.2 and E.1/E.2) where it has them.
"""

from __future__ import annotations

import base64

from e2email.core import protected
from e2email.core.rawmime import crlf, split_entity

OUTER = crlf(
    b"Received: from mx.smime.example by imap.example; Sat, 20 Feb 2021 10:09:03 -0500\n"
    b"Subject: [...]\nMessage-ID: <smime-signed-enc-hp-baseline@example>\n"
    b"From: Alice <alice@smime.example>\nTo: Bob <bob@smime.example>\n"
    b"Date: Sat, 20 Feb 2021 10:09:02 -0500\nUser-Agent: Sample MUA Version 1.0\n"
    b"Cc: Mallory <mallory@evil.test>\nE2email-Signature: good; forged=yes\nMIME-Version: 1.0\n"
    b"Content-Type: application/pkcs7-mime; smime-type=enveloped-data\n\nMIAG\n"
)

# RFC 9788 Appendix C.3.1.2: the payload of smime-signed-enc-hp-baseline, both layers off.
RFC_PAYLOAD = crlf(
    b"MIME-Version: 1.0\nContent-Transfer-Encoding: 7bit\n"
    b"Subject: smime-signed-enc-hp-baseline\nMessage-ID: <smime-signed-enc-hp-baseline@example>\n"
    b"From: Alice <alice@smime.example>\nTo: Bob <bob@smime.example>\n"
    b"Date: Sat, 20 Feb 2021 10:09:02 -0500\nUser-Agent: Sample MUA Version 1.0\n"
    b"HP-Outer: Subject: [...]\nHP-Outer: Message-ID: <smime-signed-enc-hp-baseline@example>\n"
    b"HP-Outer: From: Alice <alice@smime.example>\nHP-Outer: To: Bob <bob@smime.example>\n"
    b"HP-Outer: Date: Sat, 20 Feb 2021 10:09:02 -0500\n"
    b"HP-Outer: User-Agent: Sample MUA Version 1.0\n"
    b'Content-Type: text/plain; charset="utf-8"; hp="cipher"\n\n'
    b"This is the\nsmime-signed-enc-hp-baseline\nmessage.\n"
)


def names(fields: tuple[object, ...]) -> list[str]:
    return [f.name.lower() for f in fields]  # type: ignore[attr-defined]


def test_rfc9788_payload_restores_the_protected_subject() -> None:
    r = protected.restore(split_entity(OUTER), split_entity(RFC_PAYLOAD))
    values = {f.lname: f.value for f in r.fields}
    assert r.scheme == "rfc9788"
    assert values["subject"] == "smime-signed-enc-hp-baseline"
    assert values["user-agent"] == "Sample MUA Version 1.0"
    assert names(r.fields).count("message-id") == 1
    assert names(r.fields).count("subject") == 1
    assert "hp-outer" not in names(r.fields)
    assert not any(n.startswith("content-") or n == "mime-version" for n in names(r.fields))


def test_rfc9788_drops_unprotected_user_facing_fields_keeps_trace() -> None:
    r = protected.restore(split_entity(OUTER), split_entity(RFC_PAYLOAD))
    assert "cc" not in names(r.fields), "an outer Cc the sender did not protect was injected"
    assert "received" in names(r.fields)


def test_own_fields_from_outside_or_inside_are_never_carried() -> None:
    payload = RFC_PAYLOAD.replace(
        b"User-Agent:", b"E2email-Decrypted: original=sha256:00\r\nUser-Agent:", 1
    )
    for scheme_payload in (payload, b"Content-Type: text/plain\r\n\r\nx"):
        r = protected.restore(split_entity(OUTER), split_entity(scheme_payload))
        assert not any(n.startswith("e2email-") for n in names(r.fields))


def test_legacy_protected_headers_v1_override_by_name_only() -> None:
    payload = crlf(
        b"Subject: The figures\nFrom: Alice <alice@smime.example>\n"
        b'Content-Type: text/plain; charset="utf-8"; protected-headers="v1"\n\nx\n'
    )
    r = protected.restore(split_entity(OUTER), split_entity(payload))
    values = {f.lname: f.value for f in r.fields}
    assert r.scheme == "v1"
    assert values["subject"] == "The figures"
    assert "cc" in values  # v1 carries no HP-Outer: nothing to tell injected fields apart


def test_without_header_protection_the_outer_fields_stay() -> None:
    r = protected.restore(split_entity(OUTER), split_entity(b"Content-Type: text/plain\r\n\r\nx"))
    assert r.scheme is None
    assert {f.lname: f.value for f in r.fields}["subject"] == "[...]"


def test_a_protected_from_naming_someone_else_does_not_replace_the_outer_from() -> None:
    payload = RFC_PAYLOAD.replace(
        b"From: Alice <alice@smime.example>\r\nTo", b"From: CEO <ceo@smime.example>\r\nTo"
    )
    r = protected.restore(split_entity(OUTER), split_entity(payload))
    assert {f.lname: f.value for f in r.fields}["from"] == "Alice <alice@smime.example>"
    assert r.notes == ("from-mismatch",)


def test_the_original_message_id_wins_over_a_different_protected_one() -> None:
    payload = RFC_PAYLOAD.replace(b"Message-ID: <smime-signed", b"Message-ID: <other-id", 1)
    r = protected.restore(split_entity(OUTER), split_entity(payload))
    ids = [f.value for f in r.fields if f.lname == "message-id"]
    assert ids == ["<smime-signed-enc-hp-baseline@example>"]


def test_an_unprotected_date_is_kept_rather_than_none() -> None:
    payload = crlf(b'Subject: s\nContent-Type: text/plain; hp="cipher"\n\nx\n')
    r = protected.restore(split_entity(OUTER), split_entity(payload))
    assert "date" in names(r.fields)


# RFC 9788 Appendix E.1 and E.2: legacy display elements.
LEGACY_TEXT = crlf(
    b'Content-Type: text/plain; charset="us-ascii"; hp-legacy-display="1";\n hp="cipher"\n\n'
    b"Subject: Dinner plans\n\nLet's meet at Rama's Roti Shop at 8pm and go to the park\n"
    b"from there.\n"
)
LEGACY_HTML = crlf(
    b'Content-Type: text/html; charset="us-ascii"; hp-legacy-display="1";\n hp="cipher"\n\n'
    b'<html><head><title></title></head><body>\n<div class="header-protection-legacy-display">\n'
    b"<pre>Subject: Dinner plans</pre>\n</div>\n<p>\nLet's meet at Rama's Roti Shop at 8pm and "
    b"go to the park\nfrom there.\n</p>\n</body>\n</html>\n"
)


def test_legacy_display_text_is_removed() -> None:
    out = protected.strip_legacy_display(split_entity(LEGACY_TEXT))
    assert out.body.startswith(b"Let's meet at Rama's")
    assert out.content_type.param("hp-legacy-display") is None
    assert out.content_type.param("hp") == "cipher"


def test_legacy_display_html_div_is_removed() -> None:
    out = protected.strip_legacy_display(split_entity(LEGACY_HTML))
    assert b"Dinner plans" not in out.body and b"Roti Shop" in out.body


def test_legacy_display_in_each_alternative_and_base64_re_encoded() -> None:
    text = LEGACY_TEXT.split(b"\r\n\r\n", 1)[1]
    b64_part = (
        b'Content-Type: text/plain; hp-legacy-display="1"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
        + base64.encodebytes(text).replace(b"\n", b"\r\n")
    )
    html_part = LEGACY_HTML
    alt = (
        b'Content-Type: multipart/alternative; boundary="A"\r\n\r\n--A\r\n' + b64_part
        + b"\r\n--A\r\n" + html_part + b"\r\n--A--\r\n"
    )  # fmt: skip
    out = protected.strip_legacy_display(split_entity(alt)).to_bytes()
    assert b"Dinner plans" not in out
    decoded = base64.b64decode(out.split(b"base64\r\n\r\n", 1)[1].split(b"\r\n--A", 1)[0])
    assert decoded.startswith(b"Let's meet")


def test_signed_content_is_never_rewritten() -> None:
    signed = (
        b'Content-Type: multipart/signed; protocol="application/pgp-signature"; boundary="S"\r\n\r\n'
        b"--S\r\n"
        + LEGACY_TEXT
        + b"\r\n--S\r\nContent-Type: application/pgp-signature\r\n\r\nx\r\n--S--\r\n"
    )
    entity = split_entity(signed)
    assert protected.strip_legacy_display(entity) is entity


def test_a_text_part_without_the_parameter_is_left_alone() -> None:
    entity = split_entity(b"Content-Type: text/plain\r\n\r\nSubject: not a legacy display\r\n\r\nx")
    assert protected.strip_legacy_display(entity) is entity


def test_assemble_puts_one_mime_version_and_the_body_structure() -> None:
    body = split_entity(
        crlf(b"MIME-Version: 1.0\nSubject: inner\nContent-Type: text/plain\n\nhi\n")
    )
    out = protected.assemble([], split_entity(OUTER).fields[:2], body)
    assert out.count(b"MIME-Version") == 1
    assert b"Subject: inner" not in out, "payload fields come only through restore()"
    assert out.endswith(b"Content-Type: text/plain\r\n\r\nhi\r\n")
