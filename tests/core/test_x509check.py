"""security.md item 6: S/MIME certificates are validated before anything is encrypted to them."""

from __future__ import annotations

import datetime as dt
import json
from functools import cache

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from e2email.core import x509check
from e2email.core.x509check import check_recipient
from e2email.model import Address
from tests.support import SMIME

NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)


@cache
def cert(name: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate((SMIME / f"{name}.pem").read_bytes())


@cache
def key(name: str) -> ec.EllipticCurvePrivateKey:
    loaded = serialization.load_pem_private_key((SMIME / f"{name}.key").read_bytes(), None)
    return loaded  # type: ignore[return-value]


def fixture_address(name: str) -> str:
    data = json.loads((SMIME / "fixtures.json").read_text())
    return str(data[name]["address"])


def check(name: str, **kw: object) -> list[str]:
    kw.setdefault("anchors", [cert("ca")])
    kw.setdefault("now", NOW)
    return check_recipient(cert(name), kw.pop("address", fixture_address(name)), **kw)  # type: ignore[arg-type]


def no_issuer(name: str) -> str:
    return f'untrusted: no issuer among the trust anchors (issued by "{name}")'


@pytest.mark.parametrize("name", ["alice", "bob", "no-eku-ok", "ec"])
def test_good_certificates_have_no_problem(name: str) -> None:
    assert check(name) == []


def test_signing_only_refused_for_encryption_but_fine_for_signing() -> None:
    assert check("signing-only") == ["no-key-encipherment"]
    assert check("signing-only", purpose="sign") == []


def test_ec_key_agreement_is_what_encryption_needs() -> None:
    # openssl's smimeencrypt purpose wants keyEncipherment; for ECDH keyAgreement is right.
    assert check("ec", purpose="sign") == []
    usage = cert("ec").extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_agreement and not usage.key_encipherment


def test_expired_reports_expired_only() -> None:
    assert check("expired") == ["expired"]
    # issued by a CA that is not an anchor: both problems are reported
    assert check("expired", anchors=[cert("other-ca")]) == ["expired", no_issuer("e2email Test CA")]


def test_not_yet_valid_before_not_before() -> None:
    before = dt.datetime(2024, 12, 31, tzinfo=dt.UTC)
    problems = check("bob", now=before)
    assert problems[0] == "not-yet-valid"
    # the root itself starts 2025-01-01: at this instant no path is valid either
    assert (
        'untrusted: issuer "e2email Test CA" is not valid before 2025-01-01 00:00 UTC' in problems
    )


def test_naive_now_is_taken_as_utc() -> None:
    assert check("bob", now=dt.datetime(2026, 6, 1)) == []


def test_bad_eku_refused() -> None:
    assert check("bad-eku") == ["bad-eku"]
    assert check("bad-eku", purpose="sign") == ["bad-eku"]


def test_wrong_address_refused() -> None:
    assert check("wrong-address") == ["address-mismatch"]
    assert check("wrong-address", address="someone.else@example.test") == []


@pytest.mark.parametrize(
    ("address", "ok"),
    [
        ("bob@EXAMPLE.test", True),
        ("bob@example.TEST", True),
        ("Bob@example.test", False),
        ("BOB@example.test", False),
        ("bob@example.test.", False),
        ("bob@example", False),
        ("bob", False),
        ("xbob@example.test", False),
    ],
)
def test_address_local_part_exact_domain_case_insensitive(address: str, ok: bool) -> None:
    problems = check("bob", address=address)
    assert (problems == []) is ok
    assert ok or problems == ["address-mismatch"]


def test_address_value_accepted_too() -> None:
    assert check("bob", address=Address("bob", "Example.Test")) == []


def test_untrusted_issuer_refused() -> None:
    assert check("untrusted") == [no_issuer("e2email Other CA (NOT a trust anchor)")]
    # trusting other-ca instead makes it fine, and bob untrusted
    assert check("untrusted", anchors=[cert("other-ca")]) == []
    assert check("bob", anchors=[cert("other-ca")]) == [no_issuer("e2email Test CA")]


def test_no_anchors_trusts_nothing() -> None:
    assert check("bob", anchors=[]) == ["untrusted: no trust anchors are configured"]


def test_chain_user_needs_its_intermediate() -> None:
    assert check("chain-user") == [no_issuer("e2email Test Intermediate CA")]
    assert check("chain-user", intermediates=[cert("intermediate")]) == []
    bundle = x509check.load_pem_bundle((SMIME / "chain-user-chain.pem").read_bytes())
    assert [x509check.fingerprint(c) for c in bundle] == [
        x509check.fingerprint(cert("chain-user")),
        x509check.fingerprint(cert("intermediate")),
    ]
    assert check("chain-user", intermediates=bundle[1:]) == []


def test_path_intermediates_are_only_those_the_path_uses() -> None:
    def path(name: str, **kw: object) -> list[str]:
        kw.setdefault("anchors", [cert("ca")])
        found = x509check.path_intermediates(cert(name), now=NOW, **kw)  # type: ignore[arg-type]
        return [x509check.fingerprint(c) for c in found]

    others = [cert("bob"), cert("other-ca"), cert("intermediate")]
    assert path("chain-user", intermediates=others) == [x509check.fingerprint(cert("intermediate"))]
    assert path("bob", intermediates=others) == []  # issued by the anchor itself
    assert path("chain-user", intermediates=[]) == []  # no path: nothing to keep
    assert path("untrusted", intermediates=others) == []
    assert path("chain-user", intermediates=others, anchors=[]) == []


def test_intermediate_as_anchor_is_enough() -> None:
    assert check("chain-user", anchors=[cert("intermediate")]) == []


def test_ca_certificate_is_not_a_recipient() -> None:
    problems = check_recipient(cert("ca"), "ca@example.test", anchors=[cert("ca")], now=NOW)
    assert "ca-certificate" in problems
    assert "address-mismatch" in problems


def test_fingerprint_matches_fixtures() -> None:
    data = json.loads((SMIME / "fixtures.json").read_text())
    for name in ("bob", "ec", "chain-user"):
        assert x509check.fingerprint(cert(name)) == data[name]["sha256"]


def test_load_pem_bundle_without_certificates_is_empty() -> None:
    assert x509check.load_pem_bundle(b"nothing here") == []


# Certificates the fixtures do not have: made here, signed by the test CA or the intermediate.


def _issue(
    issuer: str,
    *,
    eku: list[x509.ObjectIdentifier] | None = None,
    usage: dict[str, bool] | None = None,
    key_type: str = "ec",
) -> x509.Certificate:
    subject_key: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
    subject_key = (
        ed25519.Ed25519PrivateKey.generate()
        if key_type == "ed25519"
        else ec.generate_private_key(ec.SECP256R1())
    )
    flags = dict.fromkeys(
        [
            "digital_signature",
            "content_commitment",
            "key_encipherment",
            "data_encipherment",
            "key_agreement",
            "key_cert_sign",
            "crl_sign",
            "encipher_only",
            "decipher_only",
        ],
        False,
    )
    flags.update(usage or {"key_agreement": True})
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "made in test")])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(cert(issuer).subject)
        .public_key(subject_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(dt.datetime(2025, 1, 1, tzinfo=dt.UTC))
        .not_valid_after(dt.datetime(2100, 1, 1, tzinfo=dt.UTC))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(**flags), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(subject_key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(key(issuer).public_key()), False
        )
    )
    if eku is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage(eku), critical=False)
    builder = builder.add_extension(
        x509.SubjectAlternativeName([x509.RFC822Name("made@example.test")]), False
    )
    return builder.sign(key(issuer), hashes.SHA256())


