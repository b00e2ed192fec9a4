"""DANE-TA paths, CNAMEs and DNSSEC failures on the real stack, built once per session.

Zone ``danepath.test`` (Knot signs, Unbound validates). MX listeners are real Postfix smtpd
processes presenting chains made here under the stack's test CA:

* ``mxgood3``: leaf <- intermediate (CA:TRUE) <- test CA, all three sent;
* ``mxnoca``: the intermediate has basicConstraints CA:FALSE;
* ``mxexpint``: the intermediate expired 30 days ago;
* ``mxtarget``: leaf for ``mxtarget.danepath.test`` plus the CA, reached through CNAMEs.

Each of those has ``_25._tcp.HOST TLSA 2 0 1 <test CA>``. The CNAME cases are one domain
each (``alias-ta``, ``alias-orig``, ``alias-both``, ``alias-sf``, ``alias-insecure``; the
TLSA zone of ``alias-sf``'s target has a wrong DS); ``bogushost`` has an MX
in the bogus zone; ``lame.test`` is delegated to a server that cannot answer (SERVFAIL
with and without CD: "indeterminate").
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

try:
    from stack.postfix import mx_options
except ImportError:  # pragma: no cover
    from tests.stack.postfix import mx_options

from .transport_scenarios import Scenarios, cert_sha256, spki_sha256

ZONE = "danepath.test"
INDETERMINATE = "lame.test"
_DAY = dt.timedelta(days=1)


def _issue(
    issuer_cert: x509.Certificate,
    issuer_key: ec.EllipticCurvePrivateKey,
    name: str,
    *,
    ca: bool,
    expired: bool = False,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """An intermediate (``ca``: True/False in basicConstraints) or a leaf for DNS ``name``."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    start, end = (now - 60 * _DAY, now - 30 * _DAY) if expired else (now - _DAY, now + 90 * _DAY)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(issuer_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if "." in name:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA256()), key


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _chain_files(
    stack: Any, label: str, leaf_name: str, intermediate: str | None
) -> tuple[Path, Path]:
    """(chain file, key file): leaf [+ intermediate] + test CA, readable by smtpd."""
    pki = stack.pki
    parent_cert, parent_key = pki.ca_cert, pki.ca_key
    middle: list[x509.Certificate] = []
    if intermediate is not None:
        parent_cert, parent_key = _issue(
            pki.ca_cert,
            pki.ca_key,
            f"{label} intermediate",
            ca=intermediate != "not-ca",
            expired=intermediate == "expired",
        )
        middle = [parent_cert]
    leaf, key = _issue(parent_cert, parent_key, leaf_name, ca=False)
    chain = pki.dir / f"danepath-{label}-chain.crt"
    key_path = pki.dir / f"danepath-{label}.key"
    chain.write_bytes(b"".join(_pem(c) for c in [leaf, *middle, pki.ca_cert]))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o644)  # test-only key; smtpd reads it after dropping privileges
    return chain, key_path


# listener label -> kind of intermediate (None: the leaf is signed by the CA itself)
CHAINS = {"mxgood3": "ca", "mxnoca": "not-ca", "mxexpint": "expired", "mxtarget": None}


@dataclass
class DaneScenarios:
    """What was built: listener label -> IP and certificate files."""

    stack: Any
    ips: dict[str, str] = field(default_factory=dict)
    certs: dict[str, tuple[Path, Path]] = field(default_factory=dict)

    def config(self, directory: Path, extra: str = "") -> Path:
        """A config with the stack's resolver and CA (as transport_scenarios builds it)."""
        return Scenarios(self.stack).config(directory, extra)


def _records(sc: DaneScenarios) -> list[str]:
    ca = cert_sha256(sc.stack.ca_pem)
    ee = spki_sha256(sc.certs["mxtarget"][0])  # the first PEM in the chain file is the leaf
    records = [f"{label} A {ip}" for label, ip in sc.ips.items()]
    for label in CHAINS:
        records.append(f"_25._tcp.{label} TLSA 2 0 1 {ca}")
    records += ["good3 MX 10 mxgood3", "noca MX 10 mxnoca", "expint MX 10 mxexpint"]
    target = sc.ips["mxtarget"]
    records += [
        # TLSA at the CNAME target only; the leaf names only the target
        "alias-ta MX 10 mxalias-ta",
        "mxalias-ta CNAME mxtarget",
        # TLSA at the MX host name only: found by falling back to the original name
        "alias-orig MX 10 mxalias-orig",
        "mxalias-orig CNAME mxt-orig",
        f"mxt-orig A {target}",
        f"_25._tcp.mxalias-orig TLSA 3 1 1 {ee}",
        # TLSA at both: the target's (wrong) RRset is the one used
        "alias-both MX 10 mxalias-both",
        "mxalias-both CNAME mxt-both",
        f"mxt-both A {target}",
        f"_25._tcp.mxt-both TLSA 3 1 1 {'00' * 32}",
        f"_25._tcp.mxalias-both TLSA 3 1 1 {ee}",
        # the target's TLSA lookup fails (its zone is bogus): no fallback to the good one
        "alias-sf MX 10 mxalias-sf",
        "mxalias-sf CNAME mxt-sf",
        f"mxt-sf A {target}",
        f"_25._tcp.mxalias-sf TLSA 3 1 1 {ee}",
        # CNAME into an unsigned zone: the addresses are insecure, no TLSA counts
        "alias-insecure MX 10 mxalias-insecure",
        "mxalias-insecure CNAME insecure.test.",
        f"_25._tcp.mxalias-insecure TLSA 3 1 1 {ee}",
        # an MX host in the bogus zone
        "bogushost MX 10 bogus.test.",
    ]
    return records


def build(stack: Any) -> DaneScenarios:
    """Listeners, chains, the signed zone and the lame delegation (once per session)."""
    sc = DaneScenarios(stack)
    for label, intermediate in CHAINS.items():
        sc.certs[label] = _chain_files(stack, label, f"{label}.{ZONE}", intermediate)
        sc.ips[label] = stack.alloc_ip()
        stack.postfix.add_listener(sc.ips[label], 25, mx_options("may", *sc.certs[label]))
    stack.postfix.reload()
    stack.dns.add_zone(ZONE, _records(sc), signed=True)
    ee = spki_sha256(sc.certs["mxtarget"][0])
    stack.dns.add_zone(f"_tcp.mxt-sf.{ZONE}", [f"_25 TLSA 3 1 1 {ee}"], broken_ds=True)
    # delegated to the validating resolver itself, which will not answer a non-recursive
    # query for it: SERVFAIL whatever the CD bit says
    resolver_ip = stack.nameserver.rsplit(":", 1)[0]
    stack.dns.add_records(
        "test", [f"{INDETERMINATE}. NS nsself.test.", f"nsself.test. A {resolver_ip}"]
    )
    return sc


_built: dict[int, DaneScenarios] = {}


@pytest.fixture(scope="session", name="dane_scenarios")
def dane_scenarios_fixture(stack: Any) -> Iterator[DaneScenarios]:
    """The scenarios, built on first use."""
    key = id(stack)
    if key not in _built:
        _built[key] = build(stack)
    yield _built[key]
