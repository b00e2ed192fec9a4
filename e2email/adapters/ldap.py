"""Keys and certificates from an LDAP directory (ldap3), always over verified TLS.

ldap3 verifies nothing by default (``Tls(validate=CERT_NONE)``, security.md item 1) and checks
host names with a helper of its own. Here the TLS layer is replaced: the socket is wrapped by
the context from ``adapters/tls`` with ``server_hostname`` set, so the chain AND the name are
checked by OpenSSL, for StartTLS (``ldap://``, mandatory) and for ``ldaps://`` alike. The
host name is resolved through the project's resolver and the connection goes to that address.

Filters come only from ``core/ldapfilter`` (RFC 4515 escaping). Referrals are never chased
(``auto_referrals=False``; referral entries are ignored), every search has a size and time
limit, and the whole exchange runs under the caller's timeout.
"""

from __future__ import annotations

import contextlib
import math
import ssl
import warnings
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from e2email.adapters import tls
from e2email.adapters.dns import Resolver
from e2email.core import ldapfilter as lf
from e2email.errors import TemporaryFailure, TLSError
from e2email.model import Address

SIZE_LIMIT = 20
PGP_ATTRIBUTES = ["pgpKey", "pgpDisabled", "pgpRevoked"]
SMIME_ATTRIBUTES = ["userCertificate;binary", "userSMIMECertificate", "cACertificate;binary"]


class LdapError(TemporaryFailure):
    """The directory could not be asked; ``kind``: dns, connect, tls, bind, timeout, protocol."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class Found:
    """What a directory holds for one address: OpenPGP key blocks and certificate blobs."""

    pgp_keys: tuple[bytes, ...] = ()
    certificates: tuple[bytes, ...] = ()
    smime_bundles: tuple[bytes, ...] = ()
    notes: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class Target:
    """Where the directory is: host name (for TLS), port, implicit TLS or StartTLS."""

    host: str
    port: int
    ldaps: bool

    @classmethod
    def parse(cls, url: str) -> Target:
        """From ``ldap://host[:port]`` or ``ldaps://host[:port]``."""
        parts = urlsplit(url)
        if parts.scheme not in ("ldap", "ldaps") or not parts.hostname:
            raise LdapError(f"{url}: not an ldap:// or ldaps:// URL", "protocol")
        ldaps = parts.scheme == "ldaps"
        return cls(parts.hostname, parts.port or (636 if ldaps else 389), ldaps)


def lookup(  # noqa: PLR0913
    url: str,
    base: str,
    address: Address,
    *,
    resolver: Resolver,
    context: ssl.SSLContext,
    bind_dn: str | None = None,
    password: str | None = None,
    timeout: float = 10.0,
) -> Found:
    """Search the directory at ``url`` for ``address``'s OpenPGP keys and S/MIME certificates."""
    target = Target.parse(url)
    conn = _connect(target, resolver, context, bind_dn, password, timeout)
    try:
        pgp = _pgp_keys(conn, base, address, timeout)
        certs, bundles = _certificates(conn, base, address, timeout)
        return Found(pgp, certs, bundles)
    finally:
        _close(conn)


def preload() -> Any:
    """Import ldap3 (from the main thread, before lookups start): pyasn1, which ldap3 uses,
    warns about its own deprecated names on import; that warning is not ours to act on."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import ldap3
        import ldap3.core.exceptions
    return ldap3


def _tls_class() -> Any:
    ldap3 = preload()

    base: Any = ldap3.Tls

    class VerifiedTls(base):  # type: ignore[misc]
        """ldap3's Tls, with the socket wrapped by our verifying context."""

        def __init__(self, context: ssl.SSLContext, host: str) -> None:
            super().__init__(validate=ssl.CERT_REQUIRED)
            self.context, self.host = context, host
            self.error: TLSError | None = None

        def wrap_socket(self, connection: Any, do_handshake: bool = False) -> None:
            try:
                connection.socket = self.context.wrap_socket(
                    connection.socket,
                    server_side=False,
                    do_handshake_on_connect=do_handshake,
                    server_hostname=self.host,
                )
            except (ssl.SSLError, ssl.CertificateError) as e:
                self.error = tls.explain(e, self.host)
                raise

    return VerifiedTls


