"""The test stack's PKI: one CA ("e2email Test Stack CA") and EC P-256 server certificates.

Everything is generated per session with ``cryptography``; nothing is read from the system.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
import threading
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_NAME = "e2email Test Stack CA"
_HOUR = dt.timedelta(hours=1)
_DAY = dt.timedelta(days=1)
_LEAF_USAGE = x509.KeyUsage(
    digital_signature=True,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=False,
    crl_sign=False,
    encipher_only=False,
    decipher_only=False,
)


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "e2email tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _san(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9.-]", "_", name)[:60] or "cert"


class Pki:
    """A CA plus ``issue()`` for server certificates; files live under ``directory``."""

    def __init__(self, directory: Path, ca_name: str = CA_NAME) -> None:
        self.dir = directory
        self.ca_name = ca_name
        self.dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._count = 0
        self.ca_key = _key()
        self.ca_cert = self._make_ca()
        self.ca_pem = self.dir / "ca.pem"
        self.ca_pem.write_bytes(self.ca_cert.public_bytes(serialization.Encoding.PEM))

    def _make_ca(self) -> x509.Certificate:
        now = dt.datetime.now(dt.UTC)
        public = self.ca_key.public_key()
        return (
            x509.CertificateBuilder()
            .subject_name(_name(self.ca_name))
            .issuer_name(_name(self.ca_name))
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _HOUR)
            .not_valid_after(now + 365 * _DAY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .sign(self.ca_key, hashes.SHA256())
        )

    def issue(
        self, names: list[str] | str, *, expired: bool = False, self_signed: bool = False
    ) -> tuple[Path, Path]:
        """Issue a TLS server certificate for ``names``; return (cert_path, key_path).

        A name that is an IP address literal becomes an iPAddress SAN, others DNS names.

        ``expired``: validity ended 30 days ago. ``self_signed``: signed by its own key instead
        of the test CA. The certificate file holds only the leaf; the CA is ``ca.pem``.
        """
        names = [names] if isinstance(names, str) else list(names)
        if not names:
            raise ValueError("issue() needs at least one name")
        key = _key()
        cert = self._leaf(names, key, expired=expired, self_signed=self_signed)
        with self._lock:
            self._count += 1
            stem = f"{self._count:03d}-{_slug(names[0])}"
        cert_path = self.dir / f"{stem}.crt"
        key_path = self.dir / f"{stem}.key"
        key_path.write_bytes(_key_pem(key))
        key_path.chmod(0o644)  # test-only key; daemons read it after dropping privileges
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return cert_path, key_path

    def _leaf(
        self,
        names: list[str],
        key: ec.EllipticCurvePrivateKey,
        *,
        expired: bool,
        self_signed: bool,
    ) -> x509.Certificate:
        now = dt.datetime.now(dt.UTC)
        start, end = (
            (now - 60 * _DAY, now - 30 * _DAY) if expired else (now - _HOUR, now + 90 * _DAY)
        )
        subject = _name(names[0])
        issuer_key: ec.EllipticCurvePrivateKey = key if self_signed else self.ca_key
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject if self_signed else self.ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName([_san(n) for n in names]), critical=False)
            .add_extension(_LEAF_USAGE, critical=True)
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
        )
        if not self_signed:
            builder = builder.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.ca_key.public_key()),
                critical=False,
            )
        return builder.sign(issuer_key, hashes.SHA256())
