"""Name constraints of a CA against the names of a certificate below it (RFC 5280 4.2.1.10, 6.1.4 g).

Pure. A CA's ``permittedSubtrees`` of a name type limit every name of that type in the
certificates below it; its ``excludedSubtrees`` forbid names. Checked per CA, which is the
intersection (permitted) and union (excluded) that RFC 5280 6.1.3 b, c keeps as state.

Names of a certificate: its subject (directoryName, when not empty), the e-mail addresses of
the subject's emailAddress attributes (as rfc822Name, RFC 5280 4.2.1.10), and every
subjectAltName entry. rfc822Name, dNSName, directoryName, iPAddress and URI constraints are
checked; a constraint of another type on a certificate that has a name of that type refuses
the path, as it cannot be checked (RFC 5280 6.1.4 g leaves no way around it).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.x509.oid import NameOID

_Matcher = Callable[[Any, Any], bool]


def constraint_problem(constraints: x509.NameConstraints, cert: x509.Certificate) -> str | None:
    """Why ``cert``'s names break ``constraints``, or None when they keep to them."""
    for kind, values in names_of(cert).items():
        permitted = _bases(constraints.permitted_subtrees, kind)
        excluded = _bases(constraints.excluded_subtrees, kind)
        if not permitted and not excluded:
            continue
        match = _MATCHERS.get(kind)
        if match is None:
            return f"cannot check a {kind.__name__} against the name constraints"
        for value in values:
            if any(match(value, base) for base in excluded):
                return f'exclude "{_show(value)}"'
            if permitted and not any(match(value, base) for base in permitted):
                return f'do not permit "{_show(value)}"'
    return None


def names_of(cert: x509.Certificate) -> dict[type[x509.GeneralName], list[Any]]:
    """The certificate's names by general-name type (subject, emailAddress, subjectAltName)."""
    found: dict[type[x509.GeneralName], list[Any]] = {}
    if len(cert.subject) > 0:
        found[x509.DirectoryName] = [cert.subject]
    emails = [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.EMAIL_ADDRESS)]
    if emails:
        found[x509.RFC822Name] = emails
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return found
    for name in san:
        found.setdefault(type(name), []).append(name.value)
    return found


def _bases(subtrees: list[x509.GeneralName] | None, kind: type[x509.GeneralName]) -> list[Any]:
    return [g.value for g in subtrees or () if type(g) is kind]


def _email_in(address: str, base: str) -> bool:
    """RFC 5280 4.2.1.10: a mailbox, all mailboxes of a host, or of a domain's subdomains."""
    _, _, domain = address.rpartition("@")
    if "@" in base:
        local, _, host = base.rpartition("@")
        return address.rpartition("@")[0] == local and domain.lower() == host.lower()
    if base.startswith("."):
        return domain.lower().endswith(base.lower())
    return domain.lower() == base.lower()


def _dns_in(name: str, base: str) -> bool:
    """A host and its subdomains; a leading dot, subdomains only (as OpenSSL reads it)."""
    n, b = name.lower().rstrip("."), base.lower().rstrip(".")
    if not b:
        return True
    if b.startswith("."):
        return n.endswith(b)
    return n == b or n.endswith("." + b)


def _uri_in(uri: str, base: str) -> bool:
    """The URI's host: a host exactly, or with a leading dot, any subdomain (4.2.1.10)."""
    host = (urlsplit(uri).hostname or "").lower()
    b = base.lower()
    return host.endswith(b) if b.startswith(".") else host == b


def _ip_in(address: Any, network: Any) -> bool:
    if not isinstance(network, ipaddress.IPv4Network | ipaddress.IPv6Network):
        return False
    return bool(address.version == network.version and address in network)


def _dn_in(name: x509.Name, base: x509.Name) -> bool:
    """The base's relative distinguished names begin the name (RFC 5280 7.1)."""
    rdns, prefix = list(name.rdns), list(base.rdns)
    return rdns[: len(prefix)] == prefix


def _show(value: Any) -> str:
    return value.rfc4514_string() if isinstance(value, x509.Name) else str(value)


_MATCHERS: dict[type[x509.GeneralName], _Matcher] = {
    x509.RFC822Name: _email_in,
    x509.DNSName: _dns_in,
    x509.UniformResourceIdentifier: _uri_in,
    x509.IPAddress: _ip_in,
    x509.DirectoryName: _dn_in,
}
