"""Streaming CMS encryption: EnvelopedData (RFC 5652 6) and AuthEnvelopedData (RFC 5083).

``cryptography``'s envelope builder encrypts bytes in memory (about four copies of the
message at its peak), to RSA recipients only, with CBC only. This writer fills the gaps on
cryptography's primitives and asn1crypto's structures:

* the content streams through the cipher chunk by chunk; the DER lengths are known in
  advance (CBC: the padded length; GCM: the plaintext length), so the output is plain DER;
* RSA recipients: KeyTransRecipientInfo, issuerAndSerialNumber, RSAES-PKCS1-v1_5 (exactly
  what the builder and every S/MIME client write), or RSAES-OAEP with SHA-256 and MGF1-SHA-256
  (RFC 8551 2.3 "SHOULD+", RFC 4055 with the RFC 8017 parameters) when asked for;
* EC recipients: KeyAgreeRecipientInfo, ephemeral-static ECDH with the X9.63 KDF and AES key
  wrap (RFC 5753 3.1: dhSinglePass-stdDH-sha256kdf-scheme and id-aes256-wrap for P-256, the
  sha384/sha512 schemes for P-384/P-521);
* content encryption AES-256-CBC (RFC 3565), or AES-256-GCM with a 16-byte tag inside
  AuthEnvelopedData (RFC 5083, RFC 5084) when asked for.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from asn1crypto import algos, cms, core  # type: ignore[import-untyped]
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, padding, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.padding import MGF1, OAEP, PKCS1v15
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.x963kdf import X963KDF
from cryptography.hazmat.primitives.keywrap import aes_key_wrap

from e2email.errors import InternalError, UnsupportedError

CBC = "aes256-cbc"
GCM = "aes256-gcm"
ENVELOPED_DATA = "1.2.840.113549.1.7.3"
AUTH_ENVELOPED_DATA = "1.2.840.113549.1.9.16.1.23"
AES256_GCM = "2.16.840.1.101.3.4.1.46"
TAG_LENGTH = 16
# RFC 5753 7.1.4 (SEC 1 OIDs): ECDH key agreement with the X9.63 KDF over this hash.
_KDF_SCHEMES: dict[str, tuple[str, hashes.HashAlgorithm]] = {
    "secp256r1": ("1.3.132.1.11.1", hashes.SHA256()),
    "secp384r1": ("1.3.132.1.11.2", hashes.SHA384()),
    "secp521r1": ("1.3.132.1.11.3", hashes.SHA512()),
}


class GcmParameters(core.Sequence):  # type: ignore[misc]
    """GCMParameters of RFC 5084 3.2 (asn1crypto knows only the CCM twin)."""

    _fields = [  # noqa: RUF012  (asn1crypto's declaration style)
        ("aes_nonce", core.OctetString),
        ("aes_icvlen", core.Integer, {"default": 12}),
    ]


class EccCmsSharedInfo(core.Sequence):  # type: ignore[misc]
    """ECC-CMS-SharedInfo of RFC 5753 7.2, the X9.63 KDF's SharedInfo."""

    _fields = [  # noqa: RUF012
        ("key_info", cms.KeyEncryptionAlgorithm),
        ("entity_u_info", core.OctetString, {"explicit": 0, "optional": True}),
        ("supp_pub_info", core.OctetString, {"explicit": 2}),
    ]


def _issuer_and_serial(cert: x509.Certificate) -> cms.IssuerAndSerialNumber:
    parsed = asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))
    return cms.IssuerAndSerialNumber(
        {"issuer": parsed.issuer, "serial_number": parsed.serial_number}
    )


# RFC 4055 3.1 RSAES-OAEP-params: SHA-256 for the label hash and MGF1, the empty label.
_OAEP_SHA256 = {
    "algorithm": "rsaes_oaep",
    "parameters": algos.RSAESOAEPParams(
        {
            "hash_algorithm": {"algorithm": "sha256"},
            "mask_gen_algorithm": {"algorithm": "mgf1", "parameters": {"algorithm": "sha256"}},
        }
    ),
}


