"""DNS for the test stack: Knot (authoritative, DNSSEC signing) behind Unbound (validating).

Knot serves a signed ``test.`` zone that delegates to every test zone (NS ``ns.test.``, plus a
DS for signed zones), so the DNSSEC state of a zone is real: Unbound's only trust anchor is the
DS of ``test.``. A zone with ``signed=False`` has no DS (insecure, AD=0); ``broken_ds=True``
publishes a DS that matches no key (bogus, SERVFAIL).

Keys are EC P-256 made with ``cryptography`` and imported with ``keymgr import-pem`` before Knot
loads the zone, so the DS is known up front and Knot starts once with the final zones.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import dns.dnssec
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from .procs import Daemon, Processes, StackError, run, tail, tcp_open, wait_until, which

ROOT = "test"
NS_NAME = "ns.test."
ALGORITHM = 13  # ECDSAP256SHA256
TTL = 60


@dataclass
class Zone:
    """One zone Knot serves; ``records`` are zone-file lines relative to the zone."""

    name: str
    records: list[str]
    signed: bool = True
    broken_ds: bool = False
    serial: int = 1
    key: ec.EllipticCurvePrivateKey | None = field(default=None, repr=False)

    @property
    def fqdn(self) -> str:
        """The zone name with its trailing dot."""
        return self.name + "."

    def ds(self) -> str | None:
        """The DS record data the parent publishes (wrong on purpose if ``broken_ds``)."""
        if self.key is None:
            return None
        dnskey = dns.dnssec.make_dnskey(self.key.public_key(), ALGORITHM, flags=257)
        ds = dns.dnssec.make_ds(self.fqdn, dnskey, "SHA256")
        digest = ds.digest
        if self.broken_ds:
            digest = digest[:-1] + bytes([digest[-1] ^ 0xFF])
        return f"{ds.key_tag} {ds.algorithm} {ds.digest_type} {digest.hex()}"


def _normalise(name: str) -> str:
    return name.strip().rstrip(".").lower()


class Dns:
    """Knot + Unbound. ``nameserver`` is the validating resolver the tool must use."""

    def __init__(self, directory: Path, procs: Processes, knot_ip: str, resolver_ip: str):
        self.dir = directory
        self.procs = procs
        self.knot_ip = knot_ip
        self.resolver_ip = resolver_ip
        self.zones: dict[str, Zone] = {}
        self.knotd: Daemon | None = None
        self.unbound: Daemon | None = None
        for sub in ("zones", "db", "keys"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        self.knot_conf = self.dir / "knot.conf"
        self.unbound_conf = self.dir / "unbound.conf"
        self._knotc = [which("knotc"), "-c", str(self.knot_conf)]
        self._define(ROOT, [], signed=True)

    @property
    def nameserver(self) -> str:
        """``IP:53`` of the validating resolver (Unbound)."""
        return f"{self.resolver_ip}:53"

    @property
    def authoritative(self) -> str:
        """``IP:53`` of the authoritative server (Knot)."""
        return f"{self.knot_ip}:53"

    # -- zone data ---------------------------------------------------------------------------

    def _define(
        self, name: str, records: list[str], *, signed: bool, broken_ds: bool = False
    ) -> Zone:
        name = _normalise(name)
        if name != ROOT and not name.endswith("." + ROOT):
            raise ValueError(f"test zones must be under {ROOT}.: {name!r}")
        if name in self.zones:
            raise ValueError(f"zone {name} exists; use set_records()")
        zone = Zone(name, list(records), signed=signed, broken_ds=broken_ds)
        self.zones[name] = zone
        self._write_knot_conf()
        if signed:
            zone.key = ec.generate_private_key(ec.SECP256R1())
            self._import_key(zone)
        return zone

    def _import_key(self, zone: Zone) -> None:
        assert zone.key is not None
        pem = self.dir / "keys" / f"{zone.name}.pem"
        pem.write_bytes(
            zone.key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        run(
            [
                which("keymgr"),
                "-c",
                str(self.knot_conf),
                zone.fqdn,
                "import-pem",
                str(pem),
                f"algorithm={ALGORITHM}",
                "ksk=yes",
                "zsk=yes",
            ],
            what=f"keymgr import-pem for {zone.name}",
        )

    def parent_of(self, name: str) -> Zone:
        """The closest enclosing zone of ``name`` that we serve."""
        labels = _normalise(name).split(".")
        for i in range(1, len(labels)):
            candidate = ".".join(labels[i:])
            if candidate in self.zones:
                return self.zones[candidate]
        raise ValueError(f"no parent zone for {name!r}")

    def _delegations(self, parent: Zone) -> list[str]:
        lines = []
        for child in self.zones.values():
            if child is parent or child.name == ROOT or self.parent_of(child.name) is not parent:
                continue
            lines.append(f"{child.fqdn} NS {NS_NAME}")
            ds = child.ds()
            if ds:
                lines.append(f"{child.fqdn} DS {ds}")
        return lines

    def _zone_text(self, zone: Zone) -> str:
        head = [
            f"$ORIGIN {zone.fqdn}",
            f"$TTL {TTL}",
            f"@ SOA {NS_NAME} hostmaster.{zone.fqdn} {zone.serial} 3600 600 86400 {TTL}",
            f"@ NS {NS_NAME}",
        ]
        if zone.name == ROOT:
            head.append(f"{NS_NAME} A {self.knot_ip}")
        body = [line.strip() for line in zone.records if line.strip()]
        return "\n".join([*head, *body, *self._delegations(zone)]) + "\n"

    def _write_zone(self, zone: Zone) -> None:
        (self.dir / "zones" / f"{zone.name}.zone").write_text(self._zone_text(zone))

    # -- configuration -----------------------------------------------------------------------

    def _write_knot_conf(self) -> None:
        d = self.dir
        zones = []
        for zone in self.zones.values():
            zones.append(f"  - domain: {zone.fqdn}")
            if zone.signed:
                zones += ["    dnssec-signing: on", "    dnssec-policy: stack"]
        self.knot_conf.write_text(
            f"""server:
    rundir: "{d}"
    listen: {self.knot_ip}@53
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
database:
    storage: "{d / "db"}"
