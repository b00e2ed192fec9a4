"""MX path scenarios on the real stack, built once per session for the check/send/trace tests.

Zones (Knot signs, Unbound validates):

* ``transport.test`` (signed): one domain per case, named after it (``valid.transport.test``,
  ``plain.``, ``backup.``, ``dane.``, ``sts.``...), each with its own MX host name.
* ``transport-insecure.test`` (unsigned): TLSA records that must never count.
* ``_tcp.mxsf.transport.test`` (signed with a DS matching no key): its TLSA lookups SERVFAIL.

MX listeners are real Postfix smtpd processes on addresses of the session's block:
no STARTTLS, valid, self-signed, wrong host, expired, and DANE-TA (leaf plus CA in the
chain). MTA-STS policies are served by the stack's HTTPS server at ``mta-sts.DOMAIN``.
"""

from __future__ import annotations

import hashlib
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

try:
    from stack.postfix import mx_options
except ImportError:  # pragma: no cover
    from tests.stack.postfix import mx_options

ZONE = "transport.test"
INSECURE_ZONE = "transport-insecure.test"
POLICY_PATH = "/.well-known/mta-sts.txt"

# MX host -> (tls level, certificate kind)
LISTENERS = {
    "mxv": ("may", "valid"),
    "mxss": ("may", "selfsigned"),
    "mxwh": ("may", "wronghost"),
    "mxexp": ("may", "expired"),
    "mxplain": ("none", None),
    "mxta": ("may", "chain"),
    "mxnoehlo": ("may", "valid"),
    "mxreject": ("may", "valid"),
}
EXTRA_OPTIONS = {
    "mxv": {"smtpd_tls_received_header": "yes"},  # TLS details in Received, for trace tests
    "mxnoehlo": {"smtpd_delay_reject": "no", "smtpd_helo_restrictions": "reject"},
    "mxreject": {"smtpd_delay_reject": "no", "smtpd_client_restrictions": "reject"},
}


def policy(mode: str = "enforce", mx: str = f"*.{ZONE}", max_age: int = 86400) -> bytes:
    """An RFC 8461 policy file."""
    return f"version: STSv1\r\nmode: {mode}\r\nmx: {mx}\r\nmax_age: {max_age}\r\n".encode()


def spki_sha256(cert_path: Path) -> str:
    """TLSA 3 1 1 data of a certificate."""
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(spki).hexdigest()


def cert_sha256(pem: Path) -> str:
    """TLSA x 0 1 data of a certificate."""
    cert = x509.load_pem_x509_certificate(pem.read_bytes())
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


@dataclass
class Scenarios:
    """What was built: MX host -> IP, host -> certificate, and the closed address."""

    stack: Any
    ips: dict[str, str] = field(default_factory=dict)
    certs: dict[str, tuple[Path, Path]] = field(default_factory=dict)
    closed_ip: str = ""
    silent_ip: str = ""  # a test may listen here and never say a word

    def fqdn(self, label: str) -> str:
        return f"{label}.{ZONE}"

    def network_toml(self, directory: Path, extra: str = "", probe_timeout: float = 3) -> str:
        """A [network] table: the stack's resolver and CA, port 25 probes, a private cache."""
        return (
            textwrap.dedent(f"""\
            [network]
            nameservers = ["{self.stack.nameserver}"]
            ca_file = "{self.stack.ca_pem}"
            smtp_probe_port = 25
            probe_timeout = {probe_timeout}
            timeout = 10
            transport_cache_dir = "{directory / "transport-cache"}"
            """)
            + extra
        )

    def config(self, directory: Path, extra: str = "", probe_timeout: float = 3) -> Path:
        """A config file with only the [network] table (``extra`` lines go into it)."""
        cfg = directory / "check.toml"
        cfg.write_text(self.network_toml(directory, extra, probe_timeout))
        return cfg


def _certs(stack: Any) -> dict[str, tuple[Path, Path]]:
    pki = stack.pki
    certs: dict[str, tuple[Path, Path]] = {}
    for host, (_, kind) in LISTENERS.items():
        name = f"{host}.{ZONE}"
        if kind in ("valid", "chain"):
            certs[host] = pki.issue([name])
        elif kind == "selfsigned":
            certs[host] = pki.issue([name], self_signed=True)
        elif kind == "wronghost":
            certs[host] = pki.issue(["other.example.test"])
        elif kind == "expired":
            certs[host] = pki.issue([name], expired=True)
    crt, key = certs["mxta"]
    chain = crt.with_name(crt.stem + "-chain.crt")
    chain.write_bytes(crt.read_bytes() + stack.ca_pem.read_bytes())
    certs["mxta"] = (chain, key)
    return certs


