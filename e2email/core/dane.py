"""DANE for SMTP (RFC 7672) on TLSA records (RFC 6698): match a server's chain to its TLSA RRset.

Pure: TLSA records and the DER certificates the server sent in, a result out. The caller is
responsible for using only DNSSEC-secure TLSA RRsets (RFC 7672 2.2); this module never sees
anything else.

RFC 7672 3.1: only DANE-TA(2) and DANE-EE(3) are usable for SMTP; PKIX-TA(0) and PKIX-EE(1)
are unusable, as are unknown selectors and matching types. When every record is unusable,
the server must still be reached over TLS, but unauthenticated ("mandatory unauthenticated
TLS", RFC 7672 2.2). DANE-EE ignores names and dates (3.1.1); DANE-TA requires a valid path
from the leaf up to the matched trust anchor (RFC 7671 5.2.2, RFC 7672 3.1.2): signatures,
dates below the anchor, every issuer a CA within its path length, and a leaf name matching
a reference identifier: the MX host name, and the CNAME-expanded name behind a secure
CNAME (3.2.2; wildcards per RFC 6125 6.4.3).
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa

from e2email.core.hostnames import certificate_matches

DANE_TA = 2
DANE_EE = 3
_DIGEST_SIZES = {1: 32, 2: 64}  # SHA2-256, SHA2-512 (RFC 6698 2.1.3)

Status = Literal["match", "mismatch", "unusable"]


@dataclass(frozen=True)
class Tlsa:
    """One TLSA record (RFC 6698 2.1): usage, selector, matching type, association data."""

    usage: int
    selector: int
    mtype: int
    data: bytes

    @classmethod
    def from_text(cls, text: str) -> Tlsa:
        """Parse presentation format ``"3 1 1 ABCD..."`` (hex may be split by spaces)."""
        parts = text.split()
        if len(parts) < 4 or not all(p.isdigit() for p in parts[:3]):
            raise ValueError(f"not a TLSA record: {text!r}")
        return cls(int(parts[0]), int(parts[1]), int(parts[2]), bytes.fromhex("".join(parts[3:])))

    @property
    def usable(self) -> bool:
        """RFC 7672 3.1: usage 2 or 3, selector 0 or 1, matching type 0, 1 or 2 of right size."""
        if self.usage not in (DANE_TA, DANE_EE) or self.selector not in (0, 1):
            return False
        if self.mtype == 0:
            return bool(self.data)
        return _DIGEST_SIZES.get(self.mtype) == len(self.data)

    def __str__(self) -> str:
        return f"{self.usage} {self.selector} {self.mtype} {self.data.hex().upper()}"

    @property
    def label(self) -> str:
        """Presentation format, the data cut short when it is a whole certificate or key."""
        text = str(self)
        return text if len(self.data) <= 64 else text[:40] + "..."


@dataclass(frozen=True)
class DaneResult:
    """How a chain fared against a TLSA RRset; ``depth`` is the chain index that matched."""

    status: Status
    detail: str
    usage: int | None = None
    depth: int | None = None


def association(cert: x509.Certificate, selector: int, mtype: int) -> bytes:
    """The association data of ``cert`` for a selector and matching type (RFC 6698 2.1.2-3)."""
    if selector == 0:
        data = cert.public_bytes(serialization.Encoding.DER)
    else:
        data = cert.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    if mtype == 1:
        return hashlib.sha256(data).digest()
    if mtype == 2:
        return hashlib.sha512(data).digest()
    return data


def _matches(record: Tlsa, cert: x509.Certificate) -> bool:
    return hmac.compare_digest(association(cert, record.selector, record.mtype), record.data)


def match(
    records: Sequence[Tlsa],
    chain_der: Sequence[bytes],
    names: Sequence[str],
    now: datetime | None = None,
) -> DaneResult:
    """RFC 7672 3: does the chain the server sent (leaf first) satisfy the TLSA RRset?

    ``names`` are the reference identifiers for DANE-TA (the MX host name, RFC 7672 3.2.2).
    DANE-EE(3) is tried first, then DANE-TA(2) from the lowest chain depth up.
    """
    usable = [r for r in records if r.usable]
    if not usable:
        return DaneResult("unusable", "no usable TLSA record (only PKIX usages or unknown types)")
    if not chain_der:
        return DaneResult("mismatch", "the server presented no certificate")
    try:
        chain = [x509.load_der_x509_certificate(d) for d in chain_der]
    except ValueError as e:
        return DaneResult("mismatch", f"unparseable certificate from the server: {e}")
    for record in usable:
        if record.usage == DANE_EE and _matches(record, chain[0]):
            detail = f"DANE-EE {record.label} matches the server certificate"
            return DaneResult("match", detail, 3, 0)
    return _match_ta([r for r in usable if r.usage == DANE_TA], chain, names, now)


def _match_ta(
    records: list[Tlsa], chain: list[x509.Certificate], names: Sequence[str], now: datetime | None
) -> DaneResult:
    """RFC 7672 3.1.2: a DANE-TA record matches an issuer the server sent, or is one in DNS."""
    if not records:
        return DaneResult("mismatch", "no DANE-EE record matches the server certificate")
    when = now or datetime.now(UTC)
    problems: list[str] = []
    for depth in range(1, len(chain)):
        for record in records:
            if _matches(record, chain[depth]):
                anchor = chain[depth]
                why = _check_path(chain[:depth], anchor, anchor.public_key(), names, when)
                if why is None:
                    return DaneResult("match", f"DANE-TA {record.label} at depth {depth}", 2, depth)
                problems.append(f"DANE-TA {record.label} at depth {depth}: {why}")
    for record in records:
        why = _match_dns_anchor(record, chain, names, when)
        if why is None:
            return DaneResult("match", f"DANE-TA {record.label} (anchor from DNS)", 2, len(chain))
        if why:
            problems.append(f"DANE-TA {record.label} (anchor from DNS): {why}")
    detail = problems[0] if problems else "no TLSA record matches any certificate in the chain"
    return DaneResult("mismatch", detail)


def _match_dns_anchor(
    record: Tlsa, chain: list[x509.Certificate], names: Sequence[str], when: datetime
) -> str | None:
    """A full anchor (cert or SPKI, matching type 0) published in DNS, not sent by the server.

    The path is the longest prefix of what the server sent whose top the anchor signed
    (servers may append unrelated certificates). Returns None on success, "" when the record
    is not a full anchor, else the problem.
    """
    if record.mtype != 0:
        return ""
    key, anchor = _anchor_key(record)
    if key is None:
        return ""
    for top in range(len(chain), 0, -1):
        if _signed_by(chain[top - 1], key):
            return _check_path(chain[:top], anchor, key, names, when)
    return "the chain is not signed by the trust anchor published in DNS"


def _anchor_key(record: Tlsa) -> tuple[object | None, x509.Certificate | None]:
    """The anchor's public key, and its certificate when DNS publishes one (selector 0)."""
    try:
        if record.selector == 0:
            cert = x509.load_der_x509_certificate(record.data)
            return cert.public_key(), cert
        return serialization.load_der_public_key(record.data), None
    except (ValueError, UnsupportedAlgorithm):
        return None, None


