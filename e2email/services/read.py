"""Reading a protected message: decrypt, verify, restore protected headers, record the verdict.

``open_protected(rt, raw)`` turns one PGP/MIME, inline-PGP or S/MIME message into the readable
message a user would want in a folder: the decrypted body (signature layers kept, so a mail
client can verify them again), the header section the sender protected (RFC 9788), the
original's Message-ID, and two fields of e2email's own: ``E2email-Decrypted`` (protocol, the
original's SHA-256, the header-protection scheme) and ``E2email-Signature`` (the verdict).

Nothing is returned and nothing is written when integrity fails (security.md item 3): the
engines raise ``IntegrityError`` without plaintext, and an S/MIME CBC message (which has no
integrity of its own) whose inner signature is bad is refused the same way. Ciphertext that is
not the message root is never decrypted (item 11, see ``core.reader``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.utils import getaddresses
from typing import Protocol

from e2email.adapters.cms.reader import SmimeReader, load_anchors
from e2email.adapters.openpgp.gpg import NO_SIGNATURE, Decrypted, Signature
from e2email.adapters.openpgp.stream import GpgStream
from e2email.core import protected, reader
from e2email.core.rawmime import Entity, crlf, split_entity
from e2email.errors import IntegrityError, MessageError
from e2email.services.runtime import Runtime


class OpenPGP(Protocol):
    """What reading needs from an OpenPGP engine (``GpgStream`` is one)."""

    def decrypt(self, data: bytes) -> Decrypted:
        """Decrypt with integrity enforced."""
        ...

    def verify_detached(self, data: bytes, signature: bytes) -> Signature:
        """Verify a detached signature."""
        ...


@dataclass(frozen=True)
class Opened:
    """A decrypted message, ready to store, and what was learnt on the way."""

    kind: reader.Kind
    message: bytes
    signature: Signature
    protocol: str
    scheme: str | None
    original_sha256: str
    message_id: str | None
    notes: tuple[str, ...] = ()


def smime_reader(rt: Runtime) -> SmimeReader:
    """The S/MIME reader from ``[smime]``: own key and certificate, signature anchors."""
    from e2email.services.protect.identity import identity

    return SmimeReader(identity(rt), load_anchors(rt.settings.smime.trust_anchors))


def open_protected(rt: Runtime, raw: bytes) -> Opened:
    """Decrypt one message with the user's gpg home and S/MIME identity."""
    env = reader.classify(raw)
    o = rt.settings.openpgp
    with GpgStream(o.gnupghome, o.gpg_binary) as gpg:
        smime = smime_reader(rt) if env.kind is reader.Kind.SMIME else SmimeReader(None, [])
        return open_envelope(env, raw, gpg, smime)


def open_envelope(env: reader.Envelope, raw: bytes, openpgp: OpenPGP, smime: SmimeReader) -> Opened:
    """The readable message for an already classified ``raw`` message."""
    if not env.encrypted:
        raise MessageError(f"not decrypted: {env.note or 'not an encrypted message'}")
    if env.kind is reader.Kind.SMIME:
        content, authenticated = smime.decrypt(env.ciphertext)
        signature, protocol = NO_SIGNATURE, "smime"
    else:
        decrypted = openpgp.decrypt(env.ciphertext)
        content, authenticated = decrypted.data, True
        signature, protocol = decrypted.signature, "openpgp"
    inner = reader.inner_entity(env, content)
    payload, body = inner, inner
    layer = reader.signed_layer(inner)
    if layer is not None:
        payload, body, signature = _verify_layer(layer, inner, env, openpgp, smime)
        protocol = layer.protocol
        if not authenticated and signature.status == "bad":
            raise IntegrityError(
                "S/MIME message whose inner signature does not match: the CBC ciphertext may "
                "have been modified; no plaintext released"
            )
    restored = protected.restore(env.outer, payload)
    if restored.scheme == "rfc9788" and body is payload:
        body = protected.strip_legacy_display(body)
    sha = reader.original_sha256(raw)
    verdict = verdict_text(signature, protocol, authenticated, restored.notes)
    own = reader.provenance(env, sha, restored.scheme, verdict)
    return Opened(
        kind=env.kind,
        message=protected.assemble(own, restored.fields, body),
        signature=signature,
        protocol=protocol,
        scheme=restored.scheme,
        original_sha256=sha,
        message_id=env.message_id,
        notes=restored.notes,
    )


def _verify_layer(
    layer: reader.SignedLayer,
    inner: Entity,
    env: reader.Envelope,
    openpgp: OpenPGP,
    smime: SmimeReader,
) -> tuple[Entity, Entity, Signature]:
    """(payload, body, verdict) for a signature layer inside the encryption."""
    senders = _senders(env.outer)
    if layer.protocol == "openpgp":
        return (
            split_entity(layer.signed),
            inner,
            openpgp.verify_detached(layer.signed, layer.signature),
        )
    if layer.opaque:
        content, signature = smime.verify_opaque(layer.signature, senders)
        entity = split_entity(crlf(content))
        return entity, entity, signature
    signature = smime.verify_detached(layer.signed, layer.signature, senders)
    return split_entity(layer.signed), inner, signature


def _senders(outer: Entity) -> set[str]:
    f = outer.get("From")
    return {addr for _, addr in getaddresses([f.value])} if f else set()


def verdict_text(
    signature: Signature, protocol: str, authenticated: bool, notes: tuple[str, ...]
) -> str:
    """The ``E2email-Signature`` value: the status token, then what backs it."""
    parts = [signature.status, f"protocol={protocol}"]
    if signature.fingerprint:
        parts.append(f"key={signature.fingerprint}")
    if signature.user_id:
        parts.append(f'signer="{_quoted(signature.user_id)}"')
    if not authenticated and not signature.good:
        parts.append("integrity=none")
    parts += list(notes)
    return "; ".join(parts)


def _quoted(text: str) -> str:
    cleaned = re.sub(r"[\x00-\x1f\x7f]", "", text)
    return cleaned.replace("\\", "\\\\").replace('"', '\\"')[:200]
