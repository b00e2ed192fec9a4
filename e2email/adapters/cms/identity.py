"""Our S/MIME identity and certificates as cryptography objects: loading, and fitness checks.

* ``load_identity``: our certificate (with its chain) and private key, checked to belong
  together; a passphrase that does not open the key is a ``SecretError``.
* ``check_encryptable``: the key types S/MIME encryption here can use (RSA, NIST EC curves);
  callers run ``core.x509check.check_recipient`` first for everything else (security.md 6).
* ``check_signer``: only a certificate fit to sign signs.

Library errors become ``CryptoError``/``ConfigError``; nothing here logs key material.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from e2email.errors import ConfigError, SecretError, UnsupportedError

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
EC_CURVES = ("secp256r1", "secp384r1", "secp521r1")


@dataclass(frozen=True)
class Identity:
    """Our own S/MIME certificate, its private key and the chain sent along with signatures."""

    certificate: x509.Certificate
    key: PrivateKey
    chain: tuple[x509.Certificate, ...] = ()

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the DER certificate (64 hex)."""
        return self.certificate.fingerprint(hashes.SHA256()).hex()


def load_certificates(data: bytes, what: str) -> list[x509.Certificate]:
    """Certificates from PEM (one or more) or a single DER certificate."""
    try:
        if b"-----BEGIN CERTIFICATE-----" in data:
            return list(x509.load_pem_x509_certificates(data))
        return [x509.load_der_x509_certificate(data)]
    except ValueError as e:
        raise ConfigError(f"{what}: not a certificate: {e}") from None


def needs_passphrase(key_pem: bytes) -> bool:
    """True if the PEM private key is encrypted (PKCS#8 ENCRYPTED or legacy Proc-Type)."""
    return b"ENCRYPTED" in key_pem


def describe_key(key: PrivateKey) -> str:
    """``RSA 3072`` or ``EC secp256r1``."""
    if isinstance(key, rsa.RSAPrivateKey):
        return f"RSA {key.key_size}"
    return f"EC {key.curve.name}"


def load_identity(cert_path: Path, key_path: Path, passphrase: bytes | None) -> Identity:
    """Read our certificate (with its chain) and private key; check they belong together."""
    certs = load_certificates(_read(cert_path, "smime.certificate"), str(cert_path))
    pem = _read(key_path, "smime.private_key")
    try:
        key = serialization.load_pem_private_key(pem, passphrase)
    except (ValueError, TypeError) as e:
        if passphrase is not None and needs_passphrase(pem):
            raise SecretError(f"the passphrase does not open {key_path}") from None
        raise ConfigError(f"{key_path}: cannot load the private key: {e}") from None
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise UnsupportedError(f"{key_path}: only RSA and EC private keys can sign S/MIME")
    spki = _spki(key.public_key())
    mine = [c for c in certs if _spki(c.public_key()) == spki]
    if not mine:
        raise ConfigError(f"{cert_path}: no certificate in it matches {key_path}")
    chain = tuple(c for c in certs if c is not mine[0])
    return Identity(mine[0], key, chain)


def _spki(key: object) -> bytes:
    if not isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        return b""
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise ConfigError(f"{what}: cannot read {path}: {e.strerror}") from None


def check_encryptable(cert: x509.Certificate, name: str) -> None:
    """Refuse key types S/MIME encryption here cannot use (RSA, and EC on NIST curves, only)."""
    key = cert.public_key()
    if isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name not in EC_CURVES:
            raise UnsupportedError(
                f"{name}: S/MIME certificate on curve {key.curve.name} is not supported"
            )
        return
    if not isinstance(key, rsa.RSAPublicKey):
        raise UnsupportedError(f"{name}: S/MIME certificate key type is not supported")


def is_rsa(cert: x509.Certificate) -> bool:
    """True for an RSA certificate (the envelope builder's only kind)."""
    return isinstance(cert.public_key(), rsa.RSAPublicKey)


def check_signer(cert: x509.Certificate, now: datetime | None = None) -> None:
    """Refuse to sign with a certificate recipients must reject (security.md item 6): outside
    its validity, an EKU without emailProtection, keyUsage without digitalSignature."""
    from e2email.core import x509check

    problems = x509check.validity_problems(cert, now or datetime.now(UTC))
    if not x509check.eku_allows_mail(cert):
        problems.append(x509check.BAD_EKU)
    problems += x509check.key_usage_problems(cert, "sign")
    if problems:
        raise ConfigError(
            f"smime.certificate cannot sign ({', '.join(problems)}): renew it, or set "
            "smime.sign = false"
        )
