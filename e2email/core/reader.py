"""Reading protected messages, the pure half: what a message is, where its ciphertext is, and
the readable message rebuilt once the crypto engines have done their part.

Only an encrypted ROOT is decrypted (security.md item 11): ``multipart/encrypted`` (RFC 3156 4),
``application/pkcs7-mime`` enveloped data (RFC 8551 3.3), or a ``text/plain`` root that is one
inline PGP block and nothing else. Ciphertext found anywhere else -- an encrypted part inside a
``multipart/mixed`` next to attacker HTML, a PGP block inside HTML or inside other text -- is
never decrypted: splicing its plaintext into the surrounding markup is EFAIL's direct
exfiltration (Poddebniak et al., USENIX Security 2018).
"""

from __future__ import annotations

import base64
import binascii
import email
import email.policy
import enum
import hashlib
import quopri
import re
from dataclasses import dataclass

from e2email.core.rawmime import CRLF, Entity, Field, crlf, field, split_entity, split_multipart
from e2email.errors import MessageError

DECRYPTED_HEADER = "E2email-Decrypted"
SIGNATURE_HEADER = "E2email-Signature"
OWN_PREFIX = "e2email-"

BEGIN = b"-----BEGIN PGP MESSAGE-----"
END = b"-----END PGP MESSAGE-----"
PKCS7_TYPES = ("application/pkcs7-mime", "application/x-pkcs7-mime")
PKCS7_SIG_TYPES = ("application/pkcs7-signature", "application/x-pkcs7-signature")
ENVELOPED = ("enveloped-data", "authenveloped-data")


class Kind(enum.StrEnum):
    """What :func:`classify` found at the root of a message."""

    PGP_MIME = "pgp-mime"
    INLINE_PGP = "inline-pgp"
    SMIME = "smime"
    PLAINTEXT = "plaintext"
    NESTED = "nested"


@dataclass(frozen=True)
class Envelope:
    """A classified message: its outer entity and, when the root is encrypted, the ciphertext."""

    kind: Kind
    outer: Entity
    ciphertext: bytes = b""
    charset: str = "utf-8"
    note: str | None = None

    @property
    def encrypted(self) -> bool:
        """True when the root is something this module lets a crypto engine decrypt."""
        return self.kind in (Kind.PGP_MIME, Kind.INLINE_PGP, Kind.SMIME)

    @property
    def message_id(self) -> str | None:
        """The outer Message-ID, if any."""
        f = self.outer.get("Message-ID")
        return f.value if f else None


def classify(raw: bytes) -> Envelope:
    """Classify a whole message by its root (RFC 3156 4, RFC 8551 3.3, RFC 4880 6.2)."""
    outer = split_entity(crlf(raw))
    ct = outer.content_type
    if ct.type == "multipart/encrypted":
        return _pgp_mime(outer)
    if _is_pkcs7(outer):
        smime_type = (ct.param("smime-type") or "enveloped-data").lower()
        if smime_type in ENVELOPED:
            return Envelope(Kind.SMIME, outer, decode_body(outer))
        return Envelope(Kind.PLAINTEXT, outer, note=f"S/MIME {smime_type}, not encrypted")
    if ct.type == "text/plain":
        inline = _inline(outer)
        if inline is not None:
            return inline
    nested = _nested(crlf(raw))
    if nested is not None:
        return Envelope(Kind.NESTED, outer, note=nested)
    return Envelope(Kind.PLAINTEXT, outer, note="not encrypted")


def _is_pkcs7(entity: Entity) -> bool:
    ct = entity.content_type
    if ct.type in PKCS7_TYPES:
        return True
    name = (ct.param("name") or "").lower()
    return ct.type == "application/octet-stream" and name.endswith(".p7m")


def _pgp_mime(outer: Entity) -> Envelope:
    """RFC 3156 4: exactly two parts, the version part and the octet-stream ciphertext."""
    ct = outer.content_type
    if (ct.param("protocol") or "").lower() != "application/pgp-encrypted":
        raise MessageError(f"multipart/encrypted with protocol {ct.param('protocol')!r}")
    parts = split_multipart(outer.body, ct.param("boundary") or "").parts
    if len(parts) != 2:
        raise MessageError(f"PGP/MIME message with {len(parts)} parts instead of 2 (RFC 3156 4)")
    version, payload = split_entity(parts[0]), split_entity(parts[1])
    if version.content_type.type != "application/pgp-encrypted":
        raise MessageError("PGP/MIME first part is not application/pgp-encrypted")
    if payload.content_type.type != "application/octet-stream":
        raise MessageError("PGP/MIME second part is not application/octet-stream")
    return Envelope(Kind.PGP_MIME, outer, decode_body(payload))


def _inline(outer: Entity) -> Envelope | None:
    """A text/plain root that is exactly one armored OpenPGP message (whitespace around it)."""
    text = decode_body(outer)
    start, end = text.find(BEGIN), text.find(END)
    if start < 0:
        return None
    charset = outer.content_type.param("charset") or "utf-8"
    if end < start or text.find(BEGIN, start + 1) >= 0:
        return Envelope(Kind.NESTED, outer, note="more than one inline PGP block")
    block = text[start : end + len(END)]
    if text[:start].strip() or text[end + len(END) :].strip():
        return Envelope(Kind.NESTED, outer, note="text outside the inline PGP block")
    return Envelope(Kind.INLINE_PGP, outer, block + b"\n", charset=charset)


