"""``send --message``: ready RFC 5322 messages, parsed strictly, protected, Bcc removed.

Messages a mail program already signed or encrypted (made here by gpg itself) go out
untouched; everything is checked in what Postfix delivered.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import pytest

from tests.services.protect_helpers import (
    CLEAR_OK,
    Workdir,
    armored,
    by_recipient,
    make_cli,
    outer_headers,
    parse,
    split_signed,
    status_lines,
)
from tests.support import GpgHome, fingerprint

HTML = "<html><body><p>Gr\u00fc\u00dfe, <b>Bob</b> <img src='cid:logo@x'></p></body></html>"
LONG = "x" * 1200


def ready(*, bcc: str = "Carol <carol@example.test>", extra: str = "") -> bytes:
    """A message as a MUA writes it: 8-bit UTF-8, alternative + related, LF line ends."""
    png = base64.encodebytes(b"\x89PNG\r\n\x1a\n" + bytes(64)).decode()
    text = f"""\
From: Alice <alice@example.test>
To: =?utf-8?q?B=C3=B6b?= <bob@example.test>
Bcc: {bcc}
Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe_aus_K=C3=B6ln?=
Message-ID: <ready-1@example.test>
{extra}MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="alt"

--alt
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

Grüße, Bob. A long line follows.
{LONG}

--alt
Content-Type: multipart/related; boundary="rel"

--rel
Content-Type: text/html; charset=utf-8
Content-Transfer-Encoding: 8bit

{HTML}
--rel
Content-Type: image/png
Content-ID: <logo@x>
Content-Transfer-Encoding: base64

{png}
--rel--

