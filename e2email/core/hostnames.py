"""Host names: syntax checks and matching a certificate to a server name (RFC 6125 6.4).

Pure. Used for MX certificates (``check``), DANE-TA name checks (RFC 7672 3.2.2) and to
validate what the user typed before any query is sent.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # name checks are cheap to import; certificates are parsed only when probed
    from cryptography import x509

_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")


def normalise(name: str) -> str:
    """Lower case, no trailing dot, IDNA (punycode) for non-ASCII labels."""
    name = name.strip().rstrip(".")
    if not name.isascii():
        name = name.encode("idna").decode("ascii")
    return name.lower()


def is_hostname(name: str) -> bool:
    """RFC 1123 2.1 host name (letters, digits, hyphens; labels of 1-63; at most 253)."""
    if not name or len(name) > 253:
        return False
    return all(_LABEL.fullmatch(label) for label in name.split("."))


def dns_id_matches(pattern: str, host: str) -> bool:
    """RFC 6125 6.4.3: exact, or ``*`` as the whole left-most label matching one label."""
    pattern, host = pattern.lower().rstrip("."), host.lower().rstrip(".")
    if pattern.startswith("*."):
        first, dot, rest = host.partition(".")
        return bool(first) and bool(dot) and rest == pattern[2:] and "." in rest
    return "*" not in pattern and pattern == host


def certificate_names(cert: x509.Certificate) -> list[str]:
    """The DNS-IDs of a certificate; the CN only when there is no DNS SAN (as OpenSSL does)."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        names = san.value.get_values_for_type(x509.DNSName)
    except x509.ExtensionNotFound:
        names = []
    if names:
        return names
    return [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]


def certificate_matches(cert: x509.Certificate, hosts: Sequence[str]) -> bool:
    """True if any of ``hosts`` matches a DNS-ID of ``cert``."""
    names = certificate_names(cert)
    return any(dns_id_matches(n, h) for n in names for h in hosts)
