"""One resolver for every DNS query and every host-name resolution.

With ``network.nameservers`` set, everything (MX, TLSA, TXT, and the A/AAAA of the SMTP,
IMAP, HTTPS and LDAP servers) goes to those servers through dnspython. Without it, records
come from the system's resolv.conf and host names from the system resolver (getaddrinfo),
which also honours /etc/hosts.

The AD bit is a claim by the resolver. It is trusted only per ``network.trust_ad``: with
"auto", only when every configured nameserver is on loopback (a validating resolver on the
same host; RFC 6698 / RFC 7672 assume the path to it is secure).

A validating resolver answers SERVFAIL both when the data fails validation ("bogus") and
when it cannot get an answer at all ("indeterminate", RFC 4035 4.3). When the AD bit is
trusted, a SERVFAIL is asked again with CD (checking disabled, RFC 4035 3.2.2): an answer
then proves the data exists and failed validation (``bogus``); another SERVFAIL stays
``unknown``. Bogus data is never handed to callers: both cases raise :class:`DnsFailure`.
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
    """An RRset, whether it was DNSSEC-secure, NXDOMAIN/NODATA, and the CNAME-expanded name.

    ``canonical`` is the owner name the records were found at after following CNAMEs
    (lower case, no trailing dot); it equals ``name`` when there was no CNAME.
    """

    name: str
    rdtype: str
    records: tuple[Any, ...]
    security: Security
    nxdomain: bool = False
    canonical: str = ""

    def __post_init__(self) -> None:
        if not self.canonical:
            object.__setattr__(self, "canonical", _plain(self.name))

    @property
    def empty(self) -> bool:
        """No record of that type (NODATA or NXDOMAIN)."""
        return not self.records


class DnsFailure(TemporaryFailure):
    """The resolver failed to answer (SERVFAIL, timeout): "cannot know", never "absent".

    ``security`` is ``bogus`` when the data exists but failed DNSSEC validation (seen with
    CD set), else ``unknown`` (no answer at all, or the AD bit is not trusted).
    """

    def __init__(
        self, message: str, *, servfail: bool = False, security: Security = "unknown"
    ) -> None:
        super().__init__(message)
        self.servfail = servfail
        self.security: Security = security

    @property
    def bogus(self) -> bool:
        """The data failed DNSSEC validation (not merely unreachable)."""
        return self.security == "bogus"


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
        self._dns: dict[bool, dns.resolver.Resolver] = {}

    @property
    def configured(self) -> bool:
        """True when explicit nameservers were given."""
        return bool(self._servers)

    def describe(self) -> str:
        """A short human description of where queries go."""
        if not self._servers:
            return "system resolver"
        return ", ".join(f"{h}:{p}" for h, p in self._servers)

    def _resolver(self, checking_disabled: bool = False) -> dns.resolver.Resolver:
        r = self._dns.get(checking_disabled)
        if r is None:
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
            if checking_disabled:
                r.flags |= dns.flags.CD
            self._dns[checking_disabled] = r
        return r

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
            raise self._servfail(name, rdtype) from e
        except dns.exception.Timeout as e:
            raise DnsFailure(f"DNS lookup of {name} {rdtype} timed out") from e
        except dns.exception.DNSException as e:
            raise DnsFailure(f"DNS lookup of {name} {rdtype} failed: {e}") from e
        records = tuple(ans.rrset) if ans.rrset is not None else ()
        security = self._flags_secure(ans.response.flags)
        return Answer(name, rdtype, records, security, canonical=_plain(ans.canonical_name))

    def _servfail(self, name: str, rdtype: str) -> DnsFailure:
        """Tell "bogus" from "cannot answer" by asking again with CD (RFC 4035 3.2.2)."""
        what = f"DNS lookup of {name} {rdtype}"
        if self.trust_ad and self._answers_unchecked(name, rdtype):
            return DnsFailure(
                f"{what} failed DNSSEC validation (bogus: SERVFAIL, answered with CD)",
                servfail=True,
                security="bogus",
            )
        return DnsFailure(f"{what} failed (SERVFAIL)", servfail=True)

    def _answers_unchecked(self, name: str, rdtype: str) -> bool:
        """True if the resolver answers (data, NODATA or NXDOMAIN) with validation off."""
        import dns.exception
        import dns.resolver

        try:
            self._resolver(True).resolve(name, rdtype, raise_on_no_answer=False, search=False)
        except dns.resolver.NXDOMAIN:
            return True
        except dns.exception.DNSException:
            return False
        return True

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


def _plain(name: object) -> str:
    """A DNS name as text: lower case, no trailing dot."""
    return str(name).rstrip(".").lower()


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
