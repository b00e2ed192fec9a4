"""What every discovery method returns, and the validation of what it found before use.

Each method (``local``, ``wkd``, ``dane``, ``ldap``) returns an ``Outcome`` for one address:
usable keys (validated, with their material when they are not in the user's keyring),
rejections with a reason, and whether the answer is *definitive* (a clean "nothing here" may
be cached; a TLS error or a timeout may not). OpenPGP keys are cut down to the address here
and judged by gpg in one batch (``settle``); S/MIME certificates per security.md item 6.
``discover`` runs the methods concurrently and decides.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from e2email.adapters.dns import Resolver
from e2email.adapters.openpgp import inspect as pgpinspect
from e2email.config import Settings
from e2email.core import pgpkeys
from e2email.model import Address, Key, Protocol, Rejection

if TYPE_CHECKING:
    from cryptography import x509


@dataclass(frozen=True)
class Candidate:
    """An OpenPGP key already cut down to the address, waiting for gpg's judgement.

    ``hold``: a reason a key gpg finds valid is still not used (an HKPS server's user IDs
    are unverified, security.md item 14): it is shown as a rejection with that reason.
    """

    source: str
    block: pgpkeys.KeyBlock
    hold: str | None = None


@dataclass(frozen=True)
class Outcome:
    """What one method found for one address."""

    keys: tuple[Key, ...] = ()
    rejected: tuple[Rejection, ...] = ()
    definitive: bool = True
    where: str = ""
    notes: tuple[str, ...] = field(default=())
    candidates: tuple[Candidate, ...] = ()


Task = tuple[str, Callable[[float], Outcome]]  # a method's name, and its lookup given a timeout


def failed(source: str, reason: str, where: str = "") -> Outcome:
    """A method that could not give an answer (never cached)."""
    return Outcome((), (Rejection(source, reason),), definitive=False, where=where)


def nothing(source: str, where: str = "") -> Outcome:
    """A clean "no key here"."""
    return Outcome((), (Rejection(source, "not-found"),), definitive=True, where=where)


# -- OpenPGP keys from the network -----------------------------------------------------------


@dataclass(frozen=True)
class Context:
    """What every method needs: settings, resolver, TLS context, clock, S/MIME anchors."""

    settings: Settings
    resolver: Resolver
    tls_context: ssl.SSLContext
    now: datetime

    @cached_property
    def anchors(self) -> tuple[x509.Certificate, ...]:
        """``smime.trust_anchors``, loaded on first use (cryptography is slow to import)."""
        return load_anchors(self.settings.smime.trust_anchors)


def judge_openpgp(
    data: bytes, address: Address, source: str, ctx: Context, *, hold: str | None = None
) -> Outcome:
    """Filter to ``address``'s user IDs (security.md 5); gpg judges later, in one batch."""
    del ctx
    try:
        blocks, dropped = pgpkeys.filter_for(data, pgpkeys.address_filter(address))
    except pgpkeys.PacketError:
        return Outcome((), (Rejection(source, "malformed"),))
    rejected = tuple(Rejection(source, reason) for reason in dropped)
    return Outcome((), rejected, candidates=tuple(Candidate(source, b, hold) for b in blocks))


def settle(outcomes: Sequence[tuple[Address, Outcome]], ctx: Context) -> list[Outcome]:
    """Judge every OpenPGP candidate of a run with ONE scratch gpg (security.md item 12).

    One import, one listing, one export for the whole message instead of three gpg processes
    per key: with 20 recipients that is the difference between 3 and 60 processes.
    """
    blocks = [c.block for _, o in outcomes for c in o.candidates]
    if not blocks:
        return [o for _, o in outcomes]
    data = b"".join(b.to_bytes() for b in blocks)
    binary = ctx.settings.openpgp.gpg_binary
    judged = {i.key.fingerprint: i for i in pgpinspect.inspect(data, gpg_binary=binary)}
    return [_settled(address, o, judged, ctx.now) for address, o in outcomes]