def _check_path(
    below: list[x509.Certificate],
    anchor: x509.Certificate | None,
    anchor_key: object,
    names: Sequence[str],
    when: datetime,
) -> str | None:
    """RFC 7671 5.2.2 / RFC 7672 3.1.2: the path from the leaf up to the trust anchor.

    ``below`` is the leaf and the intermediates under the anchor. ``anchor`` is the anchor's
    certificate, or None when the anchor is a bare public key from DNS (2 1 0): then only
    its signature counts. Checked: names and signatures link each certificate to the next;
    every certificate below the anchor is within its dates; every issuer, the anchor's
    certificate included, may issue (basicConstraints CA:TRUE, pathLenConstraint, keyUsage
    keyCertSign: RFC 5280 4.2.1.9, 4.2.1.3); the leaf's name matches (RFC 7672 3.2.2). The
    anchor's own dates are not checked: DNS vouches for it, as for a trust store's root.
    """
    why = _links(below, anchor, anchor_key) or _dates(below, when) or _issuers(below, anchor)
    if why:
        return why
    if not certificate_matches(below[0], names):
        return f"the certificate is not valid for {', '.join(names)} (DANE-TA checks names)"
    return None


def _links(
    below: list[x509.Certificate], anchor: x509.Certificate | None, anchor_key: object
) -> str | None:
    """Each certificate names and is signed by the next; the top one by the anchor."""
    for child, parent in itertools.pairwise(below):
        if child.issuer != parent.subject or not _signed_by(child, parent.public_key()):
            return f"certificate {_name(child)} is not signed by its issuer"
    if anchor is not None and below[-1].issuer != anchor.subject:
        return f"certificate {_name(below[-1])} was not issued by the trust anchor"
    if not _signed_by(below[-1], anchor_key):
        return f"certificate {_name(below[-1])} is not signed by the trust anchor"
    return None


