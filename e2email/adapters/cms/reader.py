"""S/MIME on the reading side: decrypt (``cms_decrypt``) and verify CMS SignedData.

* Decryption of EnvelopedData and AuthEnvelopedData, RSA and EC recipients, lives in
  ``cms_decrypt``. CBC has no integrity: a wrong padding is reported as an integrity failure,
  and a signature layer inside is the only real integrity check -- the reading service
  refuses plaintext whose inner signature is bad.
* SignedData (RFC 5652 5, RFC 8551 3.4/3.5) is verified here: the signed attributes' message
  digest, the signature over their DER, then the signer's chain to ``smime.trust_anchors``
  (``core.x509path``, RFC 5280 6.1; EKU emailProtection when an EKU is present), and the signer's
  rfc822Name against the From address. The verdict is a value (``Signature``).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from asn1crypto import cms  # type: ignore[import-untyped]
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from e2email.adapters.cms import decrypt as cms_decrypt
from e2email.adapters.cms.decrypt import Keypair, malformed
from e2email.adapters.openpgp.gpg import Signature
from e2email.errors import ConfigError, CryptoError

HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
    "sha224": hashes.SHA224,
}
MAIL_EKUS = (ExtendedKeyUsageOID.EMAIL_PROTECTION, ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE)


def load_anchors(path: Path | None) -> list[x509.Certificate]:
    """The trust anchors for signatures (``smime.trust_anchors``); none configured: none."""
    if path is None:
        return []
    try:
        return x509.load_pem_x509_certificates(path.read_bytes())
    except (OSError, ValueError) as e:
        raise ConfigError(f"smime.trust_anchors: cannot read {path}: {e}") from None


class SmimeReader:
    """Decrypts with the user's identity; verifies against the configured anchors."""

    def __init__(self, identity: Keypair | None, anchors: list[x509.Certificate]) -> None:
        self.identity, self.anchors = identity, anchors

    def decrypt(self, der: bytes) -> tuple[bytes, bool]:
        """The content of an (Auth)EnvelopedData, and whether it was integrity protected."""
        if self.identity is None:
            raise CryptoError(
                "S/MIME message, but no S/MIME key is configured (smime.certificate, "
                "smime.private_key)"
            )
        return cms_decrypt.decrypt(der, self.identity)

    def verify_detached(self, content: bytes, signature: bytes, senders: set[str]) -> Signature:
        """Verify a detached SignedData (multipart/signed, RFC 8551 3.5) over ``content``."""
        with malformed("S/MIME signature"):
            signed = _signed_data(signature)
            return self._verify(signed, content, senders)

    def verify_opaque(self, der: bytes, senders: set[str]) -> tuple[bytes, Signature]:
        """Verify an encapsulated SignedData (RFC 8551 3.4); return its content and verdict."""
        with malformed("S/MIME signature"):
            return self._opaque(der, senders)

    def _opaque(self, der: bytes, senders: set[str]) -> tuple[bytes, Signature]:
        signed = _signed_data(der)
        content = signed["encap_content_info"]["content"]
        if content.native is None:
            raise CryptoError("S/MIME signed-data without content")
        data = bytes(content.native if isinstance(content.native, bytes) else content.contents)
        return data, self._verify(signed, data, senders)

    def _verify(self, signed: Any, content: bytes, senders: set[str]) -> Signature:
        infos = list(signed["signer_infos"])
        if not infos:
            return Signature("none")
        certs = [
            x509.load_der_x509_certificate(c.chosen.dump())
            for c in (signed["certificates"] or [])
            if c.name == "certificate"
        ]
        info = infos[0]
        cert = _signer_cert(info, certs)
        if cert is None:
            return Signature("unknown-key")
        fpr = hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()
        names = _emails(cert)
        status = _check_signature(info, content, cert)
        if status == "good":
            status = self._trust(cert, certs, names, senders)
        return Signature(status, fpr, names[0] if names else None)

    def _trust(
        self,
        cert: x509.Certificate,
        certs: list[x509.Certificate],
        names: list[str],
        senders: set[str],
    ) -> str:
        from e2email.core import x509check

        now = datetime.now(UTC)
        others = [c for c in certs if c != cert]
        if x509check.validity_problems(cert, now) or not x509check.chains_to_anchor(
            cert, anchors=self.anchors, intermediates=others, now=now
        ):
            return "untrusted"
        if not _usable_for_mail(cert):
            return "untrusted"
        if senders and not any(_same_address(n, s) for n in names for s in senders):
            return "signer-mismatch"
        return "good"


def _signed_data(der: bytes) -> Any:
    try:
        info = cms.ContentInfo.load(der)
        if info["content_type"].native != "signed_data":
            raise CryptoError("S/MIME signature is not SignedData")
        return info["content"]
    except ValueError as e:
        raise CryptoError(f"unreadable S/MIME signature: {e}") from None


def _signer_cert(info: Any, certs: list[x509.Certificate]) -> x509.Certificate | None:
    sid = info["sid"]
    return next((c for c in certs if cms_decrypt.matches(sid, c)), None)


def _check_signature(info: Any, content: bytes, cert: x509.Certificate) -> str:
    """``good`` or ``bad`` for one SignerInfo (RFC 5652 5.4, 5.6)."""
    digest_name = info["digest_algorithm"]["algorithm"].native
    if digest_name not in HASHES:
        return "weak-algorithm"
    algo = HASHES[digest_name]()
    attrs = info["signed_attrs"]
    data = content
    if attrs and len(attrs):
        digest = next(
            (a["values"][0].native for a in attrs if a["type"].native == "message_digest"), None
        )
        h = hashes.Hash(algo)
        h.update(content)
        if digest != h.finalize():
            return "bad"
        data = b"\x31" + attrs.dump()[1:]
    try:
        _verify_raw(cert.public_key(), info, data, algo)
    except (InvalidSignature, ValueError, UnsupportedAlgorithm):
        return "bad"
    return "good"


def _verify_raw(key: Any, info: Any, data: bytes, algo: hashes.HashAlgorithm) -> None:
    signature = info["signature"].native
    sig_algo = info["signature_algorithm"]
    if isinstance(key, rsa.RSAPublicKey):
        if sig_algo["algorithm"].native == "rsassa_pss":
            params = sig_algo["parameters"]
            h = HASHES[params["hash_algorithm"]["algorithm"].native]()
            pss = padding.PSS(padding.MGF1(h), params["salt_length"].native)
            key.verify(signature, data, pss, h)
        else:
            key.verify(signature, data, padding.PKCS1v15(), algo)
    elif isinstance(key, ec.EllipticCurvePublicKey):
        key.verify(signature, data, ec.ECDSA(algo))
    elif isinstance(key, ed25519.Ed25519PublicKey):
        key.verify(signature, data)
    else:
        raise UnsupportedAlgorithm("unsupported signer key type")


def _emails(cert: x509.Certificate) -> list[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [str(v) for v in san.get_values_for_type(x509.RFC822Name)]


def _usable_for_mail(cert: x509.Certificate) -> bool:
    """EKU (if present) allows e-mail; keyUsage (if present) allows signatures (RFC 8550 4.4)."""
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        if not any(oid in eku for oid in MAIL_EKUS):
            return False
    except x509.ExtensionNotFound:
        pass
    try:
        ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        return bool(ku.digital_signature or ku.content_commitment)
    except x509.ExtensionNotFound:
        return True


def _same_address(a: str, b: str) -> bool:
    """Local part exact, domain case-insensitive (RFC 5321 2.4)."""
    la, _, da = a.rpartition("@")
    lb, _, db = b.rpartition("@")
    return la == lb and da.lower() == db.lower()
