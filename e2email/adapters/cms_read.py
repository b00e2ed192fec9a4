"""S/MIME on the reading side: decrypt CMS (Auth)EnvelopedData, verify CMS SignedData.

* EnvelopedData (RFC 5652 6) is decrypted by cryptography's ``pkcs7_decrypt_der`` (RSA
  recipients, AES-CBC). CBC has no integrity: a wrong padding is reported as an integrity
  failure, and a signature layer inside is the only real integrity check -- the reading
  service refuses plaintext whose inner signature is bad.
* AuthEnvelopedData (RFC 5083) with AES-GCM (RFC 5084) and an RSA key-transport recipient is
  decrypted here on cryptography's primitives; a wrong tag releases nothing.
* SignedData (RFC 5652 5, RFC 8551 3.4/3.5) is verified here: the signed attributes' message
  digest, the signature over their DER, then the signer's chain to ``smime.trust_anchors``
  (cryptography's verifier; EKU emailProtection when an EKU is present), and the signer's
  rfc822Name against the From address. The verdict is a value (``Signature``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from asn1crypto import cms, core  # type: ignore[import-untyped]
from cryptography import x509
from cryptography.exceptions import InvalidSignature, InvalidTag, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509 import verification
from cryptography.x509.oid import ExtendedKeyUsageOID

from e2email.adapters.gpg import Signature
from e2email.errors import ConfigError, CryptoError, IntegrityError, UnsupportedError

HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
    "sha224": hashes.SHA224,
}
MAIL_EKUS = (ExtendedKeyUsageOID.EMAIL_PROTECTION, ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE)


@dataclass(frozen=True)
class Identity:
    """The user's own S/MIME certificate and private key (``[smime]``)."""

    certificate: x509.Certificate
    key: Any


def load_identity(certificate: Path, private_key: Path, passphrase: bytes | None) -> Identity:
    """Read ``smime.certificate`` and ``smime.private_key``; ConfigError names what is wrong."""
    try:
        cert = x509.load_pem_x509_certificates(certificate.read_bytes())[0]
    except (OSError, ValueError) as e:
        raise ConfigError(f"smime.certificate: cannot read {certificate}: {e}") from None
    try:
        data = private_key.read_bytes()
    except OSError as e:
        raise ConfigError(f"smime.private_key: cannot read {private_key}: {e.strerror}") from None
    try:
        key = serialization.load_pem_private_key(data, passphrase)
    except TypeError:
        raise ConfigError(
            "smime.private_key is protected by a passphrase: set smime.passphrase_command"
        ) from None
    except (ValueError, UnsupportedAlgorithm) as e:
        raise ConfigError(f"smime.private_key: cannot load {private_key}: {e}") from None
    return Identity(cert, key)


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

    def __init__(self, identity: Identity | None, anchors: list[x509.Certificate]) -> None:
        self.identity, self.anchors = identity, anchors

    def decrypt(self, der: bytes) -> tuple[bytes, bool]:
        """The content of an (Auth)EnvelopedData, and whether it was integrity protected."""
        if self.identity is None:
            raise ConfigError("an S/MIME message: set smime.certificate and smime.private_key")
        try:
            kind = cms.ContentInfo.load(der)["content_type"].native
        except ValueError as e:
            raise CryptoError(f"not a CMS structure: {e}") from None
        if kind == "authenticated_enveloped_data":
            return _auth_enveloped(der, self.identity), True
        if kind != "enveloped_data":
            raise UnsupportedError(f"S/MIME content type {kind} is not encrypted data")
        if not isinstance(self.identity.key, rsa.RSAPrivateKey):
            raise UnsupportedError("S/MIME decryption supports RSA keys only")
        try:
            return pkcs7.pkcs7_decrypt_der(
                der, self.identity.certificate, self.identity.key, []
            ), False
        except ValueError as e:
            raise _decrypt_error(str(e)) from None
        except UnsupportedAlgorithm as e:
            raise UnsupportedError(f"S/MIME: {e}") from None

    def verify_detached(self, content: bytes, signature: bytes, senders: set[str]) -> Signature:
        """Verify a detached SignedData (multipart/signed, RFC 8551 3.5) over ``content``."""
        signed = _signed_data(signature)
        return self._verify(signed, content, senders)

    def verify_opaque(self, der: bytes, senders: set[str]) -> tuple[bytes, Signature]:
        """Verify an encapsulated SignedData (RFC 8551 3.4); return its content and verdict."""
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
        if not self.anchors:
            return "untrusted"
        try:
            builder = verification.PolicyBuilder().store(verification.Store(self.anchors))
            builder = builder.time(datetime.now(UTC)).extension_policies(
                ca_policy=verification.ExtensionPolicy.webpki_defaults_ca(),
                ee_policy=verification.ExtensionPolicy.permit_all(),
            )
            builder.build_client_verifier().verify(cert, [c for c in certs if c != cert])
        except verification.VerificationError:
            return "untrusted"
        if not _usable_for_mail(cert):
            return "untrusted"
        if senders and not any(_same_address(n, s) for n in names for s in senders):
            return "signer-mismatch"
        return "good"