def _dates(below: list[x509.Certificate], when: datetime) -> str | None:
    """Every certificate below the anchor is within its validity period."""
    for cert in below:
        if not cert.not_valid_before_utc <= when <= cert.not_valid_after_utc:
            return f"certificate {_name(cert)} is outside its validity period"
    return None


def _issuers(below: list[x509.Certificate], anchor: x509.Certificate | None) -> str | None:
    """Every issuer above the leaf, the anchor's certificate included, may issue."""
    issuers = below[1:] + ([anchor] if anchor is not None else [])
    for position, issuer in enumerate(issuers, start=1):
        why = _may_issue(issuer, _intermediates_under(below, position))
        if why:
            return why
    return None


def _intermediates_under(below: list[x509.Certificate], position: int) -> int:
    """Non-self-issued intermediates between the issuer at ``position`` and the leaf."""
    return sum(1 for c in below[1:position] if c.issuer != c.subject)


def _may_issue(cert: x509.Certificate, intermediates: int) -> str | None:
    """RFC 5280 6.1.4 (k), (l), (m), (n) for one issuer: CA, path length, keyCertSign."""
    try:
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return f"issuer {_name(cert)} is not a CA (no basicConstraints)"
    if not bc.ca:
        return f"issuer {_name(cert)} is not a CA (basicConstraints CA:FALSE)"
    if bc.path_length is not None and intermediates > bc.path_length:
        return f"issuer {_name(cert)} allows {bc.path_length} intermediate(s) below it, not more"
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return None
    if not usage.key_cert_sign:
        return f"issuer {_name(cert)} may not sign certificates (keyUsage without keyCertSign)"
    return None


def _name(cert: x509.Certificate) -> str:
    return repr(cert.subject.rfc4514_string())


def _signed_by(cert: x509.Certificate, key: object) -> bool:
    """Verify ``cert``'s signature with ``key`` (RSA PKCS#1/PSS, ECDSA, Ed25519, Ed448)."""
    sig, tbs = cert.signature, cert.tbs_certificate_bytes
    params = cert.signature_algorithm_parameters
    try:
        if isinstance(key, rsa.RSAPublicKey):
            if not isinstance(params, padding.PKCS1v15 | padding.PSS):
                return False
            hash_alg = cert.signature_hash_algorithm
            if hash_alg is None:
                return False
            key.verify(sig, tbs, params, hash_alg)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            if not isinstance(params, ec.ECDSA):
                return False
            key.verify(sig, tbs, params)
        elif isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
            key.verify(sig, tbs)
        else:
            return False
    except (InvalidSignature, UnsupportedAlgorithm, ValueError, TypeError):
        return False
    return True
