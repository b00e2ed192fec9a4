"""Is this S/MIME certificate usable for this recipient? (RFC 8550 section 4, RFC 5280 6.1)

Pure: certificates, an address and a clock value in, a list of problem codes out. An empty
list means usable. cryptography's ``PKCS7EnvelopeBuilder`` encrypts to any certificate it is
given, signing-only or expired alike, so nothing reaches it before this check has passed.

Problem codes, in the order they are checked:

``ca-certificate``   the certificate is a CA (basicConstraints cA), not an end entity
``not-yet-valid``    ``now`` is before notBefore (RFC 5280 4.1.2.5)
``expired``          ``now`` is after notAfter
``bad-eku``          an extendedKeyUsage is present without emailProtection or anyEKU
                     (RFC 8550 4.4.4)
``no-key-encipherment``  RSA key, keyUsage present without keyEncipherment (RFC 8550 4.4.2)
``no-key-agreement``     EC key, keyUsage present without keyAgreement (RFC 8550 4.4.2)
``no-digital-signature`` purpose "sign", keyUsage present without digitalSignature
``unsupported-key``  a key type S/MIME encryption here cannot use (only RSA and EC can)
``address-mismatch`` no SAN rfc822Name (without any, no subject emailAddress) equals the
                     address (RFC 8550 3: local part exact, domain case-insensitive)
``untrusted: ...``   no valid path to a trust anchor (RFC 5280 6.1, ``x509path``), intermediates
                     allowed; after the colon, the check that failed, e.g.
                     ``untrusted: issuer "Example CA" has no keyCertSign``
``malformed``        instead of all the above: an extension cryptography refuses when it is
                     read (a duplicated extension, an unknown general name type)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Literal, TypeVar

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from e2email.core import x509path
from e2email.model import Address

Purpose = Literal["encrypt", "sign"]
_Ext = TypeVar("_Ext", bound=x509.ExtensionType)

CA_CERTIFICATE = "ca-certificate"
NOT_YET_VALID = "not-yet-valid"
EXPIRED = "expired"
BAD_EKU = "bad-eku"
NO_KEY_ENCIPHERMENT = "no-key-encipherment"
NO_KEY_AGREEMENT = "no-key-agreement"
NO_DIGITAL_SIGNATURE = "no-digital-signature"
UNSUPPORTED_KEY = "unsupported-key"
ADDRESS_MISMATCH = "address-mismatch"
UNTRUSTED = "untrusted"

_ANY_EKU = x509.ObjectIdentifier("2.5.29.37.0")
_MAIL_EKUS = frozenset({ExtendedKeyUsageOID.EMAIL_PROTECTION, _ANY_EKU})


def check_recipient(
    cert: x509.Certificate,
    address: Address | str,
    *,
    anchors: Sequence[x509.Certificate],
    intermediates: Sequence[x509.Certificate] = (),
    now: dt.datetime,
    purpose: Purpose = "encrypt",
) -> list[str]:
    """Every reason ``cert`` may not be used for ``address`` (RFC 8550 4, RFC 5280 6.1)."""
    try:
        return _problems(cert, address, anchors, intermediates, now, purpose)
    except MALFORMED_EXTENSIONS:
        return [MALFORMED]


# cryptography parses extensions when they are first read, and refuses some only then.
MALFORMED_EXTENSIONS = (x509.DuplicateExtension, x509.UnsupportedGeneralNameType, ValueError)
MALFORMED = "malformed"


def _problems(
    cert: x509.Certificate,
    address: Address | str,
    anchors: Sequence[x509.Certificate],
    intermediates: Sequence[x509.Certificate],
    now: dt.datetime,
    purpose: Purpose,
) -> list[str]:
    problems: list[str] = []
    if _is_ca(cert):
        problems.append(CA_CERTIFICATE)
    problems += validity_problems(cert, now)
    if not eku_allows_mail(cert):
        problems.append(BAD_EKU)
    problems += key_usage_problems(cert, purpose)
    if not san_matches(cert, address):
        problems.append(ADDRESS_MISMATCH)
    untrusted = trust_problem(cert, anchors=anchors, intermediates=intermediates, now=now)
    if untrusted:
        problems.append(untrusted)
    return problems


def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 of the DER certificate, 64 lower-case hex digits (the contract's fingerprint)."""
    return cert.fingerprint(hashes.SHA256()).hex()


def validity_problems(cert: x509.Certificate, now: dt.datetime) -> list[str]:
    """``not-yet-valid`` or ``expired`` if ``now`` is outside the validity (RFC 5280 4.1.2.5)."""
    now = _aware(now)
    if now < cert.not_valid_before_utc:
        return [NOT_YET_VALID]
    if now > cert.not_valid_after_utc:
        return [EXPIRED]
    return []


