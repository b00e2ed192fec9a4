"""CMS decryption: EnvelopedData (RFC 5652 6) and AuthEnvelopedData (RFC 5083) for our key.

cryptography's ``pkcs7_decrypt_der`` reads EnvelopedData for RSA keys with AES-CBC, and is used
for exactly that. Everything else is done here on cryptography's primitives and asn1crypto's
structures, mirroring what ``cms_envelope`` writes:

* key transport (RSA: PKCS#1 v1.5 or OAEP, RFC 3370 4.2 / RFC 8017) and key agreement (EC:
  ephemeral-static ECDH, X9.63 KDF, AES key wrap; RFC 5753 3.1.2 and 7.2);
* content: AES-CBC with PKCS#7 padding (RFC 3565), or AES-GCM with a 16-byte tag in
  AuthEnvelopedData (RFC 5084), where the tag is checked before any plaintext is returned.

A bad padding or a bad tag raises IntegrityError and returns nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from asn1crypto import cms, core  # type: ignore[import-untyped]
from cryptography import x509
from cryptography.exceptions import InvalidTag, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric import padding as asym
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.x963kdf import X963KDF
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap
from cryptography.hazmat.primitives.serialization import pkcs7

from e2email.adapters.cms.envelope import EccCmsSharedInfo, GcmParameters
from e2email.errors import CryptoError, E2emailError, IntegrityError, UnsupportedError

HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}
# RFC 5753 7.1.4: dhSinglePass-stdDH-*kdf-scheme -> the KDF's hash
KDF_SCHEMES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "1.3.133.16.840.63.0.2": hashes.SHA1,
    "1.3.132.1.11.0": hashes.SHA224,
    "1.3.132.1.11.1": hashes.SHA256,
    "1.3.132.1.11.2": hashes.SHA384,
    "1.3.132.1.11.3": hashes.SHA512,
}
WRAP_BITS = {"aes128_wrap": 128, "aes192_wrap": 192, "aes256_wrap": 256}
CBC_CIPHERS = {"aes128_cbc", "aes192_cbc", "aes256_cbc"}
GCM_CIPHERS = {"aes128_gcm", "aes192_gcm", "aes256_gcm"}


class Keypair(Protocol):
    """Our certificate and its private key (``adapters.cms.Identity`` is one)."""

    @property
    def certificate(self) -> x509.Certificate:
        """Our certificate."""
        ...

    @property
    def key(self) -> Any:
        """Its private key (RSA or EC)."""
        ...


# cryptography refuses some certificate extensions only when they are read
_X509_REFUSALS = (x509.DuplicateExtension, x509.UnsupportedGeneralNameType)


@contextmanager
def malformed(what: str) -> Iterator[None]:
    """asn1crypto parses lazily: a bad field raises only when it is read, anywhere below.

    Every such error from outside bytes becomes one CryptoError naming ``what``.
    """
    try:
        yield
    except E2emailError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, OverflowError, *_X509_REFUSALS) as e:
        text = " ".join(str(e).split())[:200] or type(e).__name__
        raise CryptoError(f"malformed {what}: {text}") from None


def decrypt(der: bytes, me: Keypair) -> tuple[bytes, bool]:
    """The content of an (Auth)EnvelopedData, and whether it was integrity protected."""
    with malformed("S/MIME encrypted data"):
        return _decrypt(der, me)


def _decrypt(der: bytes, me: Keypair) -> tuple[bytes, bool]:
    info = cms.ContentInfo.load(der)
    kind = info["content_type"].native
    data = info["content"]
    if kind == "enveloped_data":
        if isinstance(me.key, rsa.RSAPrivateKey) and _only_ktri(data):
            return _builtin(der, info, me), False
        cek = _content_key(data["recipient_infos"], me)
        return _cbc(data["encrypted_content_info"], cek), False
    if kind == "authenticated_enveloped_data":
        cek = _content_key(data["recipient_infos"], me)
        return _gcm(data, cek), True
    raise UnsupportedError(f"S/MIME content type {kind} is not encrypted data")


def _only_ktri(data: Any) -> bool:
    """Only RSA PKCS#1 v1.5 recipients: what cryptography's own decryption handles."""
    return all(
        ri.name == "ktri"
        and ri.chosen["key_encryption_algorithm"]["algorithm"].native == "rsaes_pkcs1v15"
        for ri in data["recipient_infos"]
    )


def _builtin(der: bytes, info: Any, me: Keypair) -> bytes:
    """cryptography's EnvelopedData reader, which takes DER only.

    CMS allows BER (RFC 5652 1.2) and NSS -- so Thunderbird -- writes indefinite lengths
    throughout: what cryptography cannot parse is re-encoded as DER (no content byte changes:
    lengths become definite, a chunked OCTET STRING one string) and tried once more.
    """
    try:
        return _pkcs7_decrypt(der, me)
    except _NotDer:
        return _pkcs7_decrypt(bytes(info.dump(force=True)), me, retry=False)


class _NotDer(Exception):
    """cryptography refused the encoding, not the content."""


def _pkcs7_decrypt(der: bytes, me: Keypair, *, retry: bool = True) -> bytes:
    try:
        return pkcs7.pkcs7_decrypt_der(der, me.certificate, me.key, [])
    except ValueError as e:
        message = str(e).lower()
        if "padding" in message:
            raise IntegrityError(
                "S/MIME decryption failed (bad padding); no plaintext released"
            ) from None
        if "recipient" in message:
            raise CryptoError(
                "S/MIME message not encrypted to the configured smime.certificate"
            ) from None
        if retry and "asn1" in message:
            raise _NotDer from None
        raise UnsupportedError(f"S/MIME: {e}") from None
    except UnsupportedAlgorithm as e:
        raise UnsupportedError(f"S/MIME: {e}") from None


