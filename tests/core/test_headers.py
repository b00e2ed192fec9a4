"""RFC 9788 header protection (core/headers.py), against the RFC's own appendix payloads."""

from __future__ import annotations

from email import message_from_bytes, policy

from e2email.core import headers, mime
from e2email.core.mime import Entity, Stream

FIELDS = [
    ("From", "Alice <alice@example.net>"),
    ("To", "Bob <bob@example.net>"),
    ("Bcc", "Carol <carol@example.net>"),
    ("Subject", "Dinner plans"),
    ("Keywords", "food, secret"),
    ("Comments", "not for the relays"),
    ("Date", "Fri, 21 Jan 2022 20:40:48 -0500"),
    ("Message-ID", "<text-plain-legacy-display@lhp.example>"),
    ("MIME-Version", "1.0"),
]
TEXT = Entity(
    (("Content-Type", 'text/plain; charset="us-ascii"'),),
    (b"Let's meet at Rama's Roti Shop at 8pm and go to the park\r\nfrom there.\r\n",),
)


def section(entity: Entity) -> list[tuple[str, str]]:
    return list(entity.headers)


def parsed(entity: Entity) -> object:
    data = b"".join(s for s in mime.render(entity) if isinstance(s, bytes))
    return message_from_bytes(data, policy=policy.default)


def test_hcp_baseline_obscures_subject_and_removes_keywords_and_comments() -> None:
    assert headers.hcp_baseline("Subject", "Dinner plans") == "[...]"
    assert headers.hcp_baseline("keywords", "x") is None
    assert headers.hcp_baseline("Comments", "x") is None
    assert headers.hcp_baseline("To", "Bob <bob@example.net>") == "Bob <bob@example.net>"
    outer = dict(headers.outer_fields(FIELDS))
    assert outer["Subject"] == "[...]"
    assert "Keywords" not in outer and "Comments" not in outer
    assert "Bcc" not in outer and "MIME-Version" not in outer
    assert outer["Message-ID"] == "<text-plain-legacy-display@lhp.example>"


def test_encrypted_payload_matches_rfc9788_appendix_c_3_1_2() -> None:
    """The sample's header section: every field inside, one HP-Outer per field outside."""
    rfc_fields = [
        ("Subject", "smime-signed-enc-hp-baseline"),
        ("Message-ID", "<smime-signed-enc-hp-baseline@example>"),
        ("From", "Alice <alice@smime.example>"),
        ("To", "Bob <bob@smime.example>"),
        ("Date", "Sat, 20 Feb 2021 10:09:02 -0500"),
        ("User-Agent", "Sample MUA Version 1.0"),
    ]
    entity = Entity((("Content-Type", 'text/plain; charset="utf-8"'),), (b"This is the\r\n",))
    msg = parsed(headers.payload(entity, rfc_fields, encrypted=True))
    assert msg.get_param("hp") == "cipher"  # type: ignore[attr-defined]
    for name, value in rfc_fields:
        assert msg[name] == value  # type: ignore[index]
    expected_outer = {
        "Subject: [...]",
        "Message-ID: <smime-signed-enc-hp-baseline@example>",
        "From: Alice <alice@smime.example>",
        "To: Bob <bob@smime.example>",
        "Date: Sat, 20 Feb 2021 10:09:02 -0500",
        "User-Agent: Sample MUA Version 1.0",
    }
    assert set(msg.get_all("HP-Outer")) == expected_outer  # type: ignore[attr-defined]


def test_payload_never_carries_bcc_and_records_removals_by_silence() -> None:
    fields = headers.payload_fields(TEXT, FIELDS, encrypted=True)
    names = [n.lower() for n, _ in fields]
    assert "bcc" not in names
    assert ("Keywords", "food, secret") in fields  # protected inside
    outer_lines = [v for n, v in fields if n == "HP-Outer"]
    assert not any(v.startswith(("Keywords:", "Comments:", "Bcc:")) for v in outer_lines)
    assert "Subject: [...]" in outer_lines
    assert names.count("content-type") == 1


def test_signed_only_payload_is_hp_clear_without_hp_outer() -> None:
    msg = parsed(headers.payload(TEXT, FIELDS, encrypted=False))
    assert msg.get_param("hp") == "clear"  # type: ignore[attr-defined]
    assert msg.get_param("protected-headers") == "v1"  # type: ignore[attr-defined]
    assert msg.get_all("HP-Outer") is None  # type: ignore[attr-defined]
    assert msg["Subject"] == "Dinner plans"  # type: ignore[index]


def test_hp_outer_of_a_non_ascii_field_decodes_to_name_and_value() -> None:
    fields = [("To", "Jörg Müller <j@example.net>"), ("Subject", "Grüße")]
    msg = parsed(headers.payload(TEXT, fields, encrypted=True))
    assert "To: Jörg Müller <j@example.net>" in msg.get_all("HP-Outer")  # type: ignore[attr-defined]
    assert msg["Subject"] == "Grüße"  # type: ignore[index]


def test_legacy_display_text_plain_like_rfc9788_appendix_e_1() -> None:
    entity = headers.with_legacy_display(TEXT, FIELDS)
    msg = parsed(entity)
    assert msg.get_param("hp-legacy-display") == "1"  # type: ignore[attr-defined]
    body = msg.get_content().replace("\r\n", "\n")  # type: ignore[attr-defined]
    assert body.startswith("Subject: Dinner plans\nKeywords: food, secret\nComments: not for")
    assert "\n\nLet's meet at Rama's Roti Shop" in body


def test_legacy_display_in_html_and_only_in_main_body_parts() -> None:
    alt = (
        b"--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nhello\r\n"
        b"--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><body><p>hello</p></body></html>\r\n"
        b"--b--\r\n"
    )
    mixed = (
        b"--m\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n" + alt + b"\r\n"
        b"--m\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; filename=a.txt\r\n\r\n"
        b"attached text\r\n--m\r\nContent-Type: application/octet-stream\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\ne2email-stream-abc\r\n--m--\r\n"
    )
    entity = Entity((("Content-Type", "multipart/mixed; boundary=m"),), (mixed,))
    entity = Entity(entity.headers, mime.split_tokens(mixed, {"abc"}))
    out = headers.with_legacy_display(entity, [("Subject", "<Secret> & co")])
    assert Stream("abc") in out.body  # the attachment's stream survives the re-parse
    msg = parsed(out)
    alternative, attached, _ = msg.iter_parts()  # type: ignore[attr-defined]
    plain, html = alternative.iter_parts()
    assert plain.get_content().replace("\r\n", "\n").startswith("Subject: <Secret> & co\n\nhello")
    assert plain.get_param("hp-legacy-display") == "1"
    html_text = html.get_content()
    assert (
        '<body><div class="header-protection-legacy-display"><pre>Subject: &lt;Secret&gt; &amp; co'
        in html_text
    )
    assert "Subject" not in attached.get_content()
    assert attached.get_param("hp-legacy-display") is None


def test_legacy_display_needs_something_hidden() -> None:
    assert headers.with_legacy_display(TEXT, [("From", "a@b.example")]) is TEXT
