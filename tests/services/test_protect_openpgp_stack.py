"""PGP/MIME through the real stack, read back by gpg and Sequoia in homes of their own.

Every message goes through Postfix (submission, then local delivery into the sink) before an
independent tool reads it, so "verifies" means "verifies after a real MTA handled it".
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
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
    sq_decrypt,
    status_lines,
)
from tests.support import GpgHome, fingerprint

BODY = "Hello Bob,\n\nthe numbers: ünïcödé, and a line that ends in a space \nFrom here on.\n"
SUBJECT = "Q3 figures — confidential"


@pytest.fixture
def alice(gpg_home: Callable[..., GpgHome]) -> GpgHome:
    return gpg_home(secret=["alice"], public=["bob", "carol"])


@pytest.fixture
def carol(gpg_home: Callable[..., GpgHome]) -> GpgHome:
    return gpg_home(secret=["carol"], public=["alice"])


def keyids(home: GpgHome, message: bytes) -> set[str]:
    """The key IDs of the PKESK packets, as gpg --list-packets shows them."""
    out = home.run("--list-packets", data=armored(message), check=False).stdout.decode()
    return set(re.findall(r"pubkey enc packet: .*keyid ([0-9A-F]{16})", out))


def subkey_ids(name: str) -> set[str]:
    data = json.loads(
        (Path(__file__).parents[2] / "keys-fixtures/openpgp/fixtures.json").read_text()
    )
    return {f[-16:] for f in data[name]["encryption_subkey_fingerprints"]}


def send(cli: Any, *args: str, body: str = BODY) -> Any:
    return cli(
        "send", "--from", "alice@example.test", "--subject", SUBJECT, *args, stdin=body.encode()
    )


def test_encrypted_and_signed_read_by_gpg_and_sq(
    stack: Any, tmp_path: Path, alice: GpgHome, bob: GpgHome, work: Workdir
) -> None:
    cli = make_cli(tmp_path, stack, alice.path, smime=False)
    before = stack.sink.snapshot()
    p = send(cli, "--to", "Bob <bob@example.test>")
    assert p.returncode == 0, p.stderr.decode()
    [raw] = stack.sink.wait_new(before, 1)
    outer = parse(raw)
    assert outer.get_content_type() == "multipart/encrypted"
    assert outer["Subject"] == "[...]"
    assert b"Q3 figures" not in raw and b"numbers" not in raw
    d = bob.decrypt(armored(raw))
    assert d.returncode == 0, d.stderr.decode()
    status = list(status_lines(d.stderr))
    assert "GOODMDC" in status
    assert any(s.startswith("VALIDSIG") and fingerprint("alice") in s for s in status)
    inner = parse(d.stdout)
    assert inner["Subject"] == SUBJECT
    assert inner.get_param("hp") == "cipher"
    assert "Subject: [...]" in inner.get_all("HP-Outer")
    assert inner.get_content().replace("\r\n", "\n") == BODY
    s = sq_decrypt(raw, "bob", "alice", work)
    assert s.returncode == 0, s.stderr.decode()
    assert b"Good signature" in s.stderr
    assert parse(s.stdout)["Subject"] == SUBJECT


def test_bcc_copy_is_separate_and_invisible(
    stack: Any, tmp_path: Path, alice: GpgHome, bob: GpgHome, carol: GpgHome
) -> None:
    cli = make_cli(tmp_path, stack, alice.path, smime=False)
    before = stack.sink.snapshot()
    p = send(cli, "--to", "bob@example.test", "--bcc", "carol@example.test")
    assert p.returncode == 0, p.stderr.decode()
    copies = by_recipient(stack.sink.wait_new(before, 2))
    assert set(copies) == {"bob@example.test", "carol@example.test"}  # envelope has carol
    to_copy, bcc_copy = copies["bob@example.test"], copies["carol@example.test"]
    assert keyids(bob, to_copy) & subkey_ids("bob")
    assert not keyids(bob, to_copy) & subkey_ids("carol"), "the To copy names the Bcc key"
    assert keyids(carol, bcc_copy) & subkey_ids("carol")
    assert not keyids(carol, bcc_copy) & subkey_ids("bob")
    assert outer_headers(to_copy) == outer_headers(bcc_copy)
    to_head = to_copy.split(b"\r\n\r\n", 1)[0].lower()
    assert b"carol" not in to_head and b"\nbcc:" not in to_head
    d = bob.decrypt(armored(to_copy))
    assert d.returncode == 0, d.stderr.decode()
    assert b"carol" not in d.stdout.lower()  # no Bcc inside the To copy either
    assert b"\nbcc:" not in bcc_copy.split(b"\r\n\r\n", 1)[0].lower()
    d = carol.decrypt(armored(bcc_copy))
    assert d.returncode == 0, d.stderr.decode()
    assert b"\nbcc:" not in d.stdout.lower()
    assert parse(d.stdout)["Subject"] == SUBJECT


@pytest.mark.parametrize(("sign", "to_self"), [(True, True), (False, False)])
def test_openpgp_sign_and_encrypt_to_self(
    stack: Any, tmp_path: Path, alice: GpgHome, bob: GpgHome, sign: bool, to_self: bool
) -> None:
    # contract.md [openpgp] sign / encrypt_to_self: a signature inside, a PKESK for alice
    cli = make_cli(tmp_path, stack, alice.path, smime=False)
    settings = f"[openpgp]\nsign = {str(sign).lower()}\nencrypt_to_self = {str(to_self).lower()}\n"
    cli.config.write_text(cli.config.read_text().replace("[openpgp]\n", settings))
    before = stack.sink.snapshot()
    assert send(cli, "--to", "bob@example.test").returncode == 0
    [raw] = stack.sink.wait_new(before, 1)
    assert bool(keyids(bob, raw) & subkey_ids("alice")) is to_self
    assert alice.decrypt(armored(raw)).returncode == (0 if to_self else 2)
    d = bob.decrypt(armored(raw))
    assert d.returncode == 0, d.stderr.decode()
    signed = any(s.startswith("VALIDSIG") for s in status_lines(d.stderr))
    assert signed is sign


def test_signed_only_copy_verifies_after_postfix(
    stack: Any, tmp_path: Path, alice: GpgHome, bob: GpgHome, work: Workdir
) -> None:
    cli = make_cli(tmp_path, stack, alice.path, smime=False, extra=CLEAR_OK)
    before = stack.sink.snapshot()
    p = send(cli, "--to", "plain@example.test")
    assert p.returncode == 0, p.stderr.decode()
    [raw] = stack.sink.wait_new(before, 1)
    msg = parse(raw)
    assert msg.get_content_type() == "multipart/signed"
    assert msg.get_param("micalg") == "pgp-sha256"
    assert msg["Subject"] == SUBJECT  # a signature hides nothing
    parts = split_signed(raw)
    assert parts.signed.isascii()  # 7-bit inside the signature (RFC 3156 3)
    assert re.search(rb"[ \t]\r\n", parts.signed) is None
    inner = parse(parts.signed)
    assert inner.get_param("hp") == "clear" and inner["Subject"] == SUBJECT
    assert inner.get_all("HP-Outer") is None
    sig = work.file("sig.asc", parts.signature)
    data = work.file("data", parts.signed)
    v = bob.run("--status-fd", "2", "--verify", str(sig), str(data), check=False)
    assert v.returncode == 0, v.stderr.decode()
    assert any(
        s.startswith("VALIDSIG") and fingerprint("alice") in s for s in status_lines(v.stderr)
    )
    s = work.file(
        "alice.pub",
        (Path(__file__).parents[2] / "keys-fixtures/openpgp/alice.pub.asc").read_bytes(),
    )
    v2 = _sq_verify(sig, data, s)
    assert v2.returncode == 0, v2.stderr.decode()
    tampered = work.file("data2", parts.signed.replace(b"numbers", b"NUMBERS"))
    assert bob.run("--verify", str(sig), str(tampered), check=False).returncode != 0


def _sq_verify(sig: Path, data: Path, cert: Path) -> Any:
    from tests.services.protect_helpers import run

    return run("sq", "verify", "--detached", str(sig), "--signer-cert", str(cert), str(data))


def test_unsigned_cleartext_when_signing_is_off(stack: Any, tmp_path: Path, alice: GpgHome) -> None:
    extra = CLEAR_OK + '\n[protection]\nsign_cleartext = "never"\n'
    cli = make_cli(tmp_path, stack, alice.path, smime=False, extra=extra)
    before = stack.sink.snapshot()
    p = send(cli, "--to", "plain@example.test")
    assert p.returncode == 0, p.stderr.decode()
    [raw] = stack.sink.wait_new(before, 1)
    msg = parse(raw)
    assert msg.get_content_type() == "text/plain"
    assert msg["Subject"] == SUBJECT
    assert msg.get_content().replace("\r\n", "\n") == BODY


def test_header_protection_off_keeps_the_subject_outside(
    stack: Any, tmp_path: Path, alice: GpgHome, bob: GpgHome
) -> None:
    extra = "\n[protection]\nheader_protection = false\n"
    cli = make_cli(tmp_path, stack, alice.path, smime=False, extra=extra)
    before = stack.sink.snapshot()
    assert send(cli, "--to", "bob@example.test").returncode == 0
    [raw] = stack.sink.wait_new(before, 1)
    assert parse(raw)["Subject"] == SUBJECT
    inner = parse(bob.decrypt(armored(raw)).stdout)
    assert inner.get_param("hp") is None and inner["Subject"] is None


def test_legacy_display_element_when_enabled(
    stack: Any, tmp_path: Path, alice: GpgHome, bob: GpgHome
) -> None:
    extra = "\n[protection]\nlegacy_display = true\n"
    cli = make_cli(tmp_path, stack, alice.path, smime=False, extra=extra)
    before = stack.sink.snapshot()
    assert send(cli, "--to", "bob@example.test").returncode == 0
    [raw] = stack.sink.wait_new(before, 1)
    inner = parse(bob.decrypt(armored(raw)).stdout)
    assert inner.get_param("hp-legacy-display") == "1"
    assert inner.get_content().replace("\r\n", "\n").startswith(f"Subject: {SUBJECT}\n\nHello")


def test_attachments_and_utf8_survive(
    stack: Any, tmp_path: Path, alice: GpgHome, bob: GpgHome, work: Workdir
) -> None:
    binary = bytes(range(256)) * 300
    pdf = work.file("résumé 2025.pdf", binary)
    png = work.file("pixel.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    cli = make_cli(tmp_path, stack, alice.path, smime=False)
    before = stack.sink.snapshot()
    p = send(cli, "--to", "bob@example.test", "--attach", str(pdf), "--attach", str(png))
    assert p.returncode == 0, p.stderr.decode()
    [raw] = stack.sink.wait_new(before, 1)
    inner = parse(bob.decrypt(armored(raw)).stdout)
    assert inner.get_content_type() == "multipart/mixed"
    text, att1, att2 = inner.iter_parts()
    assert text.get_content().replace("\r\n", "\n") == BODY
    assert att1.get_filename() == "résumé 2025.pdf"
    assert att1.get_content_type() == "application/pdf"
    assert att1.get_content() == binary
    assert att2.get_content_type() == "image/png" and att2.get_content().startswith(b"\x89PNG")


def test_dry_run_json_shows_the_plan(stack: Any, tmp_path: Path, alice: GpgHome) -> None:
    cli = make_cli(tmp_path, stack, alice.path, smime=False, extra=CLEAR_OK)
    before = stack.sink.snapshot()
    p = send(
        cli,
        "--dry-run",
        "--json",
        "--to",
        "bob@example.test",
        "--cc",
        "plain@example.test",
        "--bcc",
        "carol@example.test",
    )
    assert p.returncode == 0, p.stderr.decode()
    plan = {r["address"]: r for r in json.loads(p.stdout)["recipients"]}
    assert plan["bob@example.test"]["protocol"] == "openpgp"
    assert plan["bob@example.test"]["fingerprint"] == fingerprint("bob")
    assert plan["bob@example.test"]["source"] == "local"
    assert plan["carol@example.test"]["role"] == "bcc"
    assert plan["plain@example.test"]["action"] == "cleartext"
    assert stack.sink.snapshot() == before
