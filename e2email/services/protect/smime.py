"""S/MIME copies (RFC 8551): enveloped (optionally signed first), or signed only.

Every recipient certificate is validated again right before encrypting to it (security.md
item 6: anchors, validity, EKU, keyUsage, SAN), because the envelope builder would encrypt to
a signing-only or expired certificate without a word.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from cryptography import x509

from e2email.adapters.cms import envelope as cms_envelope
from e2email.adapters.cms import writer
from e2email.adapters.cms.identity import Identity, check_encryptable, is_rsa, load_certificates
from e2email.core import compose, mime, smime, x509check
from e2email.core.base64text import Lines
from e2email.errors import (
    ConfigError,
    InternalError,
    NoUsableKeyError,
    UnsupportedError,
)
from e2email.model import Decision
from e2email.services.protect.job import boundary
from e2email.services.protect.payload import chunks, size, to_bytes
from e2email.services.runtime import Runtime

if TYPE_CHECKING:
    from e2email.adapters.spool import Spool
    from e2email.services.protect.job import Job

log = logging.getLogger("e2email.smime")


def _anchors(rt: Runtime) -> list[x509.Certificate]:
    path = rt.settings.smime.trust_anchors
    if path is None:
        return []
    try:
        return x509check.load_pem_bundle(path.read_bytes())
    except (OSError, ValueError) as e:
        raise ConfigError(f"smime.trust_anchors: cannot read {path}: {e}") from None


_CERT_SUFFIXES = (".pem", ".crt", ".cer", ".der")


def _local_intermediates(rt: Runtime) -> list[x509.Certificate]:
    """CA certificates in ``smime.certificates_dir``, for paths through an intermediate.

    Discovery hands over the end-entity certificate alone; the intermediates it used are
    files next to it.
    """
    directory = rt.settings.smime.certificates_dir
    if directory is None or not directory.is_dir():
        return []
    found = []
    for path in sorted(directory.iterdir()):
        if path.suffix.lower() not in _CERT_SUFFIXES:
            continue
        try:
            certs = load_certificates(path.read_bytes(), str(path))
        except (OSError, ConfigError):
            continue
        found += [c for c in certs if _is_ca(c)]
    return found


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def recipient_certificates(
    job: Job, decisions: tuple[Decision, ...]
) -> list[tuple[str, x509.Certificate]]:
    """Each recipient's certificate, validated (security.md item 6) and of a usable key type."""
    anchors = _anchors(job.rt)
    local = _local_intermediates(job.rt)
    out = []
    for d in decisions:
        name = str(d.recipient.address)
        if d.key is None or d.key.material is None:
            raise NoUsableKeyError(f"{name}: the plan has no S/MIME certificate to encrypt to")
        certs = load_certificates(d.key.material, f"certificate of {name}")
        cert = certs[0]
        if x509check.fingerprint(cert) != d.key.fingerprint.lower():
            raise NoUsableKeyError(f"{name}: certificate does not match the planned fingerprint")
        problems = x509check.check_recipient(
            cert,
            d.recipient.address,
            anchors=anchors,
            intermediates=[*certs[1:], *local],
            now=job.now,
        )
        if problems:
            raise NoUsableKeyError(f"{name}: certificate refused ({', '.join(problems)})")
        check_encryptable(cert, name)
        out.append((name, cert))
    return out


def _self(job: Job) -> list[tuple[str, x509.Certificate]]:
    me = job.identity
    if me is None or not job.rt.settings.smime.encrypt_to_self:
        return []
    try:
        check_encryptable(me.certificate, str(job.sender))
    except UnsupportedError:
        log.info("own S/MIME certificate cannot be encrypted to; no copy for the sender")
        return []
    return [(str(job.sender), me.certificate)]


BUILDER_LIMIT = 8 << 20  # above this, stream: the builder holds ~4 copies of the message


def b64_chunks(der: bytes) -> Iterator[bytes]:
    """Base64 of DER in 76-character CRLF lines, produced chunk by chunk (RFC 8551 3.1.2)."""
    return b64_stream([der])


def b64_stream(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Base64 of a byte stream in 76-character CRLF lines (RFC 2045 6.8), slice by slice."""
    lines = Lines()
    for piece in cms_envelope.slices(chunks, 57 * 16 * 1024):
        yield lines.feed(piece)
    yield lines.finish()


def _signed_pieces(content: bytes, me: Identity) -> list[bytes]:
    """multipart/signed around ``content`` as an entity of its own (RFC 8551 3.5.3)."""
    signature = writer.sign_detached(content, me)
    b = boundary()
    framing = smime.signed_framing(b)
    head = smime.literal_fields([("Content-Type", smime.signed_content_type(b))]) + b"\r\n"
    return [
        head + framing.head,
        content,
        framing.middle + smime.base64_body(signature) + framing.tail,
    ]


def _content(job: Job) -> tuple[list[bytes] | Iterator[bytes], int]:
    """What gets encrypted, as pieces, and its exact length (signed first when configured)."""
    segments = mime.render(job.encrypted_payload(), utf8=job.out.utf8)
    me = job.identity
    if me is not None and job.rt.settings.smime.sign and job.out.mua is None:
        pieces = _signed_pieces(to_bytes(segments, job.files), me)
        return pieces, sum(len(p) for p in pieces)
    return chunks(segments, job.files), size(segments, job.files)


def encrypted_copy(job: Job, decisions: tuple[Decision, ...]) -> Spool:
    """application/pkcs7-mime (RFC 8551 3.3; RFC 5083 for GCM), signed inside when configured."""
    certs = recipient_certificates(job, decisions) + _self(job)
    mode, oaep = job.rt.settings.smime.encryption, job.rt.settings.smime.rsa_oaep
    pieces, length = _content(job)
    smime_type = smime.AUTH_ENVELOPED if mode == cms_envelope.GCM else smime.ENVELOPED
    outer = [*job.outer_fields(), ("MIME-Version", "1.0")]
    out = job.assembly()
    out.add(compose.render_headers(outer)[:-2])
    out.add(smime.literal_fields(smime.enveloped_fields(smime_type)) + b"\r\n")
    if (
        mode == cms_envelope.CBC
        and not oaep  # cryptography's builder writes PKCS#1 v1.5 only
        and length <= BUILDER_LIMIT
        and all(is_rsa(c) for _, c in certs)
    ):
        der = writer.envelope(b"".join(pieces), certs)
        out.add_all(b64_chunks(der))
    else:
        der_stream = cms_envelope.encrypt_stream(
            pieces, length, [c for _, c in certs], mode, oaep=oaep
        )
        for text in b64_stream(der_stream):
            out.add_lines(text)
    return out.finish()


def signed_copy(job: Job) -> Spool:
    """multipart/signed with an S/MIME detached signature (RFC 8551 3.5.3)."""
    me = job.identity
    if me is None:
        raise InternalError("a signed S/MIME copy was asked for without an identity")
    segments = mime.render(job.signed_payload(), utf8=job.out.utf8)
    content = to_bytes(segments, job.files)
    signature = writer.sign_detached(content, me)
    b = boundary()
    fields = [*job.signed_outer_fields(), ("MIME-Version", "1.0")]
    framing = smime.signed_framing(b)
    out = job.assembly()
    out.add(compose.render_headers(fields)[:-2])
    out.add(smime.literal_fields([("Content-Type", smime.signed_content_type(b))]) + b"\r\n")
    out.add(framing.head)
    out.add(content)
    del content
    out.add(framing.middle)
    out.add(smime.base64_body(signature))
    out.add(framing.tail)
    return out.finish()