def test_ed25519_key_cannot_be_encrypted_to() -> None:
    made = _issue("ca", usage={"digital_signature": True}, key_type="ed25519")
    assert check_recipient(made, "made@example.test", anchors=[cert("ca")], now=NOW) == [
        "unsupported-key"
    ]


def test_any_eku_is_acceptable() -> None:
    made = _issue("ca", eku=[x509.ObjectIdentifier("2.5.29.37.0")])
    assert check_recipient(made, "made@example.test", anchors=[cert("ca")], now=NOW) == []


def test_ec_without_key_agreement_refused() -> None:
    made = _issue("ca", usage={"digital_signature": True})
    problems = check_recipient(made, "made@example.test", anchors=[cert("ca")], now=NOW)
    assert problems == ["no-key-agreement"]


def test_signing_needs_digital_signature() -> None:
    # an encryption-only certificate (keyAgreement alone) may be encrypted to, not sign
    made = _issue("ca", usage={"key_agreement": True})
    assert check_recipient(made, "made@example.test", anchors=[cert("ca")], now=NOW) == []
    problems = check_recipient(
        made, "made@example.test", anchors=[cert("ca")], now=NOW, purpose="sign"
    )
    assert problems == ["no-digital-signature"]


def test_end_entity_cannot_act_as_issuer() -> None:
    # a path through bob (CA:FALSE) to the root must not validate
    fake_issuer_key = key("bob")
    subject = ec.generate_private_key(ec.SECP256R1())
    made = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "evil")]))
        .issuer_name(cert("bob").subject)
        .public_key(subject.public_key())
        .serial_number(1)
        .not_valid_before(dt.datetime(2025, 1, 1, tzinfo=dt.UTC))
        .not_valid_after(dt.datetime(2100, 1, 1, tzinfo=dt.UTC))
        .add_extension(x509.SubjectAlternativeName([x509.RFC822Name("made@example.test")]), False)
        .sign(fake_issuer_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    problems = check_recipient(
        made, "made@example.test", anchors=[cert("ca")], intermediates=[cert("bob")], now=NOW
    )
    assert problems == [
        'untrusted: issuer "bob (e2email test)" is not a CA (basicConstraints cA is false)'
    ]


@pytest.mark.parametrize(
    ("ca_eku", "trusted"),
    [
        ([ExtendedKeyUsageOID.EMAIL_PROTECTION], True),
        (None, True),
        ([ExtendedKeyUsageOID.SERVER_AUTH], False),
    ],
)
def test_intermediate_eku_must_allow_mail(
    ca_eku: list[x509.ObjectIdentifier] | None, trusted: bool
) -> None:
    # Web PKI defaults would demand clientAuth on a CA's EKU; S/MIME CAs carry emailProtection.
    inter_key = ec.generate_private_key(ec.SECP256R1())
    inter = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mail intermediate")]))
        .issuer_name(cert("ca").subject)
        .public_key(inter_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(dt.datetime(2025, 1, 1, tzinfo=dt.UTC))
        .not_valid_after(dt.datetime(2100, 1, 1, tzinfo=dt.UTC))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(inter_key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(key("ca").public_key()), False
        )
    )
    if ca_eku is not None:
        inter = inter.add_extension(x509.ExtendedKeyUsage(ca_eku), critical=False)
    inter_cert = inter.sign(key("ca"), hashes.SHA256())
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "leaf")]))
        .issuer_name(inter_cert.subject)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(dt.datetime(2025, 1, 1, tzinfo=dt.UTC))
        .not_valid_after(dt.datetime(2100, 1, 1, tzinfo=dt.UTC))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(leaf_key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(inter_key.public_key()), False
        )
        .add_extension(x509.SubjectAlternativeName([x509.RFC822Name("leaf@example.test")]), False)
        .sign(inter_key, hashes.SHA256())
    )
    problems = check_recipient(
        leaf, "leaf@example.test", anchors=[cert("ca")], intermediates=[inter_cert], now=NOW
    )
    refused = (
        'untrusted: issuer "mail intermediate" has an extendedKeyUsage without emailProtection'
    )
    assert problems == ([] if trusted else [refused])
