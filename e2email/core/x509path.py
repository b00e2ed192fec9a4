"""S/MIME certification path validation (RFC 5280 section 6.1), as OpenSSL applies it to mail.

Pure: a certificate, the trust anchors, candidate intermediates and a clock value in; the
validated path, or the one reason there is none, out. ``cryptography`` parses and checks
signatures; the profile is ours, because its own verifier only knows the CA/Browser Forum
profile of the Web PKI, which refuses private CAs that RFC 5280, OpenSSL, gpgsm and NSS
accept (docs/smime.md, "Which CA certificates are accepted", has the table).

Every issuer on the path (the trust anchor included, as OpenSSL does) must:

- have signed the certificate below it, with a SHA-2 family hash or EdDSA (never SHA-1 or
  MD5, whose collisions forge CA certificates), an RSA issuer key of 2048 bits or more;
- be valid at ``now`` (RFC 5280 6.1.3 a 2);
- be a CA: basicConstraints with cA true (6.1.4 k), critical or not; a version 1
  certificate only when it is a self-issued trust anchor;
- have keyCertSign when it has a keyUsage at all (6.1.4 n): keyUsage is not required;
- keep its pathLenConstraint (6.1.4 m), self-issued intermediates not counted (6.1.4 l);
- when it has an extendedKeyUsage, allow emailProtection (or anyExtendedKeyUsage);
- have no critical extension we do not process (6.1.4 o);
- have its name constraints kept by every certificate below it (6.1.4 g, x509names).

The end entity's own validity, key usages and address are judged by ``x509check``; here
only its unrecognised critical extensions are (6.1.5 f). A trust anchor need not be
self-signed: an intermediate a user trusts is an anchor too (OpenSSL's ``-partial_chain``),
and so is a person's certificate listed among the anchors itself.
Revocation and certificate policies are not processed, as OpenSSL does not by default.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, NameOID

from e2email.core.x509names import constraint_problem

_Ext = TypeVar("_Ext", bound=x509.ExtensionType)

MAX_INTERMEDIATES = 8  # longer paths are refused (OpenSSL allows 100, cryptography 8)
MIN_RSA_BITS = 2048
_ATTEMPTS = 64  # issuer candidates tried at most: a bound on pathological bundles

_ANY_EKU = x509.ObjectIdentifier("2.5.29.37.0")
_MAIL_EKUS = frozenset({ExtendedKeyUsageOID.EMAIL_PROTECTION, _ANY_EKU})
_STRONG_HASHES = (hashes.SHA224, hashes.SHA256, hashes.SHA384, hashes.SHA512)
# The critical extensions OpenSSL's verifier handles (v3_purp.c supported_nids, as far as
# they concern mail); any other critical extension refuses the certificate.
_HANDLED = frozenset(
    {
        ExtensionOID.KEY_USAGE,
        ExtensionOID.SUBJECT_ALTERNATIVE_NAME,
        ExtensionOID.BASIC_CONSTRAINTS,
        ExtensionOID.CERTIFICATE_POLICIES,
        ExtensionOID.CRL_DISTRIBUTION_POINTS,
        ExtensionOID.EXTENDED_KEY_USAGE,
        ExtensionOID.POLICY_CONSTRAINTS,
        ExtensionOID.NAME_CONSTRAINTS,
        ExtensionOID.POLICY_MAPPINGS,
        ExtensionOID.INHIBIT_ANY_POLICY,
    }
)


@dataclass(frozen=True)
class Path:
    """A validated path (leaf first, anchor last), or none and why."""

    chain: tuple[x509.Certificate, ...] = ()
    problem: str = ""

    @property
    def valid(self) -> bool:
        return bool(self.chain)


def validate(
    leaf: x509.Certificate,
    *,
    anchors: Sequence[x509.Certificate],
    intermediates: Sequence[x509.Certificate] = (),
    now: dt.datetime,
) -> Path:
    """The first path from ``leaf`` to an anchor that validates at ``now`` (RFC 5280 6.1)."""
    problem = _critical_problem(leaf)
    if problem:
        return Path(problem=problem)
    if not anchors:
        return Path(problem="no trust anchors are configured")
    if leaf in anchors:
        return Path((leaf,))  # trusted as it is, as OpenSSL trusts a certificate in -CAfile
    search = _Search(anchors, intermediates, _aware(now))
    chain = search.extend([leaf])
    return Path(tuple(chain)) if chain else Path(problem=search.problem)


class _Search:
    """Depth-first path building; remembers the failure that got furthest."""

    def __init__(
        self,
        anchors: Sequence[x509.Certificate],
        intermediates: Sequence[x509.Certificate],
        now: dt.datetime,
    ) -> None:
        self.anchors = list(anchors)
        self.pool = [*self.anchors, *(c for c in intermediates if c not in self.anchors)]
        self.now = now
        self.attempts = _ATTEMPTS
        self.depth = -1
        self.problem = ""

    def extend(self, path: list[x509.Certificate]) -> list[x509.Certificate] | None:
        child = path[-1]
        candidates = [c for c in self.pool if c.subject == child.issuer and c not in path]
        if not candidates:
            self._fail(len(path), _no_issuer(path))
        for issuer in candidates:
            found = self._try(path, issuer)
            if found:
                return found
        return None

    def _try(
        self, path: list[x509.Certificate], issuer: x509.Certificate
    ) -> list[x509.Certificate] | None:
        self.attempts -= 1
        if self.attempts < 0:
            self._fail(len(path), "too many candidate issuers to try")
            return None
        problem = link_problem(path, issuer, self.now)
        if problem:
            self._fail(len(path), problem)
            return None
        if issuer in self.anchors:
            return [*path, issuer]
        if len(path) > MAX_INTERMEDIATES:
            self._fail(len(path), f"path longer than {MAX_INTERMEDIATES} intermediates")
            return None
        return self.extend([*path, issuer])

    def _fail(self, depth: int, problem: str) -> None:
        if depth > self.depth:
            self.depth, self.problem = depth, problem


def link_problem(
    path: Sequence[x509.Certificate], issuer: x509.Certificate, now: dt.datetime
) -> str | None:
    """Why ``issuer`` may not issue ``path[-1]`` (``path`` is leaf first), or None."""
    child = path[-1]
    name = f'issuer "{label(issuer)}"'
    problem = _signature_problem(child, issuer) or _ca_problem(issuer, now)
    problem = problem or _path_length_problem(path, issuer)
    if problem is None:
        problem = _constraints_problem(path, issuer)
    return f"{name} {problem}" if problem else None


def _signature_problem(child: x509.Certificate, issuer: x509.Certificate) -> str | None:
    try:
        algorithm = child.signature_hash_algorithm
    except UnsupportedAlgorithm:
        return f'signed "{label(child)}" with an unsupported algorithm'
    if algorithm is not None and not isinstance(algorithm, _STRONG_HASHES):
        return f'signed "{label(child)}" with {algorithm.name.upper()}, which is not accepted'
    key = issuer.public_key()
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < MIN_RSA_BITS:
        return f"has a {key.key_size}-bit RSA key (at least {MIN_RSA_BITS} needed)"
    try:
        child.verify_directly_issued_by(issuer)
    except InvalidSignature:
        return f'did not sign "{label(child)}" (bad signature)'
    except (ValueError, TypeError, UnsupportedAlgorithm) as e:
        return f'signature on "{label(child)}" cannot be checked ({e})'
    return None


def _ca_problem(issuer: x509.Certificate, now: dt.datetime) -> str | None:
    if now < issuer.not_valid_before_utc:
        return f"is not valid before {issuer.not_valid_before_utc:%Y-%m-%d %H:%M} UTC"
    if now > issuer.not_valid_after_utc:
        return f"expired on {issuer.not_valid_after_utc:%Y-%m-%d %H:%M} UTC"
    try:
        extensions = issuer.extensions
    except ValueError as e:
        return f"has unreadable extensions ({e})"
    return _is_ca_problem(issuer, extensions) or _usage_problem(extensions)


def _is_ca_problem(issuer: x509.Certificate, extensions: x509.Extensions) -> str | None:
    if issuer.version is not x509.Version.v3:
        if issuer.subject == issuer.issuer:
            return None  # a version 1 root, trusted out of band (RFC 5280 6.1.4 k)
        return "is a version 1 certificate, not a CA"
    constraints = _get(extensions, x509.BasicConstraints)
    if constraints is None:
        return "is not a CA (no basicConstraints)"
    if not constraints.ca:
        return "is not a CA (basicConstraints cA is false)"
    return None


def _usage_problem(extensions: x509.Extensions) -> str | None:
    usage = _get(extensions, x509.KeyUsage)
    if usage is not None and not usage.key_cert_sign:
        return "has no keyCertSign"
    eku = _get(extensions, x509.ExtendedKeyUsage)
    if eku is not None and not any(oid in _MAIL_EKUS for oid in eku):
        return "has an extendedKeyUsage without emailProtection"
    return _unhandled(extensions)


def _path_length_problem(path: Sequence[x509.Certificate], issuer: x509.Certificate) -> str | None:
    constraints = _get(issuer.extensions, x509.BasicConstraints)
    limit = constraints.path_length if constraints is not None else None
    below = sum(1 for c in path[1:] if c.subject != c.issuer)
    if limit is not None and below > limit:
        return f"pathLen {limit} exceeded ({below} CA{'s' if below > 1 else ''} below it)"
    return None


def _constraints_problem(path: Sequence[x509.Certificate], issuer: x509.Certificate) -> str | None:
    constraints = _get(issuer.extensions, x509.NameConstraints)
    if constraints is None:
        return None
    for i, cert in enumerate(path):
        if i > 0 and cert.subject == cert.issuer:
            continue  # self-issued intermediates are exempt (RFC 5280 6.1.4 g)
        problem = constraint_problem(constraints, cert)
        if problem:
            return f'name constraints {problem} (in "{label(cert)}")'
    return None


def _critical_problem(cert: x509.Certificate) -> str | None:
    try:
        extensions = cert.extensions
    except ValueError as e:
        return f'"{label(cert)}" has unreadable extensions ({e})'
    problem = _unhandled(extensions)
    return f'"{label(cert)}" {problem}' if problem else None


def _unhandled(extensions: x509.Extensions) -> str | None:
    for ext in extensions:
        if ext.critical and ext.oid not in _HANDLED:
            return f"has an unsupported critical extension {ext.oid.dotted_string}"
    return None


def _no_issuer(path: Sequence[x509.Certificate]) -> str:
    child = path[-1]
    if len(path) > 1 and child.subject == child.issuer:
        return f'root "{label(child)}" is not among the trust anchors'
    whose = "" if len(path) == 1 else f' of "{label(child)}"'
    return f'no issuer{whose} among the trust anchors (issued by "{_name(child.issuer)}")'


def label(cert: x509.Certificate) -> str:
    """How a certificate is named in a reason: its commonName, else its whole subject."""
    return _name(cert.subject)


def _name(name: x509.Name) -> str:
    common = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    if common:
        return str(common[0].value)
    return name.rfc4514_string() or "(empty name)"


def _get(extensions: x509.Extensions, kind: type[_Ext]) -> _Ext | None:
    try:
        return extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


def _aware(now: dt.datetime) -> dt.datetime:
    return now if now.tzinfo is not None else now.replace(tzinfo=dt.UTC)