def _ktri(
    cert: x509.Certificate, key: rsa.RSAPublicKey, cek: bytes, *, oaep: bool
) -> cms.RecipientInfo:
    """KeyTransRecipientInfo (RFC 5652 6.2.1): RSAES-PKCS1-v1_5 (RFC 3370 4.2.1) or OAEP."""
    if oaep:
        algorithm: dict[str, object] = _OAEP_SHA256
        encrypted = key.encrypt(cek, OAEP(MGF1(hashes.SHA256()), hashes.SHA256(), None))
    else:
        algorithm, encrypted = {"algorithm": "rsaes_pkcs1v15"}, key.encrypt(cek, PKCS1v15())
    return cms.RecipientInfo(
        name="ktri",
        value=cms.KeyTransRecipientInfo(
            {
                "version": "v0",
                "rid": cms.RecipientIdentifier(
                    name="issuer_and_serial_number", value=_issuer_and_serial(cert)
                ),
                "key_encryption_algorithm": algorithm,
                "encrypted_key": encrypted,
            }
        ),
    )


def _kari(cert: x509.Certificate, key: ec.EllipticCurvePublicKey, cek: bytes) -> cms.RecipientInfo:
    """KeyAgreeRecipientInfo with ephemeral-static ECDH (RFC 5753 3.1.1)."""
    scheme = _KDF_SCHEMES.get(key.curve.name)
    if scheme is None:
        raise UnsupportedError(f"S/MIME to an EC key on {key.curve.name} is not supported")
    oid, digest = scheme
    ephemeral = ec.generate_private_key(key.curve)
    shared = ephemeral.exchange(ec.ECDH(), key)
    wrap = cms.KeyEncryptionAlgorithm({"algorithm": "aes256_wrap"})
    info = EccCmsSharedInfo({"key_info": wrap, "supp_pub_info": (256).to_bytes(4, "big")})
    kek = X963KDF(algorithm=digest, length=32, sharedinfo=info.dump()).derive(shared)
    point = ephemeral.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    originator = asn1_keys.PublicKeyInfo(
        {
            "algorithm": {
                "algorithm": "ec",
                "parameters": asn1_keys.ECDomainParameters(name="named", value=key.curve.name),
            },
            "public_key": point,
        }
    )
    return cms.RecipientInfo(
        name="kari",
        value=cms.KeyAgreeRecipientInfo(
            {
                "version": "v3",
                "originator": cms.OriginatorIdentifierOrKey(
                    name="originator_key", value=originator
                ),
                "key_encryption_algorithm": {"algorithm": oid, "parameters": wrap},
                "recipient_encrypted_keys": [
                    {
                        "rid": cms.KeyAgreementRecipientIdentifier(
                            name="issuer_and_serial_number", value=_issuer_and_serial(cert)
                        ),
                        "encrypted_key": aes_key_wrap(kek, cek),
                    }
                ],
            }
        ),
    )


def recipient_info(cert: x509.Certificate, cek: bytes, *, oaep: bool = False) -> cms.RecipientInfo:
    """The RecipientInfo for one certificate: key transport (RSA) or agreement (EC)."""
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        return _ktri(cert, key, cek, oaep=oaep)
    if isinstance(key, ec.EllipticCurvePublicKey):
        return _kari(cert, key, cek)
    raise UnsupportedError("S/MIME encryption supports RSA and EC certificates only")


def _header(tag: int, length: int) -> bytes:
    """A DER identifier and definite length (X.690 8.1.3)."""
    if length < 0x80:
        return bytes([tag, length])
    size = (length.bit_length() + 7) // 8
    return bytes([tag, 0x80 | size]) + length.to_bytes(size, "big")


@dataclass(frozen=True)
class _Plan:
    mode: str
    key: bytes
    iv: bytes
    prefix: bytes  # everything before the first ciphertext byte
    suffix_len: int  # the MAC after the content (GCM)
    cipher_len: int