def _records(sc: Scenarios) -> list[str]:
    ips, certs = sc.ips, sc.certs
    records = [f"{host} A {ip}" for host, ip in ips.items()]
    records += [f"mxclosed A {sc.closed_ip}", f"mxsf A {ips['mxv']}", f"mxdane A {ips['mxv']}"]
    records += [f"mxsilent A {sc.silent_ip}", "silent MX 10 mxsilent"]
    records += [f"mxdanebad A {ips['mxv']}", f"mxunusable A {ips['mxv']}"]
    for domain, mx in {
        "valid": "mxv",
        "selfsigned": "mxss",
        "wronghost": "mxwh",
        "expired": "mxexp",
        "plain": "mxplain",
        "closed": "mxclosed",
        "dane": "mxdane",
        "daneta": "mxta",
        "danebad": "mxdanebad",
        "daneunusable": "mxunusable",
        "servfail": "mxsf",
        "noehlo": "mxnoehlo",
        "rejecting": "mxreject",
    }.items():
        records.append(f"{domain} MX 10 {mx}")
    records += ["backup MX 10 mxv", "backup MX 20 mxplain"]
    good = spki_sha256(certs["mxv"][0])
    records += [
        f"_25._tcp.mxdane TLSA 3 1 1 {good}",
        f"_25._tcp.mxdanebad TLSA 3 1 1 {'00' * 32}",
        f"_25._tcp.mxunusable TLSA 1 1 1 {good}",
        f"_25._tcp.mxta TLSA 2 0 1 {cert_sha256(sc.stack.ca_pem)}",
    ]
    records += _sts_records()
    return records


STS_CASES = {
    # label: (TXT record, how the policy is served)
    "sts": ('"v=STSv1; id=1"', "good"),
    "ststesting": ('"v=STSv1; id=1"', "testing"),
    "stsnomx": ('"v=STSv1; id=1"', "no-mx"),
    "stsmaxage": ('"v=STSv1; id=1"', "max-age"),
    "stshtml": ('"v=STSv1; id=1"', "html"),
    "stsredirect": ('"v=STSv1; id=1"', "redirect"),
    "stsbig": ('"v=STSv1; id=1"', "big"),
    "stsbadcert": ('"v=STSv1; id=1"', "bad-cert"),
    "stsbadtxt": ('"v=STSv1; id=not-valid!"', "good"),
    "ststwotxt": ('"v=STSv1; id=1"', "good"),
    "stscache": ('"v=STSv1; id=1"', "good"),
}


def _sts_records() -> list[str]:
    records = []
    for label, (txt, _) in STS_CASES.items():
        records += [f"{label} MX 10 mxv", f"_mta-sts.{label} TXT {txt}"]
        records.append(f"mta-sts.{label} CNAME example.test.")
    records.append('_mta-sts.ststwotxt TXT "v=STSv1; id=2"')
    records.append('_smtp._tls.sts TXT "v=TLSRPTv1; rua=mailto:tlsrpt@sts.transport.test"')
    return records


def _serve_policies(stack: Any) -> None:
    https = stack.https
    for label, (_, how) in STS_CASES.items():
        host = f"mta-sts.{label}.{ZONE}"
        root = https.docroot(host) / ".well-known"
        root.mkdir(exist_ok=True)
        body = {
            "good": policy(),
            "testing": policy("testing"),
            "no-mx": b"version: STSv1\r\nmode: enforce\r\nmax_age: 86400\r\n",
            "max-age": policy(max_age=31557601),
            "big": policy() + b"# " + b"x" * (64 * 1024) + b"\r\n",
        }.get(how, policy())
        (root / "mta-sts.txt").write_bytes(body)
        if how == "html":
            https.respond(host, POLICY_PATH, 200, policy(), {"Content-Type": "text/html"})
        elif how == "redirect":
            target = f"https://mta-sts.sts.{ZONE}{POLICY_PATH}"
            https.respond(host, POLICY_PATH, 301, b"", {"Location": target})
        elif how == "bad-cert":
            https.set_cert(host, stack.pki.issue(["other.example.test"]))


def build(stack: Any) -> Scenarios:
    """Create listeners, zones and policies (once per session)."""
    sc = Scenarios(stack)
    sc.certs = _certs(stack)
    for host, (tls, _) in LISTENERS.items():
        ip = stack.alloc_ip()
        sc.ips[host] = ip
        cert = sc.certs.get(host)
        options = mx_options(tls, *(cert or (None, None))) | EXTRA_OPTIONS.get(host, {})
        stack.postfix.add_listener(ip, 25, options)
    sc.closed_ip = stack.alloc_ip()
    sc.silent_ip = stack.alloc_ip()
    stack.postfix.reload()
    stack.dns.add_zone(ZONE, _records(sc), signed=True)
    good = spki_sha256(sc.certs["mxv"][0])
    stack.dns.add_zone(
        INSECURE_ZONE,
        ["@ MX 10 mx", f"mx A {sc.ips['mxv']}", f"_25._tcp.mx TLSA 3 1 1 {good}"],
        signed=False,
    )
    stack.dns.add_zone(f"_tcp.mxsf.{ZONE}", [f"_25 TLSA 3 1 1 {good}"], signed=True, broken_ds=True)
    _serve_policies(stack)
    return sc


_built: dict[int, Scenarios] = {}


@pytest.fixture(scope="session", name="scenarios")
def scenarios_fixture(stack: Any) -> Iterator[Scenarios]:
    """The scenarios, built on first use."""
    key = id(stack)
    if key not in _built:
        _built[key] = build(stack)
    yield _built[key]
