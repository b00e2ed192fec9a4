"""S/MIME through the real stack, read back by openssl and gpgsm (own homes, own trust).

The recipient's keyring has no OpenPGP key for bob here, so discovery finds his certificate
in ``smime.certificates_dir`` and the copy is S/MIME.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from asn1crypto import cms  # type: ignore[import-untyped]

from tests.services.protect_helpers import (
    CLEAR_OK,
    Gpgsm,
    Workdir,
    armored,
    by_recipient,
    make_cli,
    openssl_decrypt,
    openssl_verify,
    outer_headers,
    p7m,
    parse,
    split_signed,
    status_lines,
)
from tests.support import SMIME, GpgHome

BODY = "Hello Bob,\n\nS/MIME this time: ünïcödé.\nFrom the other side.\n"
SUBJECT = "Contract draft — do not forward"


@pytest.fixture
def alice(gpg_home: Callable[..., GpgHome]) -> GpgHome:
    return gpg_home(secret=["alice"], public=["carol"])


@pytest.fixture(scope="module")
def bob_gpgsm() -> Iterator[Gpgsm]:
    g = Gpgsm("bob")
    yield g
    g.close()


def send(cli: Any, *args: str) -> Any:
    return cli(
        "send", "--from", "alice@example.test", "--subject", SUBJECT, *args, stdin=BODY.encode()
    )


def test_signed_and_encrypted_read_by_openssl_and_gpgsm(
    stack: Any, tmp_path: Any, alice: GpgHome, work: Workdir, bob_gpgsm: Gpgsm
) -> None:
    cli = make_cli(tmp_path, stack, alice.path, certs=("bob",))
    before = stack.sink.snapshot()
    p = send(cli, "--to", "Bob <bob@example.test>")
    assert p.returncode == 0, p.stderr.decode()
    [raw] = stack.sink.wait_new(before, 1)
    outer = parse(raw)
    assert outer.get_content_type() == "application/pkcs7-mime"
    assert outer.get_param("smime-type") == "enveloped-data"
    assert outer["Subject"] == "[...]"
    assert b"Contract" not in raw
    d = openssl_decrypt(raw, "bob", work)
    assert d.returncode == 0, d.stderr.decode()
    signed = d.stdout
    assert parse(signed).get_content_type() == "multipart/signed"
    v = openssl_verify(signed, work)
    assert v.returncode == 0, v.stderr.decode()
    assert b"Verification successful" in v.stderr
    inner = parse(v.stdout)
    assert inner["Subject"] == SUBJECT and inner.get_param("hp") == "cipher"
    assert "Subject: [...]" in inner.get_all("HP-Outer")
    assert inner.get_content().replace("\r\n", "\n") == BODY
    g = bob_gpgsm.decrypt(p7m(raw), work)
    assert "DECRYPTION_OKAY" in list(status_lines(g.stderr)), g.stderr.decode()
    gv = bob_gpgsm.verify(split_signed(g.stdout), work)
    status = list(status_lines(gv.stderr))
    assert any(s.startswith("GOODSIG") for s in status), gv.stderr.decode()
    assert any(s.startswith("TRUST_FULLY") for s in status)


@pytest.mark.parametrize("to_self", [True, False])
def test_encrypt_to_self(
    stack: Any, tmp_path: Any, alice: GpgHome, work: Workdir, to_self: bool
) -> None:
    extra = "" if to_self else "encrypt_to_self = false\n"
    cli = make_cli(tmp_path, stack, alice.path, certs=("bob",), extra=extra)
    before = stack.sink.snapshot()
    assert send(cli, "--to", "bob@example.test").returncode == 0
    [raw] = stack.sink.wait_new(before, 1)
    assert (openssl_decrypt(raw, "alice", work).returncode == 0) is to_self
    assert openssl_decrypt(raw, "bob", work).returncode == 0


def test_one_copy_per_protocol_with_identical_outer_headers(
    stack: Any, tmp_path: Any, alice: GpgHome, work: Workdir, gpg_home: Callable[..., GpgHome]
) -> None:
    carol = gpg_home(secret=["carol"], public=["alice"])
    cli = make_cli(tmp_path, stack, alice.path, certs=("bob",))
    before = stack.sink.snapshot()
    p = send(cli, "--to", "bob@example.test", "--cc", "carol@example.test")
    assert p.returncode == 0, p.stderr.decode()
    copies = by_recipient(stack.sink.wait_new(before, 2))
    smime_copy, pgp_copy = copies["bob@example.test"], copies["carol@example.test"]
    assert parse(smime_copy).get_content_type() == "application/pkcs7-mime"
    assert parse(pgp_copy).get_content_type() == "multipart/encrypted"
    strip = {"content-disposition", "content-transfer-encoding", "content-description"}
    assert [h for h in outer_headers(smime_copy) if h[0].lower() not in strip] == outer_headers(
        pgp_copy
    )
    assert openssl_decrypt(smime_copy, "bob", work).returncode == 0
    d = carol.decrypt(armored(pgp_copy))
    assert d.returncode == 0, d.stderr.decode()
    assert parse(d.stdout)["Subject"] == SUBJECT


def test_smime_signed_cleartext_verifies_after_postfix(
    stack: Any, tmp_path: Any, alice: GpgHome, work: Workdir, bob_gpgsm: Gpgsm
) -> None:
    extra = CLEAR_OK + '\n[protection]\nsign_cleartext = "smime"\n'
    cli = make_cli(tmp_path, stack, alice.path, extra=extra)
    before = stack.sink.snapshot()
    p = send(cli, "--to", "plain@example.test")
    assert p.returncode == 0, p.stderr.decode()
    [raw] = stack.sink.wait_new(before, 1)
    msg = parse(raw)
    assert msg.get_content_type() == "multipart/signed"
    assert msg.get_param("protocol") == "application/pkcs7-signature"
    assert msg.get_param("micalg") == "sha-256"
    v = openssl_verify(raw, work)
    assert v.returncode == 0, v.stderr.decode()
    assert parse(v.stdout).get_param("hp") == "clear"
    parts = split_signed(raw)
    gv = bob_gpgsm.verify(parts, work)
    assert any(s.startswith("GOODSIG") for s in status_lines(gv.stderr)), gv.stderr.decode()
    parts.signed = parts.signed.replace(b"other side", b"OTHER side")
    assert not any(
        s.startswith("GOODSIG") for s in status_lines(bob_gpgsm.verify(parts, work).stderr)
    )


def test_chain_through_an_intermediate(
    stack: Any, tmp_path: Any, alice: GpgHome, work: Workdir
) -> None:
    cli = make_cli(tmp_path, stack, alice.path, certs=("chain-user-chain",))
    before = stack.sink.snapshot()
    p = send(cli, "--to", "chain@example.test")
    assert p.returncode == 0, p.stderr.decode()
    [raw] = stack.sink.wait_new(before, 1)
    assert openssl_decrypt(raw, "chain-user", work).returncode == 0


UNTRUSTED = 'untrusted: no issuer among the trust anchors (issued by "e2email Other CA (NOT a trust anchor)")'


@pytest.mark.parametrize(
    ("cert", "address", "reason"),
    [
        ("signing-only", "sigonly@example.test", "no-key-encipherment"),
        ("wrong-address", "wrongaddr@example.test", "address-mismatch"),
        ("expired", "expired@example.test", "expired"),
        ("untrusted", "untrusted@example.test", UNTRUSTED),
    ],
)
def test_unusable_certificates_are_refused(
    stack: Any, tmp_path: Any, alice: GpgHome, cert: str, address: str, reason: str
) -> None:
    extra = '\n[policy]\nencrypt = "required"\n'
    cli = make_cli(tmp_path, stack, alice.path, certs=("bob", cert), extra=extra)
    before = stack.sink.snapshot()
    p = send(cli, "--to", "bob@example.test", "--to", address)
    assert p.returncode == 67, p.stderr.decode()
    assert address.encode() in p.stderr
    if reason != "address-mismatch":  # the send error says which check failed
        assert f"{address}: no-usable-key (rejected " in p.stderr.decode()
        assert f": {reason})" in p.stderr.decode(), p.stderr.decode()
    dry = send(cli, "--dry-run", "--json", "--to", address)
    [plan] = json.loads(dry.stdout)["recipients"]
    assert plan["action"] == "refuse"
    if reason != "address-mismatch":  # a certificate for someone else is simply not theirs
        assert reason in {r["reason"] for r in plan["rejected"]}, plan
    assert stack.sink.snapshot() == before


def test_ec_recipient_by_key_agreement(
    stack: Any, tmp_path: Any, alice: GpgHome, work: Workdir
) -> None:
    cli = make_cli(tmp_path, stack, alice.path, certs=("ec",))
    before = stack.sink.snapshot()
    p = send(cli, "--to", "ec@example.test")
    assert p.returncode == 0, p.stderr.decode()
    [raw] = stack.sink.wait_new(before, 1)
    d = openssl_decrypt(raw, "ec", work)
    assert d.returncode == 0, d.stderr.decode()
    v = openssl_verify(d.stdout, work)
    assert v.returncode == 0, v.stderr.decode()
    assert parse(v.stdout)["Subject"] == SUBJECT
    assert openssl_decrypt(raw, "alice", work).returncode == 0  # RSA self copy alongside


def test_auth_enveloped_gcm_when_opted_in(
    stack: Any, tmp_path: Any, alice: GpgHome, work: Workdir
) -> None:
    extra = 'encryption = "aes256-gcm"\n'
    cli = make_cli(tmp_path, stack, alice.path, certs=("bob",), extra=extra)
    before = stack.sink.snapshot()
    assert send(cli, "--to", "bob@example.test").returncode == 0
    [raw] = stack.sink.wait_new(before, 1)
    assert parse(raw).get_param("smime-type") == "authEnveloped-data"
    d = openssl_decrypt(raw, "bob", work)
    assert d.returncode == 0, d.stderr.decode()
    assert openssl_verify(d.stdout, work).returncode == 0


def test_rsa_oaep_key_transport_when_opted_in(
    stack: Any, tmp_path: Any, alice: GpgHome, work: Workdir
) -> None:
    cli = make_cli(tmp_path, stack, alice.path, certs=("bob",), extra="rsa_oaep = true\n")
    before = stack.sink.snapshot()
    assert send(cli, "--to", "bob@example.test").returncode == 0
    [raw] = stack.sink.wait_new(before, 1)
    infos = cms.ContentInfo.load(p7m(raw))["content"]["recipient_infos"]
    algorithms = {ri.chosen["key_encryption_algorithm"]["algorithm"].native for ri in infos}
    assert algorithms == {"rsaes_oaep"}  # bob's copy and alice's own, both RSA
    d = openssl_decrypt(raw, "bob", work)
    assert d.returncode == 0, d.stderr.decode()
    assert openssl_verify(d.stdout, work).returncode == 0
    assert openssl_decrypt(raw, "alice", work).returncode == 0


def test_own_certificate_unfit_to_sign_sends_nothing(
    stack: Any, tmp_path: Any, alice: GpgHome
) -> None:
    # security.md item 6, signing side: a signature by an expired certificate is one that
    # every recipient must reject; e2email says so (78) instead of sending it
    certs = tmp_path / "certs"
    certs.mkdir()
    shutil.copy(SMIME / "bob.pem", certs)
    own = f"""
        [smime]
        certificate = "{SMIME}/expired.pem"
        private_key = "{SMIME}/expired.key"
        trust_anchors = "{SMIME}/ca.pem"
        certificates_dir = "{certs}"
        """
    cli = make_cli(tmp_path, stack, alice.path, smime=False, extra=own)
    before = stack.sink.snapshot()
    p = send(cli, "--to", "bob@example.test")
    assert p.returncode == 78, p.stderr.decode()
    assert b"cannot sign (expired)" in p.stderr
    time.sleep(1)  # Postfix delivers in milliseconds: give it time to prove a negative
    assert stack.sink.snapshot() == before


def recipient_ids(der: bytes) -> set[str]:
    """Who an EnvelopedData is for: the serial number or key identifier in each RecipientInfo."""
    from asn1crypto import cms  # type: ignore[import-untyped]

    out = set()
    for info in cms.ContentInfo.load(der)["content"]["recipient_infos"]:
        if info.name == "ktri":
            rids = [info.chosen["rid"]]
        else:  # kari (RFC 5753): one rid per recipient encrypted key
            rids = [k["rid"] for k in info.chosen["recipient_encrypted_keys"]]
        for rid in rids:
            value = rid.chosen
            if rid.name == "issuer_and_serial_number":
                out.add(f"serial:{value['serial_number'].native}")
            else:
                ski = value["subject_key_identifier"] if rid.name == "r_key_id" else value
                out.add(f"ski:{ski.native.hex()}")
    return out


def ids_of(name: str) -> set[str]:
    """The identifiers a RecipientInfo may use for a fixture certificate."""
    from cryptography import x509

    cert = x509.load_pem_x509_certificate((SMIME / f"{name}.pem").read_bytes())
    ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    return {f"serial:{cert.serial_number}", f"ski:{ski.hex()}"}


def test_bcc_copy_is_separate_and_invisible(
    stack: Any, tmp_path: Any, alice: GpgHome, work: Workdir
) -> None:
    # security.md item 4 with S/MIME: a RecipientInfo names its certificate as surely as a
    # PKESK names its key, so the Bcc recipient needs a copy of their own
    cli = make_cli(tmp_path, stack, alice.path, certs=("bob", "ec"))
    before = stack.sink.snapshot()
    p = send(cli, "--to", "bob@example.test", "--bcc", "ec@example.test")
    assert p.returncode == 0, p.stderr.decode()
    copies = by_recipient(stack.sink.wait_new(before, 2))
    assert set(copies) == {"bob@example.test", "ec@example.test"}  # the envelope keeps ec
    to_copy, bcc_copy = copies["bob@example.test"], copies["ec@example.test"]
    assert recipient_ids(p7m(to_copy)) & ids_of("bob")
    assert not recipient_ids(p7m(to_copy)) & ids_of("ec"), "the To copy names the Bcc certificate"
    assert recipient_ids(p7m(bcc_copy)) & ids_of("ec")
    assert not recipient_ids(p7m(bcc_copy)) & ids_of("bob")
    for raw in (to_copy, bcc_copy):
        assert b"\nbcc:" not in raw.split(b"\r\n\r\n", 1)[0].lower()
    assert b"ec@example.test" not in to_copy
    inner = openssl_decrypt(to_copy, "bob", work)
    assert inner.returncode == 0, inner.stderr.decode()
    assert b"ec@example.test" not in inner.stdout and b"\nbcc:" not in inner.stdout.lower()
    inner = openssl_decrypt(bcc_copy, "ec", work)
    assert inner.returncode == 0, inner.stderr.decode()
    assert b"\nbcc:" not in inner.stdout.lower()