def eku_allows_mail(cert: x509.Certificate) -> bool:
    """True unless an EKU is present without emailProtection or anyEKU (RFC 8550 4.4.4)."""
    eku = _extension(cert, x509.ExtendedKeyUsage)
    return eku is None or any(oid in _MAIL_EKUS for oid in eku)


def key_usage_problems(cert: x509.Certificate, purpose: Purpose) -> list[str]:
    """keyUsage and key type against the purpose (RFC 8550 4.4.2; RFC 5280 4.2.1.3)."""
    key = cert.public_key()
    usage = _extension(cert, x509.KeyUsage)
    if purpose == "sign":
        allowed, code = usage is None or usage.digital_signature, NO_DIGITAL_SIGNATURE
    elif isinstance(key, rsa.RSAPublicKey):
        allowed, code = usage is None or usage.key_encipherment, NO_KEY_ENCIPHERMENT
    elif isinstance(key, ec.EllipticCurvePublicKey):
        allowed, code = usage is None or usage.key_agreement, NO_KEY_AGREEMENT
    else:
        allowed, code = False, UNSUPPORTED_KEY
    return [] if allowed else [code]


def san_addresses(cert: x509.Certificate) -> list[str]:
    """The certificate's e-mail addresses, as written: the rfc822Name entries of the
    subjectAltName (RFC 5280 4.2.1.6) or, when it has none, the subject's emailAddress
    attributes, which receiving agents MUST recognise too (RFC 8550 3) and which
    ``openssl ca`` with its default configuration writes instead of a subjectAltName."""
    san = _extension(cert, x509.SubjectAlternativeName)
    found = [] if san is None else [str(v) for v in san.get_values_for_type(x509.RFC822Name)]
    if found:
        return found
    return [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.EMAIL_ADDRESS)]


def san_matches(cert: x509.Certificate, address: Address | str) -> bool:
    """True if an address of :func:`san_addresses` is ``address``: local part exact, domain
    case-insensitive."""
    wanted = _split(str(address))
    if wanted is None:
        return False
    for value in san_addresses(cert):
        have = _split(value)
        if have is not None and have[0] == wanted[0] and _same_domain(have[1], wanted[1]):
            return True
    return False


def chains_to_anchor(
    cert: x509.Certificate,
    *,
    anchors: Sequence[x509.Certificate],
    intermediates: Sequence[x509.Certificate] = (),
    now: dt.datetime,
) -> bool:
    """True if a path from ``cert`` to an anchor validates at ``now`` (RFC 5280 6.1)."""
    return trust_problem(cert, anchors=anchors, intermediates=intermediates, now=now) is None


def trust_problem(
    cert: x509.Certificate,
    *,
    anchors: Sequence[x509.Certificate],
    intermediates: Sequence[x509.Certificate] = (),
    now: dt.datetime,
) -> str | None:
    """``untrusted: <which check failed>`` when no path validates (RFC 5280 6.1), else None.

    Issuer certificates must be valid at ``now``; the end entity's own validity is judged by
    :func:`validity_problems`, so an expired certificate from a trusted CA reports
    ``expired`` and not also ``untrusted``.
    """
    path = x509path.validate(cert, anchors=anchors, intermediates=intermediates, now=now)
    return None if path.valid else f"{UNTRUSTED}: {path.problem}"


def path_intermediates(
    cert: x509.Certificate,
    *,
    anchors: Sequence[x509.Certificate],
    intermediates: Sequence[x509.Certificate],
    now: dt.datetime,
) -> list[x509.Certificate]:
    """The intermediates of the validated path from ``cert`` to an anchor (RFC 5280 6.1),
    leaf side first: what must travel with the certificate for the path to be built again.
    Empty when ``cert`` is issued by an anchor itself, or when no path validates."""
    path = x509path.validate(cert, anchors=anchors, intermediates=intermediates, now=now)
    return list(path.chain[1:-1])


def load_pem_bundle(data: bytes) -> list[x509.Certificate]:
    """Every certificate in a PEM bundle (RFC 7468); an empty list if there is none."""
    if b"-----BEGIN CERTIFICATE-----" not in data:
        return []
    return list(x509.load_pem_x509_certificates(data))


def _is_ca(cert: x509.Certificate) -> bool:
    constraints = _extension(cert, x509.BasicConstraints)
    return constraints is not None and constraints.ca


def _extension(cert: x509.Certificate, kind: type[_Ext]) -> _Ext | None:
    try:
        return cert.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


def _split(address: str) -> tuple[str, str] | None:
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain:
        return None
    return local, domain


def _same_domain(a: str, b: str) -> bool:
    return _domain_key(a) == _domain_key(b)


def _domain_key(domain: str) -> str:
    try:
        return domain.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return domain.lower()


def _aware(now: dt.datetime) -> dt.datetime:
    return now if now.tzinfo is not None else now.replace(tzinfo=dt.UTC)
