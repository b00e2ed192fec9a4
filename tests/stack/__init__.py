"""Real local servers for e2email's tests: DNS (DNSSEC), SMTP, IMAP, HTTPS, LDAP on 127.A.B.0/24.

Use the session fixture ``stack`` (tests/conftest.py), or ``with start_stack() as stack:``.

Addresses: each session reserves its own block ``127.A.B.0/24`` (``E2EMAIL_TEST_NET=127.A.B``
forces one). Every daemon listens only there, on its standard port:

======  ==================================================  ==============================
 host   names (A records in the signed zone example.test)   service
======  ==================================================  ==============================
 .1     (``stack.nameserver``)                              Unbound, validating resolver
 .2     ns.test                                             Knot, authoritative
 .10    smtp.example.test                                   submission 587 STARTTLS, 465 TLS
 .11    smtp-selfsigned.example.test                        587, self-signed certificate
 .12    smtp-wronghost.example.test                         587, certificate for other.example.test
 .20    imap.example.test                                   IMAP 993 TLS, 143 STARTTLS
 .25    mx1.example.test (``example.test MX 10 mx1``)        SMTP 25, STARTTLS, valid cert
 .30    example.test, openpgpkey.example.test,              HTTPS 443 (WKD, MTA-STS)
        mta-sts.example.test
 .40    ldap.example.test                                   LDAP 389 StartTLS, 636 TLS
 .100+  ``stack.alloc_ip()``                                for services tests add
======  ==================================================  ==============================

``Stack`` attributes:

- ``dir``: the session's temp dir (removed at the end; ``E2EMAIL_TEST_KEEP=1`` keeps it, with
  every daemon's config and log: ``postfix/postfix.log``, ``dovecot/dovecot.log``,
  ``dns/knot.log``, ``dns/unbound.log``, ``ldap/slapd.out``, ``https/access.log``).
- ``net`` ("127.A.B"), ``ip(n)`` -> "127.A.B.n", ``alloc_ip()`` -> a fresh address,
  ``hosts``: name -> IP for the names above, ``endpoint(host, port)`` -> :class:`Endpoint`.
- ``ca_pem``: the test CA ("e2email Test Stack CA"); ``pki.issue(names, *, expired=False,
  self_signed=False) -> (cert_path, key_path)`` makes more EC P-256 server certificates;
  ``certs``: the ones in use, by role ("smtp", "selfsigned", "wronghost", "imap", "mx1",
  "expired" (for mx-expired.example.test), "https", "ldap").
- ``nameserver``: "IP:53" of Unbound, THE resolver for the tool. ``dns`` (:class:`Dns`):
  ``add_zone(name, records, *, signed=True, broken_ds=False)``, ``set_records(zone, records)``,
  ``add_records(zone, records)``, ``records(zone)``, ``query(name, rdtype)`` (RD+AD+DO, returns the dns.message.Message),
  ``resolve(name, rdtype="A") -> list[str]``, ``authoritative`` ("IP:53" of Knot).
  Zones: example.test (signed, AD=1), insecure.test (unsigned, AD=0), bogus.test (DS matches no
  key: SERVFAIL). Records are zone-file lines relative to the zone, each naming its owner.
- ``submission`` (587, STARTTLS mandatory, AUTH PLAIN/LOGIN after TLS only, relay only when
  authenticated), ``submission_tls`` (465, implicit TLS), ``submission_selfsigned``,
  ``submission_wronghost``, ``mx1`` (25), ``imap_tls`` (993), ``imap_starttls`` (143):
  :class:`Endpoint` (host, ip, port). Connect to ``ip`` with ``server_hostname=host``.
- ``users``: {"alice@example.test": "alice-password", "bob@example.test": "bob-password"}, for
  IMAP and SMTP AUTH; ``dovecot.add_user(user, password)`` adds more.
- ``sink`` (:class:`Sink`): every message Postfix accepts, one copy per envelope recipient
  with ``Delivered-To:``: ``snapshot()``, ``wait_new(since, count, timeout=10)``,
  ``read_all()``.
- ``postfix`` (:class:`Postfix`): ``add_mx(ip, tls="none"|"may"|"encrypt", cert=(crt, key),
  *, port=25, options={...})``, ``remove_listener(ip, port)``, ``reload()``, ``log_tail()``.
- ``dovecot`` (:class:`Dovecot`): ``maildir(user)``, ``add_user()``, ``log_tail()``.
- ``https`` (:class:`Https`): ``docroot(host) -> Path``, ``set_cert(host, (crt, key))``,
  ``respond(host, path, status, body, headers)``, ``requests``, ``delay``.
- ``ldap`` (:class:`Ldap`): ``url``, ``ldaps_url``, ``base``, ``bind_dn``, ``bind_password``,
  ``pgp_base``, ``people_base``, ``add(ldif)``.

- ``procs``: the started daemons (``procs.daemons``: name, Popen, log); ``timings``: seconds
  spent in build/start/stop.

Clients must never rely on /etc/hosts or the system resolver, and must pass
``local_hostname=`` to ``smtplib.SMTP`` (else it calls ``socket.getfqdn()``). ``clients.py``
has stdlib clients that connect to ``Endpoint.ip`` and verify TLS for ``Endpoint.host``:
``SMTP``, ``SMTP_SSL``, ``IMAP4``, ``IMAP4_SSL``, ``HTTPSConnection``, ``https_get``,
``tls_context(ca_pem)``.

Lifetime: ``start_stack()`` starts everything in ~0.2-0.3 s and stops it in ~0.1 s (SIGTERM to
the exact process groups it started, SIGKILL after 5 s). If a daemon fails to start, StackError
carries the tail of its logs and nothing is left running. A watchdog process kills the daemons
and removes ``dir`` if the test process dies without cleaning up (kill -9).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .clients import Endpoint
from .dns import Dns
from .dovecot import Dovecot
from .https import Https
from .ldap import Ldap
from .net import Net, reserve
from .pki import Pki
from .postfix import Postfix, mx_options, submission_options
from .procs import Processes, StackError, which
from .sink import Sink

__all__ = [
    "Dns",
    "Dovecot",
    "Endpoint",
    "Https",
    "Ldap",
    "Pki",
    "Postfix",
    "Sink",
    "Stack",
    "StackError",
    "start_stack",
]

KEEP_VAR = "E2EMAIL_TEST_KEEP"

HOSTS = {
    "ns.test": 2,
    "smtp.example.test": 10,
    "smtp-selfsigned.example.test": 11,
    "smtp-wronghost.example.test": 12,
    "imap.example.test": 20,
    "mx1.example.test": 25,
    "example.test": 30,
    "openpgpkey.example.test": 30,
    "mta-sts.example.test": 30,
    "ldap.example.test": 40,
}
RESOLVER = 1
USERS = {"alice@example.test": "alice-password", "bob@example.test": "bob-password"}
HTTPS_HOSTS = ["example.test", "openpgpkey.example.test", "mta-sts.example.test"]


@dataclass
class Stack:
    """The running servers of one test session (see the module docstring)."""

    dir: Path
    block: Net
    pki: Pki
    dns: Dns
    postfix: Postfix
    dovecot: Dovecot
    https: Https
    ldap: Ldap
    sink: Sink
    hosts: dict[str, str]
    certs: dict[str, tuple[Path, Path]]
    users: dict[str, str]
    procs: Processes
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def net(self) -> str:
        """The block prefix, "127.A.B"."""
        return self.block.prefix

    def ip(self, n: int) -> str:
        """The address 127.A.B.n."""
        return self.block.ip(n)

    def alloc_ip(self) -> str:
        """A fresh address in the block for a service a test adds (from .100 up)."""
        return self.block.alloc_ip()

    @property
    def ca_pem(self) -> Path:
        """The test CA certificate (PEM)."""
        return self.pki.ca_pem

    @property
    def nameserver(self) -> str:
        """``IP:53`` of the validating resolver."""
        return self.dns.nameserver

    def endpoint(self, host: str, port: int) -> Endpoint:
        """The Endpoint of one of ``hosts`` on ``port``."""
        return Endpoint(host, self.hosts[host], port)

    @property
    def submission(self) -> Endpoint:
        """smtp.example.test:587 (STARTTLS mandatory, AUTH, relay after AUTH only)."""
        return self.endpoint("smtp.example.test", 587)

    @property
    def submission_tls(self) -> Endpoint:
        """smtp.example.test:465 (implicit TLS)."""
        return self.endpoint("smtp.example.test", 465)

    @property
    def submission_selfsigned(self) -> Endpoint:
        """smtp-selfsigned.example.test:587 (self-signed certificate)."""
        return self.endpoint("smtp-selfsigned.example.test", 587)

    @property
    def submission_wronghost(self) -> Endpoint:
        """smtp-wronghost.example.test:587 (certificate for other.example.test)."""
        return self.endpoint("smtp-wronghost.example.test", 587)

    @property
    def mx1(self) -> Endpoint:
        """mx1.example.test:25 (MX of example.test, STARTTLS with a valid certificate)."""
        return self.endpoint("mx1.example.test", 25)

    @property
    def imap_tls(self) -> Endpoint:
        """imap.example.test:993 (implicit TLS)."""
        return self.endpoint("imap.example.test", 993)

    @property
    def imap_starttls(self) -> Endpoint:
        """imap.example.test:143 (STARTTLS; no login before it)."""
        return self.endpoint("imap.example.test", 143)


REQUIRED = ["knotd", "knotc", "keymgr", "unbound", "dovecot", "slapd", "slapadd", "ldapadd"]


def check_installed() -> None:
    """Raise StackError naming every missing Debian package."""
    missing = []
    for binary in [*REQUIRED, "master"]:
        try:
            which(binary)
        except StackError as exc:
            missing.append(str(exc))
    if missing:
        raise StackError("test stack cannot start:\n  " + "\n  ".join(sorted(set(missing))))


def _issue_certs(pki: Pki) -> dict[str, tuple[Path, Path]]:
    return {
        "smtp": pki.issue(["smtp.example.test"]),
        "selfsigned": pki.issue(["smtp-selfsigned.example.test"], self_signed=True),
        "wronghost": pki.issue(["other.example.test"]),
        "imap": pki.issue(["imap.example.test"]),
        "mx1": pki.issue(["mx1.example.test"]),
        "expired": pki.issue(["mx-expired.example.test"], expired=True),
        "ldap": pki.issue(["ldap.example.test"]),
    }


def _example_records(hosts: dict[str, str]) -> list[str]:
    records = ["@ MX 10 mx1"]
    for name, ip in hosts.items():
        if name.endswith("example.test"):
            owner = name.removesuffix("example.test").rstrip(".") or "@"
            records.append(f"{owner} A {ip}")
    return records


def _build(tmp: Path, net: Net, procs: Processes) -> Stack:
    hosts = {name: net.ip(n) for name, n in HOSTS.items()}
    pki = Pki(tmp / "pki")
    certs = _issue_certs(pki)
    dns = Dns(tmp / "dns", procs, knot_ip=hosts["ns.test"], resolver_ip=net.ip(RESOLVER))
    dns.add_zone("example.test", _example_records(hosts), signed=True)
    dns.add_zone("insecure.test", [f"@ A {net.ip(31)}", "@ MX 10 @"], signed=False)
    dns.add_zone("bogus.test", [f"@ A {net.ip(32)}", "@ MX 10 @"], signed=True, broken_ds=True)
    dovecot = Dovecot(
        tmp / "dovecot",
        procs,
        ip=hosts["imap.example.test"],
        cert=certs["imap"],
        users=dict(USERS),
    )
    postfix = Postfix(
        tmp / "postfix",
        procs,
        myhostname="smtp.example.test",
        sasl_path=dovecot.auth_socket,
        sink=tmp / "sink",
    )
    _add_smtp_listeners(postfix, hosts, certs)
    https = Https(tmp / "https", pki, hosts["example.test"], HTTPS_HOSTS)
    certs["https"] = https.default_cert
    ldap = Ldap(
        tmp / "ldap",
        procs,
        ip=hosts["ldap.example.test"],
        host="ldap.example.test",
        cert=certs["ldap"],
        ca_pem=pki.ca_pem,
    )
    sink = Sink(tmp / "sink", postfix.log_tail)
    return Stack(
        tmp, net, pki, dns, postfix, dovecot, https, ldap, sink, hosts, certs, dovecot.users, procs
    )


def _add_smtp_listeners(
    postfix: Postfix, hosts: dict[str, str], certs: dict[str, tuple[Path, Path]]
) -> None:
    smtp = hosts["smtp.example.test"]
    postfix.add_listener(smtp, 587, submission_options(*certs["smtp"]))
    postfix.add_listener(smtp, 465, submission_options(*certs["smtp"], wrapper=True))
    for host, role in (
        ("smtp-selfsigned.example.test", "selfsigned"),
        ("smtp-wronghost.example.test", "wronghost"),
    ):
        postfix.add_listener(hosts[host], 587, submission_options(*certs[role]))
    postfix.add_listener(hosts["mx1.example.test"], 25, mx_options("may", *certs["mx1"]))


def _start(stack: Stack) -> None:
    t0 = time.monotonic()
    for part in (stack.postfix, stack.dovecot, stack.ldap):
        part.prepare()
    t1 = time.monotonic()
    stack.dns.start()
    stack.dovecot.start()
    stack.postfix.start()
    stack.ldap.start()
    stack.https.start()
    stack.dns.wait_ready()
    stack.dovecot.wait_ready()
    stack.postfix.wait_ready()
    stack.ldap.wait_ready()
    stack.timings.update(prepare=t1 - t0, daemons=time.monotonic() - t1)


def _stop(stack: Stack | None, procs: Processes) -> None:
    try:
        if stack is not None:
            stack.https.stop()
    finally:
        procs.close()


@contextlib.contextmanager
def start_stack() -> Iterator[Stack]:
    """Start every server, yield the :class:`Stack`, stop exactly what was started.

    On any failure (a daemon that does not come up raises StackError with its log tail) all
    daemons started so far are stopped and the temp dir removed before the error propagates.
    """
    check_installed()
    t0 = time.monotonic()
    net = reserve()
    keep = bool(os.environ.get(KEEP_VAR))
    stack: Stack | None = None
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f"e2email-stack-{net.prefix}-"))
        tmp.chmod(0o755)  # daemon users must traverse it
        procs = Processes(cleanup_dir=None if keep else tmp)
        try:
            stack = _build(tmp, net, procs)
            stack.timings["build"] = time.monotonic() - t0
            _start(stack)
            stack.timings["start"] = time.monotonic() - t0
            yield stack
        finally:
            t1 = time.monotonic()
            _stop(stack, procs)
            if stack is not None:
                stack.timings["stop"] = time.monotonic() - t1
            if not keep:
                shutil.rmtree(tmp, ignore_errors=True)
    finally:
        net.release()
