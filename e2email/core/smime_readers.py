"""What the S/MIME readers people use cannot open, for a recipient's certificate.

Pure: certificate bytes in, warnings out. Measured in tests/interop (docs/interop.md): NSS
3.87, and so Thunderbird built on it, and gpgsm 2.2 read no ECDH key agreement (RFC 5753), which
is what an EC certificate gets. The warning is advice for ``send --dry-run`` and the JSON plan:
the certificate is valid and e2email still encrypts to it.
"""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

EC_WARNING = (
    "EC certificate: encrypted by ECDH key agreement, which Thunderbird (NSS 3.87) and gpgsm 2.2 "
    "cannot read"
)


def reader_warnings(material: bytes | None) -> tuple[str, ...]:
    """Warnings for a recipient certificate (DER, or PEM with the certificate first)."""
    cert = _first_certificate(material)
    if cert is not None and isinstance(cert.public_key(), ec.EllipticCurvePublicKey):
        return (EC_WARNING,)
    return ()


def _first_certificate(material: bytes | None) -> x509.Certificate | None:
    if not material:
        return None
    try:
        if material.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_certificates(material)[0]
        return x509.load_der_x509_certificate(material)
    except ValueError:
        return None