def _connect(
    target: Target,
    resolver: Resolver,
    context: ssl.SSLContext,
    bind_dn: str | None,
    password: str | None,
    timeout: float,
) -> Any:
    ldap3 = preload()
    lx = ldap3.core.exceptions

    try:
        ip, port = resolver.addresses(target.host, target.port)[0]
    except TemporaryFailure as e:
        raise LdapError(f"ldap {target.host}: {e}", "dns") from None
    verified = _tls_class()(context, target.host)
    server = ldap3.Server(
        ip,
        port=port,
        use_ssl=target.ldaps,
        tls=verified,
        get_info=ldap3.NONE,
        connect_timeout=timeout,
    )
    conn = ldap3.Connection(
        server,
        user=bind_dn,
        password=password,
        authentication=ldap3.SIMPLE if bind_dn else ldap3.ANONYMOUS,
        auto_referrals=False,
        receive_timeout=max(1, math.ceil(timeout)),  # ldap3 packs it as an integer
        read_only=True,
        raise_exceptions=False,
    )
    where = f"ldap {target.host}:{target.port}"
    try:
        _open(conn, target, where, verified, lx)
    except BaseException:
        _close(conn)
        raise
    return conn


def _close(conn: Any) -> None:
    with contextlib.suppress(Exception):
        conn.unbind()
    sock = getattr(conn, "socket", None)
    if sock is not None:
        with contextlib.suppress(Exception):
            sock.close()


def _open(conn: Any, target: Target, where: str, verified: Any, lx: Any) -> None:
    bind_dn = conn.user
    try:
        conn.open()
        if not target.ldaps and not conn.start_tls():
            raise LdapError(f"{where}: StartTLS refused: {conn.last_error}", "tls")
    except lx.LDAPException as e:
        if verified.error is not None:
            raise LdapError(f"ldap: {verified.error}", "tls") from None
        kind = "timeout" if "timed out" in str(e) else "connect"
        raise LdapError(f"{where}: {e}", kind) from None
    if verified.error is not None:
        raise LdapError(f"ldap: {verified.error}", "tls")
    if not conn.bind():
        raise LdapError(f"{where}: bind as {bind_dn or 'anonymous'} refused", "bind")


def _search(
    conn: Any, base: str, flt: str, attributes: list[str], timeout: float, *, scope: str = "SUBTREE"
) -> list[dict[str, Any]]:
    """Entries found (referrals ignored); a size-limited answer is used as far as it goes."""
    ldap3 = preload()
    lx = ldap3.core.exceptions

    try:
        conn.search(
            base,
            flt,
            search_scope=getattr(ldap3, scope),
            attributes=attributes,
            size_limit=SIZE_LIMIT,
            time_limit=max(1, int(timeout)),
        )
    except lx.LDAPException as e:
        raise LdapError(f"ldap search failed: {e}", "protocol") from None
    code = (conn.result or {}).get("result", 0)
    if code not in (0, 4, 10, 32):  # success, sizeLimitExceeded, referral, noSuchObject
        raise LdapError(f"ldap search failed: {(conn.result or {}).get('description')}", "protocol")
    return [
        r.get("raw_attributes", {})
        for r in conn.response or ()
        if r.get("type") == "searchResEntry"
    ]


def _values(entry: dict[str, Any], name: str) -> list[bytes]:
    for key, values in entry.items():
        if key.lower() == name.lower():
            return [v for v in values if isinstance(v, bytes)]
    return []


def _pgp_keys(conn: Any, base: str, address: Address, timeout: float) -> tuple[bytes, ...]:
    """Keys under ``pgpBaseKeySpaceDN`` (GnuPG keyserver schema) for the address."""
    info = _search(
        conn,
        f"cn=PGPServerInfo,{base}",
        lf.present("objectClass"),
        ["pgpBaseKeySpaceDN"],
        timeout,
        scope="BASE",
    )
    key_base = next((v.decode() for e in info for v in _values(e, "pgpBaseKeySpaceDN")), None)
    if key_base is None:
        return ()
    text = str(address)
    flt = lf.all_of(
        lf.equals("objectClass", "pgpKeyInfo"),
        lf.any_of(lf.equals("gpgMailbox", text), lf.contains("pgpUserID", f"<{text}>")),
    )
    keys = []
    for entry in _search(conn, key_base, flt, PGP_ATTRIBUTES, timeout):
        flags = _values(entry, "pgpDisabled") + _values(entry, "pgpRevoked")
        if any(f.strip() not in (b"", b"0") for f in flags):
            continue
        keys += _values(entry, "pgpKey")
    return tuple(keys)


def _certificates(
    conn: Any, base: str, address: Address, timeout: float
) -> tuple[tuple[bytes, ...], tuple[bytes, ...]]:
    """``userCertificate;binary`` and ``userSMIMECertificate`` of entries whose mail matches.

    Every value is kept, ``cACertificate;binary`` too: the certificates that are not the
    address's own may be the intermediates its certificate needs to reach an anchor.
    """
    certs: list[bytes] = []
    bundles: list[bytes] = []
    for entry in _search(conn, base, lf.equals("mail", str(address)), SMIME_ATTRIBUTES, timeout):
        for name in ("userCertificate", "cACertificate"):
            certs += _values(entry, f"{name};binary") + _values(entry, name)
        bundles += _values(entry, "userSMIMECertificate")
    return tuple(dict.fromkeys(certs)), tuple(bundles)