def _decrypt_error(message: str) -> Exception:
    if "padding" in message.lower():
        return IntegrityError("S/MIME decryption failed (bad padding); no plaintext released")
    if "recipient" in message.lower():
        return CryptoError("S/MIME message not encrypted to the configured smime.certificate")
    return UnsupportedError(f"S/MIME: {message}")


def _auth_enveloped(der: bytes, identity: Identity) -> bytes:
    """RFC 5083 AuthEnvelopedData, AES-GCM (RFC 5084), RSA key transport recipient."""
    data = cms.ContentInfo.load(der)["content"]
    cek = _unwrap_cek(data["recipient_infos"], identity)
    info = data["auth_encrypted_content_info"]
    algo = info["content_encryption_algorithm"]
    if algo["algorithm"].native not in ("aes128_gcm", "aes192_gcm", "aes256_gcm"):
        raise UnsupportedError(f"S/MIME content cipher {algo['algorithm'].native}")
    nonce = _gcm_nonce(algo["parameters"])
    attrs = data["auth_attrs"]
    aad = b"\x31" + attrs.dump()[1:] if attrs and len(attrs) else b""
    body = info["encrypted_content"].native + data["mac"].native
    try:
        return AESGCM(cek).decrypt(nonce, body, aad)
    except (InvalidTag, ValueError):
        raise IntegrityError("S/MIME authentication tag mismatch; no plaintext released") from None


class _GcmParameters(core.Sequence):  # type: ignore[misc]
    """GCMParameters (RFC 5084 3.2): the nonce and the tag length."""

    _fields: ClassVar[list[tuple[Any, ...]]] = [
        ("aes_nonce", core.OctetString),
        ("aes_icvlen", core.Integer, {"default": 12}),
    ]


def _gcm_nonce(params: Any) -> bytes:
    parsed = _GcmParameters.load(params.dump())
    if parsed["aes_icvlen"].native != 16:
        raise UnsupportedError("S/MIME AES-GCM with a tag shorter than 16 bytes")
    return bytes(parsed["aes_nonce"].native)


def _unwrap_cek(recipients: Any, identity: Identity) -> bytes:
    if not isinstance(identity.key, rsa.RSAPrivateKey):
        raise UnsupportedError("S/MIME decryption supports RSA keys only")
    for ri in recipients:
        if ri.name != "ktri" or not _is_me(ri.chosen["rid"], identity.certificate):
            continue
        algo = ri.chosen["key_encryption_algorithm"]
        pad: padding.AsymmetricPadding = padding.PKCS1v15()
        if algo["algorithm"].native == "rsaes_oaep":
            h = HASHES.get(algo["parameters"]["hash_algorithm"]["algorithm"].native, hashes.SHA1)
            pad = padding.OAEP(padding.MGF1(h()), h(), None)
        try:
            return identity.key.decrypt(ri.chosen["encrypted_key"].native, pad)
        except ValueError:
            raise CryptoError("S/MIME: cannot decrypt the content key") from None
    raise CryptoError("S/MIME message not encrypted to the configured smime.certificate")


def _is_me(rid: Any, cert: x509.Certificate) -> bool:
    if rid.name == "issuer_and_serial_number":
        ias = rid.chosen
        return bool(
            ias["serial_number"].native == cert.serial_number
            and ias["issuer"].dump() == cert.issuer.public_bytes()
        )
    return bool(_ski(cert) == rid.chosen.native)


def _ski(cert: x509.Certificate) -> bytes | None:
    try:
        return cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    except x509.ExtensionNotFound:
        return None


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
    return next((c for c in certs if _is_me(sid, c)), None)


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
