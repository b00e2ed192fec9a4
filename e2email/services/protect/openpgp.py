"""PGP/MIME copies (RFC 3156): encrypted (and signed in one pass), or signed only.

The payload streams from its segments into gpg, and gpg's binary output is armored as it
comes into the copy's spool: a large attachment is never whole in memory.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from e2email.core import compose, mime, pgpmime
from e2email.core.base64text import Armor
from e2email.errors import InternalError, NoUsableKeyError
from e2email.model import Decision
from e2email.services.protect.job import boundary
from e2email.services.protect.payload import Assembly, chunks, reader, size

if TYPE_CHECKING:
    from e2email.adapters.spool import Spool
    from e2email.services.protect.job import Job


OWN_ARMOR_FROM = 1 << 20  # smaller payloads: gpg armors (no ctypes, no libgcrypt to load)


def _recipients(job: Job, decisions: tuple[Decision, ...]) -> tuple[list[str], list[bytes]]:
    """Fingerprints in the user's keyring, and key material found by discovery."""
    fprs: list[str] = []
    material: list[bytes] = []
    for d in decisions:
        if d.key is None:
            raise NoUsableKeyError(f"{d.recipient.address}: no OpenPGP key in the plan")
        fprs.append(d.key.fingerprint)
        if d.key.material is not None:
            material.append(d.key.material)
    fprs += job.self_keys
    return list(dict.fromkeys(fprs)), material


def encrypted_copy(job: Job, decisions: tuple[Decision, ...]) -> Spool:
    """multipart/encrypted (RFC 3156 4), signed inside when ``openpgp.sign`` (RFC 3156 6.2)."""
    fprs, material = _recipients(job, decisions)
    signer = job.openpgp_signer if job.out.mua is None else None
    b = boundary()
    outer = [
        *job.outer_fields(),
        ("MIME-Version", "1.0"),
        ("Content-Type", pgpmime.encrypted_content_type(b)),
    ]
    framing = pgpmime.encrypted_framing(compose.render_headers(outer), b)
    segments = mime.render(job.encrypted_payload(), utf8=job.out.utf8)
    out = job.assembly()
    out.add(framing.head)
    armor = _armor() if size(segments, job.files) >= OWN_ARMOR_FROM else None
    write = _writer(out, armor)
    job.rt.gpg.encrypt_stream(
        reader(segments, job.files),
        fprs,
        write,
        sign_with=signer,
        extra_keys=material,
        armor=armor is None,
    )
    if armor is not None:
        out.add_lines(armor.finish())
    out.add(framing.tail)
    return out.finish()


def _armor() -> Armor | None:
    """Our own armoring (with libgcrypt's CRC-24), or None to let gpg armor (slower)."""
    from e2email.adapters.openpgp import crc24  # ctypes: only for large payloads

    checksum = crc24.new()
    return Armor(checksum) if checksum is not None else None


def _writer(out: Assembly, armor: Armor | None) -> Callable[[bytes], None]:
    """Where gpg's output goes: armored here as it comes, or gpg's armor with CRLF ends."""
    if armor is None:
        return lambda text: out.add(text.replace(b"\n", b"\r\n"))
    return lambda packets: out.add_lines(armor.feed(packets))


def signed_copy(job: Job) -> Spool:
    """multipart/signed with a detached OpenPGP signature (RFC 3156 5)."""
    signer = job.openpgp_signer
    if signer is None:
        raise InternalError("a signed copy was asked for without a signing key")
    segments = mime.render(job.signed_payload(), utf8=job.out.utf8)
    signature = job.rt.gpg.sign_detached_stream(reader(segments, job.files), signer)
    b = boundary()
    fields = [
        *job.signed_outer_fields(),
        ("MIME-Version", "1.0"),
        ("Content-Type", pgpmime.signed_content_type(b)),
    ]
    framing = pgpmime.signed_framing(b)
    out = job.assembly()
    out.add(compose.render_headers(fields))
    out.add(framing.head)
    out.add_all(chunks(segments, job.files))
    out.add(framing.middle)
    out.add(pgpmime.signature_part(signature))
    out.add(framing.tail)
    return out.finish()