def _nested(data: bytes) -> str | None:
    """Why ciphertext below the root makes this message one we refuse, or None."""
    msg = email.message_from_bytes(data, policy=email.policy.compat32)
    for index, part in enumerate(msg.walk()):
        ctype = part.get_content_type()
        if index and ctype == "multipart/encrypted":
            return "a PGP/MIME part that is not the message root (EFAIL)"
        if ctype in PKCS7_TYPES and index:
            kind = str(part.get_param("smime-type") or "enveloped-data").lower()
            if kind in ENVELOPED:
                return "an S/MIME encrypted part that is not the message root (EFAIL)"
        if part.is_multipart():
            continue
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes) and BEGIN in payload:
            where = "inside HTML" if ctype == "text/html" else f"inside a {ctype} part"
            return f"an OpenPGP message {where} that is not the message root (EFAIL)"
    return None


def decode_body(entity: Entity) -> bytes:
    """The body with its Content-Transfer-Encoding undone (RFC 2045 6)."""
    cte = entity.get("Content-Transfer-Encoding")
    encoding = cte.value.lower() if cte else "7bit"
    if encoding == "base64":
        try:
            return base64.b64decode(re.sub(rb"[^A-Za-z0-9+/=]", b"", entity.body))
        except binascii.Error as e:
            raise MessageError(f"invalid base64 body: {e}") from None
    if encoding == "quoted-printable":
        return quopri.decodestring(entity.body)
    return entity.body


def original_sha256(raw: bytes) -> str:
    """The SHA-256 of the original message as stored: the key of idempotent folder runs."""
    return hashlib.sha256(raw).hexdigest()


def inner_entity(env: Envelope, plaintext: bytes) -> Entity:
    """The decrypted MIME entity; inline PGP plaintext becomes a text/plain entity."""
    if env.kind is Kind.INLINE_PGP:
        return text_entity(crlf(plaintext), env.charset)
    entity = split_entity(crlf(plaintext))
    if not entity.fields:  # some clients encrypt a bare body: label it instead of guessing
        return text_entity(entity.body, "utf-8")
    return entity


def text_entity(text: bytes, charset: str) -> Entity:
    """A text/plain entity for ``text`` (CRLF), 7bit/8bit when lines allow, else base64."""
    long_lines = any(len(line) > 998 for line in text.split(CRLF))
    if long_lines or b"\0" in text:
        cte, body = "base64", base64.encodebytes(text).replace(b"\n", CRLF)
    else:
        cte, body = ("7bit" if text.isascii() else "8bit"), text
    safe = re.sub(r"[^A-Za-z0-9_.:-]", "", charset) or "utf-8"
    fields = (
        field("Content-Type", f'text/plain; charset="{safe}"'),
        field("Content-Transfer-Encoding", cte),
    )
    return Entity(fields, body)


@dataclass(frozen=True)
class SignedLayer:
    """A signature layer inside the encryption (RFC 3156 6.1, RFC 8551 3.5 / 3.4)."""

    protocol: str
    signed: bytes
    signature: bytes
    opaque: bool = False


def signed_layer(inner: Entity) -> SignedLayer | None:
    """The signature layer right under the encryption, if the decrypted entity is one."""
    ct = inner.content_type
    if ct.type == "multipart/signed":
        protocol = (ct.param("protocol") or "").lower()
        parts = split_multipart(inner.body, ct.param("boundary") or "").parts
        if len(parts) != 2:
            raise MessageError(f"multipart/signed with {len(parts)} parts instead of 2")
        signature = decode_body(split_entity(parts[1]))
        if protocol == "application/pgp-signature":
            return SignedLayer("openpgp", parts[0], signature)
        if protocol in PKCS7_SIG_TYPES:
            return SignedLayer("smime", parts[0], signature)
        raise MessageError(f"multipart/signed with unknown protocol {protocol!r}")
    if _is_pkcs7(inner) and (ct.param("smime-type") or "").lower() == "signed-data":
        return SignedLayer("smime", b"", decode_body(inner), opaque=True)
    return None


def own_header(name: str) -> bool:
    """e2email's own fields: stripped from input so nobody can forge a verdict through us."""
    return name.lower().startswith(OWN_PREFIX)


def provenance(env: Envelope, sha256: str, scheme: str | None, verdict: str) -> tuple[Field, Field]:
    """The two fields a decrypted copy carries: where it came from, and the signature verdict."""
    parts = [f"protocol={env.kind.value}", f"original=sha256:{sha256}"]
    if scheme:
        parts.append(f"protected-headers={scheme}")
    return field(DECRYPTED_HEADER, "; ".join(parts)), field(SIGNATURE_HEADER, verdict)


_ORIGINAL = re.compile(r"original=sha256:([0-9a-f]{64})")


def original_of(value: str) -> str | None:
    """The original's SHA-256 recorded in an E2email-Decrypted value, if any."""
    m = _ORIGINAL.search(value)
    return m.group(1) if m else None
