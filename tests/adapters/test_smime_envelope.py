"""The streaming CMS writer (adapters/cms_envelope.py), read back by openssl and cryptography.

RSA key transport and RFC 5753 ECDH key agreement, AES-256-CBC EnvelopedData and AES-256-GCM
AuthEnvelopedData (RFC 5083/5084): every combination must decrypt with ``openssl cms``.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from asn1crypto import cms  # type: ignore[import-untyped]
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs7

from e2email.adapters.cms import decrypt as cms_decrypt
from e2email.adapters.cms import envelope as cms_envelope
from e2email.adapters.cms import identity as cms_identity
from e2email.adapters.cms import writer as cms_writer
from e2email.errors import ConfigError, InternalError, UnsupportedError
from tests.support import SMIME

DATA = os.urandom(70_000) + b"the end\r\n"


def cert(name: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate((SMIME / f"{name}.pem").read_bytes())


def pieces(data: bytes, size: int = 4093) -> Iterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


def openssl_decrypt(der: bytes, who: str, tmp: Path) -> subprocess.CompletedProcess[bytes]:
    path = tmp / "in.der"
    path.write_bytes(der)
    cmd = ["openssl", "cms", "-decrypt", "-binary", "-inform", "DER", "-in", str(path)]
    cmd += ["-recip", str(SMIME / f"{who}.pem"), "-inkey", str(SMIME / f"{who}.key")]
    return subprocess.run(cmd, capture_output=True, check=False, timeout=60)


@pytest.mark.parametrize("mode", [cms_envelope.CBC, cms_envelope.GCM])
@pytest.mark.parametrize("names", [("bob",), ("ec",), ("bob", "ec")])
def test_openssl_decrypts_every_recipient(
    mode: str, names: tuple[str, ...], tmp_path: Path
) -> None:
    der = b"".join(
        cms_envelope.encrypt_stream(pieces(DATA), len(DATA), [cert(n) for n in names], mode)
    )
    info = cms.ContentInfo.load(der)
    want = "enveloped_data" if mode == cms_envelope.CBC else "authenticated_enveloped_data"
    assert info["content_type"].native == want
    assert len(info["content"]["recipient_infos"]) == len(names)
    for who in names:
        r = openssl_decrypt(der, who, tmp_path)
        assert r.returncode == 0, r.stderr.decode()
        assert r.stdout == DATA


def test_versions_and_algorithms_follow_the_rfcs() -> None:
    rsa_only = cms.ContentInfo.load(
        b"".join(cms_envelope.encrypt_stream([DATA], len(DATA), [cert("bob")]))
    )
    content = rsa_only["content"]
    assert content["version"].native == "v0"  # RFC 5652 6.1: ktri v0 only
    eci = content["encrypted_content_info"]
    assert eci["content_encryption_algorithm"]["algorithm"].native == "aes256_cbc"
    assert len(eci["encrypted_content"].native) == (len(DATA) // 16 + 1) * 16
    mixed = cms.ContentInfo.load(
        b"".join(cms_envelope.encrypt_stream([DATA], len(DATA), [cert("bob"), cert("ec")]))
    )["content"]
    assert mixed["version"].native == "v2"  # a kari (v3) is present
    kari = mixed["recipient_infos"][1].chosen
    assert kari["key_encryption_algorithm"]["algorithm"].dotted == "1.3.132.1.11.1"
    gcm = cms.ContentInfo.load(
        b"".join(cms_envelope.encrypt_stream([DATA], len(DATA), [cert("bob")], cms_envelope.GCM))
    )["content"]
    assert gcm["version"].native == "v0" and len(gcm["mac"].native) == 16


def test_cryptography_reads_the_cbc_output() -> None:
    key = serialization.load_pem_private_key((SMIME / "bob.key").read_bytes(), None)
    der = b"".join(cms_envelope.encrypt_stream(pieces(DATA), len(DATA), [cert("bob")]))
    assert pkcs7.pkcs7_decrypt_der(der, cert("bob"), key, []) == DATA  # type: ignore[arg-type]


def test_tampered_gcm_is_refused_by_openssl(tmp_path: Path) -> None:
    der = bytearray(
        b"".join(cms_envelope.encrypt_stream([DATA], len(DATA), [cert("bob")], cms_envelope.GCM))
    )
    der[-200] ^= 1  # inside the ciphertext
    r = openssl_decrypt(bytes(der), "bob", tmp_path)
    assert r.returncode != 0


def test_announced_length_must_be_exact() -> None:
    with pytest.raises(InternalError):
        b"".join(cms_envelope.encrypt_stream([DATA], len(DATA) + 1, [cert("bob")]))


def test_builder_path_refuses_ec_and_envelopes_rsa(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedError):
        cms_writer.envelope(DATA, [("ec@example.test", cert("ec"))])
    der = cms_writer.envelope(DATA, [("bob@example.test", cert("bob"))])
    assert openssl_decrypt(der, "bob", tmp_path).stdout == DATA
    cms_identity.check_encryptable(cert("ec"), "ec@example.test")  # P-256: fine for the writer


def test_gpgsm_reads_the_streamed_cbc_output() -> None:
    from tests.services.protect_helpers import Gpgsm, Workdir

    gpgsm, work = Gpgsm("bob"), Workdir()
    try:
        der = b"".join(cms_envelope.encrypt_stream(pieces(DATA), len(DATA), [cert("bob")]))
        r = gpgsm.decrypt(der, work)
        assert r.stdout == DATA, r.stderr.decode()
    finally:
        gpgsm.close()
        work.close()


def identity(name: str) -> cms_identity.Identity:
    return cms_identity.load_identity(SMIME / f"{name}.pem", SMIME / f"{name}.key", None)


def encryption_only(tmp: Path) -> cms_identity.Identity:
    """An EC certificate from the test CA whose keyUsage is keyAgreement alone."""
    import datetime as dt

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    ca_key = serialization.load_pem_private_key((SMIME / "ca.key").read_bytes(), None)
    key = ec.generate_private_key(ec.SECP256R1())
    usage = dict.fromkeys(
        ["digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
         "key_cert_sign", "crl_sign", "encipher_only", "decipher_only"], False,
    )  # fmt: skip
    made = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "encrypt only")]))
        .issuer_name(cert("ca").subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(dt.datetime(2025, 1, 1, tzinfo=dt.UTC))
        .not_valid_after(dt.datetime(2100, 1, 1, tzinfo=dt.UTC))
        .add_extension(x509.KeyUsage(key_agreement=True, **usage), critical=True)
        .add_extension(x509.SubjectAlternativeName([x509.RFC822Name("alice@example.test")]), False)
        .sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    return cms_identity.Identity(made, key)


def test_signing_refuses_a_certificate_recipients_would_reject(tmp_path: Path) -> None:
    # security.md item 6: digitalSignature to sign; an expired or non-mail certificate neither
    der = cms_writer.sign_detached(b"content\r\n", identity("alice"))
    assert pkcs7.load_der_pkcs7_certificates(der)[0] == cert("alice")
    for who, problem in (("expired", "expired"), ("bad-eku", "bad-eku")):
        with pytest.raises(ConfigError, match=problem):
            cms_writer.sign_detached(b"content\r\n", identity(who))
    with pytest.raises(ConfigError, match="no-digital-signature") as e:
        cms_writer.sign_detached(b"content\r\n", encryption_only(tmp_path))
    assert e.value.exit_code == 78 and "smime.sign = false" in str(e.value)


@pytest.mark.parametrize("mode", [cms_envelope.CBC, cms_envelope.GCM])
def test_oaep_key_transport_is_read_by_openssl_and_e2email(mode: str, tmp_path: Path) -> None:
    der = b"".join(
        cms_envelope.encrypt_stream(
            pieces(DATA), len(DATA), [cert("bob"), cert("ec")], mode, oaep=True
        )
    )
    ktri, kari = (ri.chosen for ri in cms.ContentInfo.load(der)["content"]["recipient_infos"])
    algorithm = ktri["key_encryption_algorithm"]
    assert algorithm["algorithm"].native == "rsaes_oaep"  # RFC 8551 2.3, RFC 4055 3.1
    params = algorithm["parameters"]
    assert params["hash_algorithm"]["algorithm"].native == "sha256"
    assert params["mask_gen_algorithm"]["parameters"]["algorithm"].native == "sha256"
    assert kari["key_encryption_algorithm"]["algorithm"].dotted == "1.3.132.1.11.1"  # EC: as before
    for who in ("bob", "ec"):
        r = openssl_decrypt(der, who, tmp_path)
        assert r.returncode == 0, r.stderr.decode()
        assert r.stdout == DATA
    bob = cms_identity.load_identity(SMIME / "bob.pem", SMIME / "bob.key", None)
    assert cms_decrypt.decrypt(der, bob) == (DATA, mode == cms_envelope.GCM)


def test_oaep_is_not_the_default() -> None:
    der = b"".join(cms_envelope.encrypt_stream([DATA], len(DATA), [cert("bob")]))
    ktri = cms.ContentInfo.load(der)["content"]["recipient_infos"][0].chosen
    assert ktri["key_encryption_algorithm"]["algorithm"].native == "rsaes_pkcs1v15"
