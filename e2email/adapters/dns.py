"""One resolver for every DNS query and every host-name resolution.

With ``network.nameservers`` set, everything (MX, TLSA, TXT, and the A/AAAA of the SMTP,
IMAP, HTTPS and LDAP servers) goes to those servers through dnspython. Without it, records
come from the system's resolv.conf and host names from the system resolver (getaddrinfo),
which also honours /etc/hosts.

The AD bit is a claim by the resolver. It is trusted only per ``network.trust_ad``: with
"auto", only when every configured nameserver is on loopback (a validating resolver on the
same host; RFC 6698 / RFC 7672 assume the path to it is secure).
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from e2email.core.hostport import is_ip, is_loopback, parse_hostport
from e2email.errors import TemporaryFailure

if TYPE_CHECKING:
    import dns.resolver

Security = Literal["secure", "insecure", "bogus", "unknown"]


@dataclass(frozen=True)
class Answer:
    """An RRset's text forms, whether it was DNSSEC-secure, and NXDOMAIN/NODATA."""

    name: str
    rdtype: str
    records: tuple[Any, ...]
    security: Security
    nxdomain: bool = False

    @property
    def empty(self) -> bool:
        """No record of that type (NODATA or NXDOMAIN)."""
        return not self.records


class DnsFailure(TemporaryFailure):
    """The resolver failed to answer (SERVFAIL, timeout): "cannot know", never "absent"."""

    def __init__(self, message: str, *, servfail: bool = False) -> None:
        super().__init__(message)
        self.servfail = servfail


class Resolver:
    """The project's resolver; build one per command from ``NetworkSettings``."""

    def __init__(
        self,
        nameservers: tuple[str, ...] = (),
        trust_ad: Literal["auto"] | bool = "auto",
        timeout: float = 10.0,
    ) -> None:
        self._servers = tuple(parse_hostport(s, default_port=53) for s in nameservers)
        self.timeout = timeout
        if trust_ad == "auto":
            self.trust_ad = bool(self._servers) and all(is_loopback(h) for h, _ in self._servers)
        else:
            self.trust_ad = trust_ad
        self._dns: dns.resolver.Resolver | None = None

    @property
    def configured(self) -> bool:
        """True when explicit nameservers were given."""
        return bool(self._servers)

    def describe(self) -> str:
        """A short human description of where queries go."""
        if not self._servers:
            return "system resolver"
        return ", ".join(f"{h}:{p}" for h, p in self._servers)

    def _resolver(self) -> dns.resolver.Resolver:
        if self._dns is None:
            import dns.flags
            import dns.resolver

            r = dns.resolver.Resolver(configure=not self._servers)
            if self._servers:
                r.nameservers = [h for h, _ in self._servers]
                r.nameserver_ports = {h: p for h, p in self._servers}
            r.lifetime = self.timeout
            r.timeout = min(self.timeout, 3.0)
            r.use_edns(0, dns.flags.DO, 1232)
            r.flags = dns.flags.RD | dns.flags.AD
            self._dns = r
        return self._dns

    def query(self, name: str, rdtype: str) -> Answer:
        """Look up ``name``/``rdtype``; NXDOMAIN and NODATA are answers, failures raise."""
        import dns.exception
        import dns.flags
        import dns.resolver

        try:
            ans = self._resolver().resolve(name, rdtype, raise_on_no_answer=False, search=False)
        except dns.resolver.NXDOMAIN as e:
            secure = self._flags_secure(_nx_flags(e))
            return Answer(name, rdtype, (), secure, nxdomain=True)
        except dns.resolver.NoNameservers as e:
            raise DnsFailure(
                f"DNS lookup of {name} {rdtype} failed (SERVFAIL)", servfail=True
            ) from e
        except dns.exception.Timeout as e:
            raise DnsFailure(f"DNS lookup of {name} {rdtype} timed out") from e
        except dns.exception.DNSException as e:
            raise DnsFailure(f"DNS lookup of {name} {rdtype} failed: {e}") from e
        records = tuple(ans.rrset) if ans.rrset is not None else ()
        return Answer(name, rdtype, records, self._flags_secure(ans.response.flags))

    def _flags_secure(self, flags: int) -> Security:
        import dns.flags

        if not self.trust_ad:
            return "unknown"
        return "secure" if flags & dns.flags.AD else "insecure"

    def addresses(self, host: str, port: int) -> list[tuple[str, int]]:
        """IP addresses for ``host`` (IPv4 first), via the configured resolver."""
        if is_ip(host):
            return [(host, port)]
        if not self._servers:
            return self._system_addresses(host, port)
        found: list[tuple[str, int]] = []
        for rdtype in ("A", "AAAA"):
            found += [(r.address, port) for r in self.query(host, rdtype).records]
        if not found:
            raise TemporaryFailure(f"cannot resolve host name {host} ({self.describe()})")
        return found

    def _system_addresses(self, host: str, port: int) -> list[tuple[str, int]]:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as e:
            raise TemporaryFailure(f"cannot resolve host name {host}: {e.strerror}") from None
        addrs = [(str(i[4][0]), port) for i in infos]
        return sorted(dict.fromkeys(addrs), key=lambda a: ":" in a[0])

    def connect(self, host: str, port: int, timeout: float) -> socket.socket:
        """A TCP connection to the first address of ``host`` that answers."""
        last: OSError | None = None
        for ip, p in self.addresses(host, port):
            try:
                return socket.create_connection((ip, p), timeout=timeout)
            except OSError as e:
                last = e
        raise TemporaryFailure(f"cannot connect to {host}:{port}: {_oserror(last)}")


def _oserror(err: OSError | None) -> str:
    if err is None:
        return "no address"
    return err.strerror or str(err) or type(err).__name__


def _nx_flags(err: Any) -> int:
    """The header flags of an NXDOMAIN response (for its AD bit)."""
    responses = err.kwargs.get("responses", {}) if hasattr(err, "kwargs") else {}
    for response in responses.values():
        return int(response.flags)
    return 0