log:
  - target: "{d / "knot.log"}"
    any: info
control:
    listen: "{d / "knot.sock"}"
policy:
  - id: stack
    algorithm: ecdsap256sha256
    single-type-signing: on
    manual: on
    dnskey-ttl: {TTL}
    zone-max-ttl: {TTL}
template:
  - id: default
    storage: "{d / "zones"}"
    file: "%s.zone"
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: none
zone:
"""
            + "\n".join(zones)
            + "\n"
        )

    def _write_unbound_conf(self) -> None:
        d = self.dir
        root = self.zones[ROOT].ds()
        self.unbound_conf.write_text(
            f"""server:
    interface: {self.resolver_ip}
    port: 53
    outgoing-interface: {self.resolver_ip}
    do-ip6: no
    access-control: 127.0.0.0/8 allow
    username: ""
    chroot: ""
    directory: "{d}"
    pidfile: "{d / "unbound.pid"}"
    logfile: "{d / "unbound.log"}"
    use-syslog: no
    verbosity: 1
    val-log-level: 2
    num-threads: 1
    so-reuseport: no
    do-not-query-localhost: no
    qname-minimisation: no
    aggressive-nsec: no
    prefetch: no
    val-bogus-ttl: 1
    infra-host-ttl: 5
    local-zone: "{ROOT}." nodefault
    trust-anchor: "{ROOT}. DS {root}"
    trust-anchor-signaling: no
stub-zone:
    name: "{ROOT}."
    stub-addr: {self.knot_ip}@53
forward-zone:
    name: "."
    forward-addr: {self.knot_ip}@53
remote-control:
    control-enable: yes
    control-interface: "{d / "unbound.ctl"}"
