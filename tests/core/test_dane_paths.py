"""DANE-TA path checks (RFC 7671 5.2.2, RFC 7672 3.1.2, 3.2.2) on chains made here.

Every chain is root -> [intermediate ->] leaf, EC P-256, built with ``cryptography``; one
property is broken per test. Pure: no network, no files.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from e2email.core.dane import Tlsa, match

NOW = datetime(2026, 6, 1, tzinfo=UTC)
DAY = timedelta(days=1)
MX = "mx.example.net"


@dataclass
class Issued:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)

    @property
    def spki(self) -> bytes:
        return self.cert.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )


def _usage(ca: bool, cert_sign: bool = True) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not ca,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca and cert_sign,
        crl_sign=ca and cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def make(
    name: str,
    issuer: Issued | None = None,
    *,
    ca: bool | None = True,
    path_length: int | None = None,
    cert_sign: bool = True,
    expired: bool = False,
    dns: tuple[str, ...] = (),
) -> Issued:
    """A certificate for ``name`` signed by ``issuer`` (self-signed when None).

    ``ca=None`` leaves basicConstraints out entirely.
    """
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    start, end = (NOW - 60 * DAY, NOW - 30 * DAY) if expired else (NOW - DAY, NOW + 90 * DAY)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.cert.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
    )
    if ca is not None:
        builder = builder.add_extension(
            x509.BasicConstraints(ca=ca, path_length=path_length if ca else None), critical=True
        )
        builder = builder.add_extension(_usage(ca, cert_sign), critical=True)
    if dns:
        san = x509.SubjectAlternativeName([x509.DNSName(d) for d in dns])
        builder = builder.add_extension(san, critical=False)
    signer = issuer.key if issuer else key
    return Issued(builder.sign(signer, hashes.SHA256()), key)


def leaf(issuer: Issued, *names: str) -> Issued:
    return make("leaf", issuer, ca=False, dns=names or (MX,))


def ta(issued: Issued, selector: int = 0, mtype: int = 1) -> Tlsa:
    data = issued.der if selector == 0 else issued.spki
    if mtype == 1:
        data = hashlib.sha256(data).digest()
    return Tlsa(2, selector, mtype, data)


def test_three_level_chain_matches_the_root_at_depth_2() -> None:
    root = make("root")
    inter = make("inter", root)
    result = match([ta(root)], [leaf(inter).der, inter.der, root.der], [MX], NOW)
    assert (result.status, result.depth) == ("match", 2), result.detail


def test_intermediate_with_ca_false_does_not_match() -> None:
    root = make("root")
    inter = make("inter", root, ca=False)
    result = match([ta(root)], [leaf(inter).der, inter.der, root.der], [MX], NOW)
    assert result.status == "mismatch"
    assert "'CN=inter' is not a CA (basicConstraints CA:FALSE)" in result.detail


def test_intermediate_without_basic_constraints_does_not_match() -> None:
    root = make("root")
    inter = make("inter", root, ca=None)
    result = match([ta(root)], [leaf(inter).der, inter.der, root.der], [MX], NOW)
    assert result.status == "mismatch" and "no basicConstraints" in result.detail


def test_expired_intermediate_does_not_match() -> None:
    root = make("root")
    inter = make("inter", root, expired=True)
    result = match([ta(root)], [leaf(inter).der, inter.der, root.der], [MX], NOW)
    assert result.status == "mismatch"
    assert "'CN=inter' is outside its validity period" in result.detail


def test_intermediate_without_key_cert_sign_does_not_match() -> None:
    root = make("root")
    inter = make("inter", root, cert_sign=False)
    result = match([ta(root)], [leaf(inter).der, inter.der, root.der], [MX], NOW)
    assert result.status == "mismatch" and "keyCertSign" in result.detail


def test_anchor_path_length_zero_forbids_an_intermediate() -> None:
    root = make("root", path_length=0)
    inter = make("inter", root)
    result = match([ta(root)], [leaf(inter).der, inter.der, root.der], [MX], NOW)
    assert result.status == "mismatch" and "allows 0 intermediate" in result.detail
    direct = match([ta(root)], [leaf(root).der, root.der], [MX], NOW)
    assert direct.status == "match", direct.detail


def test_intermediate_path_length_counts_only_what_is_below_it() -> None:
    root = make("root", path_length=1)
    upper = make("upper", root, path_length=0)
    lower = make("lower", upper)
    chain = [leaf(lower).der, lower.der, upper.der, root.der]
    result = match([ta(root)], chain, [MX], NOW)
    assert result.status == "mismatch" and "'CN=upper' allows 0" in result.detail
    upper2 = make("upper2", root, path_length=1)
    lower2 = make("lower2", upper2)
    two_below = match([ta(root)], [leaf(lower2).der, lower2.der, upper2.der, root.der], [MX], NOW)
    assert two_below.status == "mismatch" and "'CN=root' allows 1" in two_below.detail
    wide = make("wide-root")
    mid = make("mid", wide, path_length=1)
    low = make("low", mid)
    result = match([ta(wide)], [leaf(low).der, low.der, mid.der, wide.der], [MX], NOW)
    assert result.status == "match", result.detail


def test_anchor_matched_in_the_chain_by_its_key_must_still_be_a_ca() -> None:
    # 2 1 1 authenticates the key; the certificate it sits in is what makes it an issuer
    root = make("root")
    not_ca = make("not-ca", root, ca=False)
    result = match([ta(not_ca, selector=1)], [leaf(not_ca).der, not_ca.der], [MX], NOW)
    assert result.status == "mismatch" and "not a CA" in result.detail


def test_bare_public_key_from_dns_signing_the_leaf_needs_only_the_signature() -> None:
    # 2 1 0: DNS carries the issuer's key itself and no certificate: nothing else to check
    root = make("root")
    not_ca = make("not-ca", root, ca=False)
    record = ta(not_ca, selector=1, mtype=0)
    result = match([record], [leaf(not_ca).der], [MX], NOW)
    assert (result.status, result.depth) == ("match", 1), result.detail


def test_full_anchor_certificate_from_dns_must_be_a_ca() -> None:
    root = make("root")
    not_ca = make("not-ca", root, ca=False)
    record = ta(not_ca, selector=0, mtype=0)
    result = match([record], [leaf(not_ca).der], [MX], NOW)
    assert result.status == "mismatch" and "not a CA" in result.detail


def test_bare_key_from_dns_above_an_intermediate_still_checks_the_intermediate() -> None:
    root = make("root", ca=False)  # only its key is published: its certificate is irrelevant
    inter = make("inter", root, ca=False)
    record = ta(root, selector=1, mtype=0)
    result = match([record], [leaf(inter).der, inter.der], [MX], NOW)
    assert result.status == "mismatch" and "'CN=inter' is not a CA" in result.detail


def test_anchor_sent_with_junk_after_it_from_dns() -> None:
    root = make("root")
    inter = make("inter", root)
    junk = make("junk")
    record = ta(root, selector=1, mtype=0)
    result = match([record], [leaf(inter).der, inter.der, junk.der], [MX], NOW)
    assert result.status == "match", result.detail


def test_the_anchors_own_dates_are_not_checked() -> None:
    root = make("root", expired=True)
    inter = make("inter", root)
    result = match([ta(root)], [leaf(inter).der, inter.der, root.der], [MX], NOW)
    assert result.status == "match", result.detail


def test_leaf_name_wildcard_matches_one_label_only() -> None:
    # RFC 6125 6.4.3 as RFC 7672 3.2.2 asks: "*" is the whole left-most label
    root = make("root")
    star = leaf(root, "*.example.net")
    assert match([ta(root)], [star.der, root.der], [MX], NOW).status == "match"
    deep = match([ta(root)], [star.der, root.der], ["a.mx.example.net"], NOW)
    assert deep.status == "mismatch" and "not valid for a.mx.example.net" in deep.detail
    partial = leaf(root, "m*.example.net")
    assert match([ta(root)], [partial.der, root.der], [MX], NOW).status == "mismatch"


def test_any_reference_identifier_may_match() -> None:
    # behind a secure CNAME the expanded name counts as well as the MX host name
    root = make("root")
    target = leaf(root, "mail.provider.example")
    chain = [target.der, root.der]
    assert match([ta(root)], chain, [MX], NOW).status == "mismatch"
    assert match([ta(root)], chain, [MX, "mail.provider.example"], NOW).status == "match"