def _plan(length: int, certs: list[x509.Certificate], mode: str, oaep: bool) -> _Plan:
    key = os.urandom(32)
    iv = os.urandom(16 if mode == CBC else 12)
    infos = cms.RecipientInfos([recipient_info(c, key, oaep=oaep) for c in certs]).dump()
    if mode == CBC:
        alg = algos.EncryptionAlgorithm({"algorithm": "aes256_cbc", "parameters": iv}).dump()
        cipher_len = (length // 16 + 1) * 16
        agree = any(isinstance(c.public_key(), ec.EllipticCurvePublicKey) for c in certs)
        version = core.Integer(2 if agree else 0).dump()  # RFC 5652 6.1: kari is version 3
        outer_oid, suffix_len = ENVELOPED_DATA, 0
    elif mode == GCM:
        params = GcmParameters({"aes_nonce": iv, "aes_icvlen": TAG_LENGTH})
        alg = _algid(AES256_GCM, params.dump())
        cipher_len = length
        version = core.Integer(0).dump()  # RFC 5083 2.1: always 0
        outer_oid, suffix_len = AUTH_ENVELOPED_DATA, len(_header(0x04, TAG_LENGTH)) + TAG_LENGTH
    else:
        raise UnsupportedError(f"unknown S/MIME content encryption {mode!r}")
    eci_prefix = core.ObjectIdentifier("1.2.840.113549.1.7.1").dump() + alg
    content_header = _header(0x80, cipher_len)  # [0] IMPLICIT OCTET STRING, primitive
    eci_len = len(eci_prefix) + len(content_header) + cipher_len
    eci_header = _header(0x30, eci_len)
    body_len = len(version) + len(infos) + len(eci_header) + eci_len + suffix_len
    body_header = _header(0x30, body_len)
    explicit = _header(0xA0, len(body_header) + body_len)
    oid = core.ObjectIdentifier(outer_oid).dump()
    ci_header = _header(0x30, len(oid) + len(explicit) + len(body_header) + body_len)
    prefix = (
        ci_header
        + oid
        + explicit
        + body_header
        + version
        + infos
        + eci_header
        + eci_prefix
        + content_header
    )
    return _Plan(mode, key, iv, prefix, suffix_len, cipher_len)


def _algid(oid: str, params_der: bytes) -> bytes:
    inner: bytes = core.ObjectIdentifier(oid).dump() + params_der
    return _header(0x30, len(inner)) + inner


SLICE = 1 << 20


def slices(chunks: Iterable[bytes], size: int = SLICE) -> Iterator[memoryview]:
    """The chunks cut into pieces of at most ``size`` bytes, without copying them."""
    for chunk in chunks:
        view = memoryview(chunk)
        for i in range(0, len(view), size):
            yield view[i : i + size]


def encrypt_stream(
    chunks: Iterable[bytes],
    length: int,
    certs: list[x509.Certificate],
    mode: str = CBC,
    *,
    oaep: bool = False,
) -> Iterator[bytes]:
    """The DER of a ContentInfo with the content encrypted to ``certs``, piece by piece.

    ``oaep``: RSA recipients get the content key under RSAES-OAEP instead of PKCS#1 v1.5.

    ``length`` must be the exact number of content bytes ``chunks`` yields; anything else is
    a bug and raises InternalError (the DER lengths were written for that size).
    """
    if not certs:
        raise InternalError("no S/MIME recipients to encrypt to")
    plan = _plan(length, certs, mode, oaep)
    yield plan.prefix
    seen = 0
    if mode == CBC:
        enc = Cipher(algorithms.AES(plan.key), modes.CBC(plan.iv)).encryptor()
        pad = padding.PKCS7(128).padder()
        for piece in slices(chunks):
            seen += len(piece)
            yield enc.update(pad.update(piece))
        yield enc.update(pad.finalize()) + enc.finalize()
    else:
        gcm = Cipher(algorithms.AES(plan.key), modes.GCM(plan.iv)).encryptor()
        for piece in slices(chunks):
            seen += len(piece)
            yield gcm.update(piece)
        gcm.finalize()
        yield _header(0x04, TAG_LENGTH) + gcm.tag
    if seen != length:
        raise InternalError(f"S/MIME content was {seen} bytes, {length} announced")