"""
        )

    # -- running -----------------------------------------------------------------------------

    def start(self) -> None:
        """Write all zones and configs, spawn Knot and Unbound (then call :meth:`wait_ready`)."""
        for zone in self.zones.values():
            self._write_zone(zone)
        self._write_knot_conf()
        self._write_unbound_conf()
        self.knotd = self.procs.spawn(
            "knotd",
            [which("knotd"), "-c", str(self.knot_conf)],
            self.dir / "knotd.out",
            other_logs=[self.dir / "knot.log"],
        )
        self.unbound = self.procs.spawn(
            "unbound",
            [which("unbound"), "-d", "-p", "-c", str(self.unbound_conf)],
            self.dir / "unbound.out",
            other_logs=[self.dir / "unbound.log"],
        )

    def wait_ready(self, timeout: float = 10) -> None:
        """Wait until Knot serves every zone and Unbound accepts queries."""
        if self.knotd is None or self.unbound is None:
            raise StackError("dns was not started")
        self.knotd.wait_ready(lambda: tcp_open(self.knot_ip, 53), timeout)
        self._wait_served(self.zones.values(), timeout)
        self.unbound.wait_ready(lambda: tcp_open(self.resolver_ip, 53), timeout)

    def _served_serial(self, zone: Zone) -> int | None:
        query = dns.message.make_query(zone.fqdn, "SOA")
        try:
            answer = dns.query.udp(query, self.knot_ip, port=53, timeout=0.5)
        except (TimeoutError, OSError, dns.exception.DNSException):
            return None
        if answer.rcode() != dns.rcode.NOERROR or not answer.flags & dns.flags.AA:
            return None
        for rrset in answer.answer:
            if rrset.rdtype == dns.rdatatype.SOA:
                return int(rrset[0].serial)
        return None

    def _wait_served(self, zones: Iterable[Zone], timeout: float = 10) -> None:
        pending = list(zones)

        def served() -> bool:
            if self.knotd is not None:
                self.knotd.check_alive()
            pending[:] = [z for z in pending if (self._served_serial(z) or 0) < z.serial]
            return not pending

        try:
            wait_until(served, timeout, "Knot to serve the zones")
        except StackError as exc:
            names = ", ".join(z.name for z in pending)
            raise StackError(f"{exc}: {names}\n{tail(self.dir / 'knot.log')}") from None

    def control(self, command: str) -> str:
        """Send one command to unbound's control socket (``unbound-control`` protocol)."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(5)
            sock.connect(str(self.dir / "unbound.ctl"))
            sock.sendall(f"UBCT1 {command}\n".encode())
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        reply = b"".join(chunks).decode(errors="replace")
        if reply.startswith("error"):
            raise StackError(f"unbound-control {command}: {reply.strip()}")
        return reply

    def flush(self) -> None:
        """Forget everything Unbound cached about the test zones."""
        for command in (f"flush_zone {ROOT}.", "flush_bogus", "flush_negative", "flush_infra all"):
            self.control(command)

    # -- changes by tests --------------------------------------------------------------------

    def add_zone(
        self, name: str, records: list[str], *, signed: bool = True, broken_ds: bool = False
    ) -> None:
        """Serve a new zone (delegated from its parent, with a DS when ``signed``).

        ``records`` are zone-file lines relative to the zone, each naming its owner
        (``"@ MX 10 mx1"``, ``"mx1 A 127.1.2.3"``, ``"_25._tcp.mx1 TLSA 3 1 1 ..."``); SOA and
        NS are added. Before :meth:`start` this only records the zone; afterwards it returns
        once Knot serves it and Unbound's cache is flushed.
        """
        zone = self._define(name, records, signed=signed, broken_ds=broken_ds)
        if self.knotd is None:
            return  # not running yet: start() writes everything
        parent = self.parent_of(zone.name)
        parent.serial += 1
        self._write_zone(zone)
        self._write_zone(parent)
        run([*self._knotc, "reload"], what="knotc reload")
        self._after_change([zone, parent])

    def set_records(self, zone_name: str, records: list[str]) -> None:
        """Replace the records of a zone (same syntax as :meth:`add_zone`)."""
        zone = self.zones[_normalise(zone_name)]
        zone.records = list(records)
        zone.serial += 1
        self._write_zone(zone)
        run([*self._knotc, "zone-reload", zone.fqdn], what="knotc zone-reload")
        self._after_change([zone])

    def add_records(self, zone_name: str, records: list[str]) -> None:
        """Append records to a zone (see :meth:`set_records`)."""
        self.set_records(zone_name, [*self.records(zone_name), *records])

    def records(self, zone_name: str) -> list[str]:
        """The records last given for a zone (a copy)."""
        return list(self.zones[_normalise(zone_name)].records)

    def _after_change(self, zones: list[Zone]) -> None:
        self._wait_served(zones)
        self.flush()

    # -- client helpers ----------------------------------------------------------------------

    def resolve(self, name: str, rdtype: str = "A") -> list[str]:
        """The answer's records of type ``rdtype`` as text; StackError if not NOERROR."""
        answer = self.query(name, rdtype)
        if answer.rcode() != dns.rcode.NOERROR:
            raise StackError(f"{name} {rdtype}: {dns.rcode.to_text(answer.rcode())}")
        wanted = dns.rdatatype.from_text(rdtype)
        return [rd.to_text() for rrset in answer.answer if rrset.rdtype == wanted for rd in rrset]

    def query(
        self, name: str, rdtype: str = "A", *, server: str | None = None
    ) -> dns.message.Message:
        """Ask the resolver (or ``server``) with RD+AD+DO set, the way a validating client does."""
        query = dns.message.make_query(name, rdtype, want_dnssec=True)
        query.flags |= dns.flags.AD
        ip = server or self.resolver_ip
        answer = dns.query.udp(query, ip, port=53, timeout=5)
        if answer.flags & dns.flags.TC:
            answer = dns.query.tcp(query, ip, port=53, timeout=5)
        return answer
