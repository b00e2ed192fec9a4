"""Writing CMS (RFC 5652) with cryptography's builders: envelopes to RSA, detached signatures.

* Encryption of an ordinary message to RSA recipients: ``PKCS7EnvelopeBuilder`` with
  AES-256-CBC (RFC 8551 2.7) and RSAES-PKCS1-v1_5 key transport, what every client reads.
  Large messages, EC recipients (RFC 5753 key agreement) and AES-256-GCM AuthEnvelopedData
  (RFC 5083/5084) go through the streaming writer in ``envelope.py`` instead.
* The builder encrypts to ANY certificate it is given, signing-only ones included: callers
  run ``core.x509check.check_recipient`` first; ``check_encryptable`` checks the key type.
* Signatures: ``PKCS7SignatureBuilder``, SHA-256, detached, over the exact bytes given
  (``Binary``: the caller has already made them canonical CRLF, RFC 8551 3.1.1), and only
  with a certificate fit to sign (``check_signer``).
"""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.ciphers import algorithms
from cryptography.hazmat.primitives.serialization import pkcs7

from e2email.adapters.cms.identity import Identity, check_encryptable, check_signer, is_rsa
from e2email.errors import CryptoError, UnsupportedError


def envelope(data: bytes, recipients: list[tuple[str, x509.Certificate]]) -> bytes:
    """EnvelopedData (RFC 5652 6) with AES-256-CBC to every certificate; DER bytes."""
    if not recipients:
        raise CryptoError("no S/MIME recipients to encrypt to")
    builder = pkcs7.PKCS7EnvelopeBuilder().set_data(data)
    builder = builder.set_content_encryption_algorithm(algorithms.AES256)
    for name, cert in recipients:
        check_encryptable(cert, name)
        if not is_rsa(cert):
            raise UnsupportedError(f"{name}: the envelope builder encrypts to RSA only")
        builder = builder.add_recipient(cert)
    try:
        return builder.encrypt(serialization.Encoding.DER, [pkcs7.PKCS7Options.Binary])
    except (ValueError, TypeError) as e:
        raise CryptoError(f"S/MIME encryption failed: {e}") from None


def sign_detached(data: bytes, identity: Identity) -> bytes:
    """SignedData (RFC 5652 5) without content, SHA-256, chain included; DER bytes."""
    check_signer(identity.certificate)
    builder = pkcs7.PKCS7SignatureBuilder().set_data(data)
    builder = builder.add_signer(identity.certificate, identity.key, hashes.SHA256())
    for cert in identity.chain:
        builder = builder.add_certificate(cert)
    options = [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary]
    try:
        return builder.sign(serialization.Encoding.DER, options)
    except (ValueError, TypeError) as e:
        raise CryptoError(f"S/MIME signing failed: {e}") from None