def _content_key(recipients: Any, me: Keypair) -> bytes:
    for ri in recipients:
        if ri.name == "ktri" and isinstance(me.key, rsa.RSAPrivateKey):
            if matches(ri.chosen["rid"], me.certificate):
                return _ktri(ri.chosen, me.key)
        elif ri.name == "kari" and isinstance(me.key, ec.EllipticCurvePrivateKey):
            for rek in ri.chosen["recipient_encrypted_keys"]:
                if matches(rek["rid"], me.certificate):
                    return _kari(ri.chosen, rek, me.key)
    raise CryptoError("S/MIME message not encrypted to the configured smime.certificate")


def _ktri(ktri: Any, key: rsa.RSAPrivateKey) -> bytes:
    """RFC 5652 6.2.1: the content key under RSA (PKCS#1 v1.5 or OAEP)."""
    algo = ktri["key_encryption_algorithm"]
    pad: asym.AsymmetricPadding = asym.PKCS1v15()
    if algo["algorithm"].native == "rsaes_oaep":
        params = algo["parameters"]  # RFC 4055 3.1; absent fields mean SHA-1
        h = HASHES.get(params["hash_algorithm"]["algorithm"].native, hashes.SHA1)
        mgf = HASHES.get(
            params["mask_gen_algorithm"]["parameters"]["algorithm"].native, hashes.SHA1
        )
        pad = asym.OAEP(asym.MGF1(mgf()), h(), None)
    try:
        return key.decrypt(ktri["encrypted_key"].native, pad)
    except ValueError:
        raise CryptoError("S/MIME: cannot decrypt the content key") from None


def _kari(kari: Any, rek: Any, key: ec.EllipticCurvePrivateKey) -> bytes:
    """RFC 5753 3.1.2: ECDH with the originator's ephemeral key, X9.63 KDF, AES key unwrap."""
    originator = kari["originator"]
    if originator.name != "originator_key":
        raise UnsupportedError("S/MIME key agreement without an ephemeral originator key")
    point = originator.chosen["public_key"].native
    try:
        peer = ec.EllipticCurvePublicKey.from_encoded_point(key.curve, point)
    except ValueError:
        raise CryptoError("S/MIME: the originator key is not on our curve") from None
    shared = key.exchange(ec.ECDH(), peer)
    kea = kari["key_encryption_algorithm"]
    digest = KDF_SCHEMES.get(kea["algorithm"].dotted)
    wrap = cms.KeyEncryptionAlgorithm.load(kea["parameters"].dump())
    bits = WRAP_BITS.get(wrap["algorithm"].native)
    if digest is None or bits is None:
        raise UnsupportedError(
            f"S/MIME key agreement {kea['algorithm'].dotted} / {wrap['algorithm'].native}"
        )
    fields: dict[str, Any] = {"key_info": wrap, "supp_pub_info": bits.to_bytes(4, "big")}
    if kari["ukm"].native is not None:
        fields["entity_u_info"] = kari["ukm"].native
    kek = X963KDF(digest(), bits // 8, EccCmsSharedInfo(fields).dump()).derive(shared)
    try:
        return aes_key_unwrap(kek, rek["encrypted_key"].native)
    except InvalidUnwrap:
        raise CryptoError("S/MIME: cannot unwrap the content key") from None


def _cbc(info: Any, cek: bytes) -> bytes:
    algo = info["content_encryption_algorithm"]
    if algo["algorithm"].native not in CBC_CIPHERS:
        raise UnsupportedError(f"S/MIME content cipher {algo['algorithm'].native}")
    iv = algo["parameters"].native
    decryptor = Cipher(algorithms.AES(cek), modes.CBC(iv)).decryptor()
    padded = decryptor.update(_content(info)) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    try:
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError:
        raise IntegrityError(
            "S/MIME decryption failed (bad padding); no plaintext released"
        ) from None


def _gcm(data: Any, cek: bytes) -> bytes:
    """RFC 5083 2 / RFC 5084 3: AES-GCM over the content, authAttrs as associated data."""
    info = data["auth_encrypted_content_info"]
    algo = info["content_encryption_algorithm"]
    if algo["algorithm"].native not in GCM_CIPHERS:
        raise UnsupportedError(f"S/MIME content cipher {algo['algorithm'].native}")
    params = GcmParameters.load(algo["parameters"].dump())
    if params["aes_icvlen"].native != 16:
        raise UnsupportedError("S/MIME AES-GCM with a tag shorter than 16 bytes")
    attrs = data["auth_attrs"]
    aad = b"\x31" + attrs.dump()[1:] if attrs and len(attrs) else b""
    try:
        return AESGCM(cek).decrypt(
            params["aes_nonce"].native, _content(info) + data["mac"].native, aad
        )
    except (InvalidTag, ValueError):
        raise IntegrityError("S/MIME authentication tag mismatch; no plaintext released") from None


def _content(info: Any) -> bytes:
    content = info["encrypted_content"]
    if content.native is None:
        raise CryptoError("S/MIME message without encrypted content (detached content)")
    return bytes(content.native)


def matches(rid: Any, cert: x509.Certificate) -> bool:
    """A recipient or signer identifier names ``cert`` (issuer and serial, or SKI)."""
    if rid.name == "issuer_and_serial_number":
        ias = rid.chosen
        return bool(
            ias["serial_number"].native == cert.serial_number
            and ias["issuer"].dump() == cert.issuer.public_bytes()
        )
    value = rid.chosen
    if isinstance(value, core.Sequence) and "subject_key_identifier" in value:  # rKeyId
        value = value["subject_key_identifier"]
    try:
        ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    except x509.ExtensionNotFound:
        return False
    return bool(value.native == ski)