def _settled(
    address: Address, o: Outcome, judged: dict[str, pgpinspect.Inspected], now: datetime
) -> Outcome:
    keys = list(o.keys)
    rejected = list(o.rejected)
    for c in o.candidates:
        fpr = c.block.fingerprint
        item = judged.get(fpr)
        problem = "invalid" if item is None else item.problem(address)
        if item is None or problem is not None or c.hold is not None:
            rejected.append(Rejection(c.source, problem or c.hold or "invalid", fpr))
        else:
            keys.append(_openpgp_key(item, address, c.source, now))
    return Outcome(tuple(keys), tuple(rejected), o.definitive, o.where, o.notes)


def _openpgp_key(item: pgpinspect.Inspected, address: Address, source: str, now: datetime) -> Key:
    """The key as gpg kept it, cut down again to ``address``'s user IDs (a batch merges keys)."""
    k = item.key
    mine = pgpkeys.address_filter(address)
    blocks, _ = pgpkeys.filter_for(item.material, mine)
    material = b"".join(b.to_bytes() for b in blocks)
    uids = tuple(u for u in k.user_ids if mine(u))
    return Key(Protocol.OPENPGP, k.fingerprint, source, uids, k.expires, now, material=material)


# -- S/MIME certificates ---------------------------------------------------------------------


def judge_certificates(
    blobs: Sequence[bytes], address: Address, source: str, ctx: Context
) -> Outcome:
    """Certificates (DER, PEM or PKCS #7 bundles) for ``address``, checked per security.md 6.

    The other certificates of the same answer (an LDAP entry's other values, a bundle, a
    folder) serve as intermediates; those on the validated path are kept with the key, so
    the check before encrypting (``protect.smime``) builds the same path.
    """
    from e2email.core import x509check

    certs = [c for blob in blobs for c in _load_certificates(blob)]
    ends = [c for c in certs if x509check.san_matches(c, address)]
    others = [c for c in certs if c not in ends]
    keys: list[Key] = []
    rejected: list[Rejection] = []
    for cert in ends:
        fpr = x509check.fingerprint(cert)
        problems = x509check.check_recipient(
            cert, address, anchors=ctx.anchors, intermediates=others, now=ctx.now
        )
        if problems:
            rejected.append(Rejection(source, problems[0], fpr))
            continue
        chain = x509check.path_intermediates(
            cert, anchors=ctx.anchors, intermediates=others, now=ctx.now
        )
        keys.append(_smime_key(cert, chain, source, ctx.now))
    if certs and not ends:
        rejected.append(Rejection(source, "address-mismatch"))
    return Outcome(tuple(keys), tuple(rejected))


def _smime_key(
    cert: x509.Certificate, chain: Sequence[x509.Certificate], source: str, now: datetime
) -> Key:
    """The key; its material is a PEM bundle: the certificate, then its intermediates."""
    from cryptography.hazmat.primitives.serialization import Encoding

    from e2email.core import x509check

    return Key(
        Protocol.SMIME,
        x509check.fingerprint(cert),
        source,
        tuple(x509check.san_addresses(cert)),
        cert.not_valid_after_utc,
        now,
        material=b"".join(c.public_bytes(Encoding.PEM) for c in (cert, *chain)),
    )


def _load_certificates(blob: bytes) -> list[x509.Certificate]:
    from cryptography.hazmat.primitives.serialization import pkcs7

    from e2email.core import x509check

    if b"-----BEGIN CERTIFICATE-----" in blob:
        try:
            return x509check.load_pem_bundle(blob)
        except ValueError:
            return []
    for loader in (_der_certificate, pkcs7.load_der_pkcs7_certificates):
        try:
            return loader(blob)
        except ValueError:
            continue
    return []


def _der_certificate(blob: bytes) -> list[x509.Certificate]:
    from cryptography import x509

    return [x509.load_der_x509_certificate(blob)]


def load_anchors(path: Path | None) -> tuple[x509.Certificate, ...]:
    """The S/MIME trust anchors from ``smime.trust_anchors`` (a PEM bundle), or none."""
    from e2email.core import x509check

    if path is None:
        return ()
    try:
        return tuple(x509check.load_pem_bundle(path.read_bytes()))
    except (OSError, ValueError):
        return ()
