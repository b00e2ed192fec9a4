"""S/MIME with NSS, the engine Thunderbird reads it with: e2email's mail through Postfix read by
``cmsutil``, and mail NSS wrote read by ``e2email imap decrypt``.

cmsutil exits 0 for a bad signature too; every verdict here is the signer status it prints.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.interop.engines import Nss, strip_nss_header
from tests.interop.readback import decrypted_by_e2email
from tests.services import imapcorpus as corpus
from tests.services.protect_helpers import CLEAR_OK, make_cli, p7m, parse, split_signed
from tests.support import SMIME, Cli, GpgHome

pytestmark = pytest.mark.stack

BODY = "Hello Bob,\n\nread by NSS: NSS-MARKER. Grüße.\n"
SUBJECT = "Board minutes — hidden subject"
NSS = "NSS 3.87 cmsutil"


@pytest.fixture(scope="module")
def bob_nss() -> Iterator[Nss]:
    db = Nss("bob")
    yield db
    db.close()


def sent(stack: Any, cli: Cli, to: str) -> bytes:
    before = stack.sink.snapshot()
    p = cli("send", "--from", "alice@example.test", "--to", to, "--subject", SUBJECT,
            stdin=BODY.encode())  # fmt: skip
    assert p.returncode == 0, p.stderr.decode()
    [raw] = stack.sink.wait_new(before, 1)
    return raw


def assert_inner(entity: bytes) -> None:
    """The RFC 9788 inner message: the real Subject, and the body."""
    inner = parse(entity)
    assert inner["Subject"] == SUBJECT
    assert inner.get_param("hp") in ("cipher", "clear")
    assert "NSS-MARKER" in inner.get_content()


@pytest.mark.interop(
    producer="e2email", consumer=NSS, form="S/MIME signed+encrypted (AES-CBC, RSA)"
)
def test_signed_and_encrypted_read_by_nss(
    stack: Any, tmp_path: Path, gpg_home: Callable[..., GpgHome], bob_nss: Nss
) -> None:
    cli = make_cli(tmp_path, stack, gpg_home(secret=["alice"]).path, certs=("bob",))
    raw = sent(stack, cli, "bob@example.test")
    assert b"NSS-MARKER" not in raw and parse(raw)["Subject"] == "[...]"
    p, signers = bob_nss.decode(p7m(raw))
    assert p.returncode == 0, p.stderr.decode()
    assert signers == [], "the outer layer is EnvelopedData, not a signature"
    signed = strip_nss_header(p.stdout)
    assert parse(signed).get_content_type() == "multipart/signed"
    parts = split_signed(signed)
    v, signers = bob_nss.decode(parts.signature, content=parts.signed)
    assert v.returncode == 0, v.stderr.decode()
    assert [(s.name, s.status) for s in signers] == [("alice (e2email test)", "GoodSignature")]
    assert_inner(parts.signed)


@pytest.mark.interop(producer="e2email", consumer=NSS, form="S/MIME encrypted only (AES-CBC, RSA)")
def test_encrypted_only_read_by_nss(
    stack: Any, tmp_path: Path, gpg_home: Callable[..., GpgHome], bob_nss: Nss
) -> None:
    cli = make_cli(tmp_path, stack, gpg_home(secret=["alice"]).path, certs=("bob",),
                   extra="sign = false\n")  # fmt: skip
    raw = sent(stack, cli, "bob@example.test")
    p, signers = bob_nss.decode(p7m(raw))
    assert p.returncode == 0, p.stderr.decode()
    assert signers == []
    assert_inner(strip_nss_header(p.stdout))


@pytest.mark.interop(producer="e2email", consumer=NSS, form="S/MIME signed cleartext")
def test_signed_cleartext_verified_by_nss(
    stack: Any, tmp_path: Path, gpg_home: Callable[..., GpgHome], bob_nss: Nss
) -> None:
    extra = CLEAR_OK + '\n[protection]\nsign_cleartext = "smime"\n'
    cli = make_cli(tmp_path, stack, gpg_home(secret=["alice"]).path, extra=extra)
    raw = sent(stack, cli, "plain@example.test")
    parts = split_signed(raw)
    v, signers = bob_nss.decode(parts.signature, content=parts.signed)
    assert v.returncode == 0, v.stderr.decode()
    assert [s.status for s in signers] == ["GoodSignature"]
    tampered = parts.signed.replace(b"NSS-MARKER", b"NSS-MARKEX")
    _, signers = bob_nss.decode(parts.signature, content=tampered)
    assert [s.status for s in signers] != ["GoodSignature"], "NSS must see the tampering"


def nss_message(message_id: str, der: bytes, smime_type: str) -> bytes:
    """An application/pkcs7-mime message around what cmsutil wrote, as Thunderbird frames it."""
    b64 = base64.encodebytes(der).decode()
    return corpus.crlf(
        (
            f"From: {corpus.FROM}\nTo: {corpus.TO}\nSubject: from NSS\nMessage-ID: {message_id}\n"
            "Date: Thu, 04 Mar 2021 05:06:07 +0000\nMIME-Version: 1.0\n"
            f'Content-Type: application/pkcs7-mime; smime-type={smime_type}; name="smime.p7m"\n'
            "Content-Transfer-Encoding: base64\n"
            'Content-Disposition: attachment; filename="smime.p7m"\n\n' + b64
        ).encode()
    )


@pytest.mark.interop(
    producer=NSS, consumer="e2email imap decrypt", form="S/MIME signed+encrypted (NSS defaults)"
)
def test_nss_mail_read_by_imap_decrypt(stack: Any, tmp_path: Path) -> None:
    alice = Nss("alice")
    try:
        alice.add_certificate(SMIME / "bob.pem", "bob")
        inner = corpus.crlf(
            b"Content-Type: text/plain; charset=utf-8\n\nfrom NSS: NSS-BACK-MARKER\n"
        )
        signed = alice.sign(inner, "alice")
        enveloped = alice.envelope(
            corpus.crlf(b"Content-Type: application/pkcs7-mime; smime-type=signed-data\n"
                        b"Content-Transfer-Encoding: base64\n\n")
            + base64.encodebytes(signed).replace(b"\n", b"\r\n"),
            "bob",
        )  # fmt: skip
    finally:
        alice.close()
    mid = f"<{uuid.uuid4().hex}@nss.example.test>"
    raw = nss_message(mid, enveloped, "enveloped-data")
    decrypted_by_e2email(stack, tmp_path, raw, "smime", "NSS-BACK-MARKER")


REFUSED = [
    ("S/MIME AuthEnvelopedData (AES-GCM, RSA)", "bob", '[smime]\nencryption = "aes256-gcm"\n'),
    ("S/MIME EnvelopedData, RSA-OAEP", "bob", "[smime]\nrsa_oaep = true\n"),
    ("S/MIME EnvelopedData, ECDH key agreement", "ec", ""),
]


@pytest.mark.parametrize(("form", "who", "extra"), REFUSED, ids=["gcm", "oaep", "ecdh"])
def test_forms_nss_cannot_read_stay_off_by_default(
    stack: Any, tmp_path: Path, gpg_home: Callable[..., GpgHome], request: pytest.FixtureRequest,
    form: str, who: str, extra: str,
) -> None:  # fmt: skip
    """NSS 3.87 reads none of these: e2email writes them only when configured (docs/smime.md)."""
    request.node.add_marker(
        pytest.mark.interop(producer="e2email", consumer=NSS, form=form, expect="refused")
    )
    cli = make_cli(tmp_path, stack, gpg_home(secret=["alice"]).path, certs=(who,),
                   smime=True, extra=extra.replace("[smime]\n", ""))  # fmt: skip
    raw = sent(stack, cli, f"{who}@example.test")
    db = Nss(who)
    try:
        p, _ = db.decode(p7m(raw))
    finally:
        db.close()
    assert p.returncode != 0 and b"NSS-MARKER" not in p.stdout, (
        "NSS reads this form now: revisit the default and docs/smime.md"
    )


def test_dry_run_warns_that_nss_cannot_read_an_ec_certificate(
    stack: Any, tmp_path: Path, gpg_home: Callable[..., GpgHome]
) -> None:
    cli = make_cli(tmp_path, stack, gpg_home(secret=["alice"]).path, certs=("ec", "bob"))
    args = ("send", "--dry-run", "--from", "alice@example.test", "--to", "ec@example.test",
            "--to", "bob@example.test", "--subject", SUBJECT)  # fmt: skip
    human = cli(*args, stdin=BODY.encode())
    assert human.returncode == 0, human.stderr.decode()
    lines = (human.stdout + human.stderr).decode().splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("ec@example.test"))
    assert "Thunderbird (NSS 3.87)" in lines[at + 1], lines
    assert not any("warning" in line for line in lines if "bob@example.test" in line)
    plan = json.loads(cli(*args, "--json", stdin=BODY.encode()).stdout)
    warnings = {r["address"]: r["warnings"] for r in plan["recipients"]}
    assert warnings["bob@example.test"] == []
    assert len(warnings["ec@example.test"]) == 1 and "ECDH" in warnings["ec@example.test"][0]