--alt--
"""
    return text.encode("utf-8")


@pytest.fixture
def alice(gpg_home: Callable[..., GpgHome]) -> GpgHome:
    return gpg_home(secret=["alice"], public=["bob", "carol"])


def test_ready_message_encrypted_bcc_removed(
    stack: Any, tmp_path: Any, alice: GpgHome, bob: GpgHome, gpg_home: Callable[..., GpgHome]
) -> None:
    carol = gpg_home(secret=["carol"], public=["alice"])
    cli = make_cli(tmp_path, stack, alice.path, smime=False)
    eml = tmp_path / "draft.eml"
    eml.write_bytes(ready())
    before = stack.sink.snapshot()
    p = cli("send", "--message", str(eml))
    assert p.returncode == 0, p.stderr.decode()
    copies = by_recipient(stack.sink.wait_new(before, 2))
    assert set(copies) == {"bob@example.test", "carol@example.test"}
    assert outer_headers(copies["bob@example.test"]) == outer_headers(copies["carol@example.test"])
    for who, home in (("bob@example.test", bob), ("carol@example.test", carol)):
        raw = copies[who]
        assert b"\nbcc:" not in raw.lower() and parse(raw)["Subject"] == "[...]"
        d = home.decrypt(armored(raw))
        assert d.returncode == 0, d.stderr.decode()
        assert b"\nbcc:" not in d.stdout.lower()
        inner = parse(d.stdout)
        assert inner["Subject"] == "Grüße aus Köln"
        assert inner["Message-ID"] == "<ready-1@example.test>"
        assert inner.get_content_type() == "multipart/alternative"
        plain, related = inner.iter_parts()
        assert LONG in plain.get_content()
        html, image = related.iter_parts()
        assert html.get_content().strip() == HTML
        assert image["Content-ID"] == "<logo@x>" and image.get_content().startswith(b"\x89PNG")
    to_copy = copies["bob@example.test"]
    assert b"carol" not in to_copy.lower()


def test_ready_message_from_stdin_gets_date_and_message_id(
    stack: Any, tmp_path: Any, alice: GpgHome, bob: GpgHome
) -> None:
    cli = make_cli(tmp_path, stack, alice.path, smime=False)
    raw = b"From: alice@example.test\nTo: bob@example.test\nSubject: hi\n\nplain body\n"
    before = stack.sink.snapshot()
    p = cli("send", "--message", "-", stdin=raw)
    assert p.returncode == 0, p.stderr.decode()
    [got] = stack.sink.wait_new(before, 1)
    outer = parse(got)
    assert outer["Date"] and outer["Message-ID"]
    inner = parse(bob.decrypt(armored(got)).stdout)
    assert inner["Message-ID"] == outer["Message-ID"] and inner["Subject"] == "hi"
    assert inner.get_content().strip() == "plain body"


@pytest.mark.parametrize(
    ("header", "needle"),
    [
        ("Subject: =?utf-8?q?hi=0ABcc:_evil@evil.test?=", b"line break"),
        ("Subject: =?utf-8?q?hi=0D=0AX-Evil:_1?=", b"line break"),
        ("Cc: evil@evil.test <bob@example.test>", b"evil"),
        ("Cc: bob@example.test, <not an address>", b"not a valid mail address"),
        ("X-Bad Header: no colon here", b"not a header field"),
    ],
)
def test_malformed_ready_message_is_65_and_nothing_sent(
    stack: Any, tmp_path: Any, alice: GpgHome, header: str, needle: bytes
) -> None:
    cli = make_cli(tmp_path, stack, alice.path, smime=False)
    raw = f"From: alice@example.test\nTo: bob@example.test\n{header}\n\nbody\n".encode()
    before = stack.sink.snapshot()
    p = cli("send", "--message", "-", stdin=raw)
    assert p.returncode == 65, p.stderr.decode()
    assert needle in p.stderr
    assert len(p.stderr.decode().strip().splitlines()) == 1
    assert stack.sink.snapshot() == before


def test_message_already_encrypted_by_the_mua_passes_unchanged(
    stack: Any, tmp_path: Any, alice: GpgHome, bob: GpgHome
) -> None:
    armor = alice.run(
        "--armor",
        "--encrypt",
        "--recipient",
        fingerprint("bob"),
        data=b"Content-Type: text/plain\r\n\r\nsecret\r\n",
    ).stdout
    body = (
        "--enc\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n\r\n"
        "--enc\r\nContent-Type: application/octet-stream\r\n\r\n"
        + armor.decode()
        + "\r\n--enc--\r\n"
    )
    head = (
        "From: alice@example.test\r\nTo: bob@example.test, nokey@example.test\r\n"
        "Bcc: carol@example.test\r\nSubject: already done\r\nDate: Sun, 1 Jun 2025 10:00:00 +0000\r\n"
        "Message-ID: <mua@example.test>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/encrypted; protocol="application/pgp-encrypted"; boundary="enc"\r\n'
    )
    raw = (head + "\r\n" + body).encode()
    cli = make_cli(
        tmp_path, stack, alice.path, smime=False, extra='\n[policy]\nencrypt = "required"\n'
    )
    before = stack.sink.snapshot()
    p = cli("send", "--message", "-", "--json", stdin=raw)
    assert p.returncode == 0, p.stderr.decode()
    copies = by_recipient(stack.sink.wait_new(before, 3))
    expected = lf(raw.replace(b"Bcc: carol@example.test\r\n", b""))
    assert set(copies) == {"bob@example.test", "nokey@example.test", "carol@example.test"}
    for got in copies.values():  # byte for byte after what Postfix prepends (Maildir: LF)
        assert lf(got).split(b"\nFrom: ", 1)[1] == expected.split(b"From: ", 1)[1]
    d = bob.decrypt(armored(copies["bob@example.test"]))
    assert d.returncode == 0 and b"secret" in d.stdout


def _mua_signed(alice: GpgHome) -> bytes:
    part = b"Content-Type: text/plain; charset=us-ascii\r\n\r\nSigned by my MUA.\r\n"
    sig = alice.run("--armor", "--detach-sign", "--digest-algo", "SHA256", data=part).stdout
    return (
        b"From: alice@example.test\r\nTo: plain@example.test\r\nSubject: signed by me\r\n"
        b"MIME-Version: 1.0\r\n"
        b'Content-Type: multipart/signed; micalg=pgp-sha256; protocol="application/pgp-signature"; boundary="s"\r\n'
        b"\r\n--s\r\n"
        + part
        + b"\r\n--s\r\nContent-Type: application/pgp-signature\r\n\r\n"
        + sig
        + b"\r\n--s--\r\n"
    )


def test_message_signed_by_the_mua_is_untouched_in_clear_and_encrypted_to_keys(
    stack: Any, tmp_path: Any, alice: GpgHome, bob: GpgHome, work: Workdir
) -> None:
    raw = _mua_signed(alice).replace(
        b"To: plain@example.test", b"To: plain@example.test, bob@example.test"
    )
    cli = make_cli(tmp_path, stack, alice.path, smime=False, extra=CLEAR_OK)
    before = stack.sink.snapshot()
    p = cli("send", "--message", "-", stdin=raw)
    assert p.returncode == 0, p.stderr.decode()
    copies = by_recipient(stack.sink.wait_new(before, 2))
    clear = copies["plain@example.test"]
    body = lf(raw.split(b"\r\n\r\n", 1)[1])
    assert lf(clear).endswith(body)  # the body exactly as the mail program made it
    assert parse(clear)["Subject"] == "signed by me"
    assert verify(bob, split_signed(clear), work)
    d = bob.decrypt(armored(copies["bob@example.test"]))
    assert d.returncode == 0, d.stderr.decode()
    assert not any(s.startswith("VALIDSIG") for s in status_lines(d.stderr))  # not signed twice
    assert lf(d.stdout).endswith(body)
    assert verify(bob, split_signed(d.stdout), work)


def lf(data: bytes) -> bytes:
    """LF line ends (Postfix's Maildir delivery stores LF)."""
    return data.replace(b"\r\n", b"\n")


def verify(home: GpgHome, parts: Any, work: Workdir) -> bool:
    """gpg --verify of a detached signature over the exact signed bytes."""
    sig = work.file("sig.asc", parts.signature)
    data = work.file("data", parts.signed)
    return home.run("--verify", str(sig), str(data), check=False).returncode == 0


def test_8bit_ready_message_signed_in_clear_survives_postfix(
    stack: Any, tmp_path: Any, alice: GpgHome, bob: GpgHome, work: Workdir
) -> None:
    raw = ready(bcc="plain2@example.test").replace(b"bob@example.test", b"plain@example.test")
    cli = make_cli(
        tmp_path,
        stack,
        alice.path,
        smime=False,
        extra=CLEAR_OK
        + '\n[policy.recipients."plain2@example.test"]\nencrypt = "never"\ntransport_floor = "unknown"\n',
    )
    before = stack.sink.snapshot()
    p = cli("send", "--message", "-", stdin=raw)
    assert p.returncode == 0, p.stderr.decode()
    for got in stack.sink.wait_new(before, 2):
        assert b"\nbcc:" not in got.lower()
        parts = split_signed(got)
        assert parts.signed.isascii(), [
            ln for ln in parts.signed.split(b"\r\n") if not ln.isascii()
        ][:3]
        assert verify(bob, parts, work)
        inner = parse(parts.signed)
        assert inner["Subject"] == "Grüße aus Köln" and inner.get_param("hp") == "clear"
        plain = next(inner.iter_parts())
        assert "Grüße, Bob" in plain.get_content() and LONG in plain.get_content()
