"""Keyserver lookups, the pure part: VKS and HKP request paths and what their answers mean.

VKS is the Verifying Keyserver interface of keys.openpgp.org (``/vks/v1/by-email/ADDR``,
``/vks/v1/by-fingerprint/FPR``): it serves a user ID only after the address's owner clicked a
link sent to it, and serves keys without any user ID when none was confirmed. HKP
(draft-gallagher-openpgp-hkp-05, section 3: ``/pks/lookup?op=get&options=mr&search=...``)
serves whatever anyone uploaded, with anybody's address on it (security.md item 14).

Answers are filtered exactly like WKD answers (``pgpkeys.filter_for``): only user IDs for the
asked address survive, keys without one are dropped. A refresh asks by fingerprint and keeps
only blocks of that very key (:func:`same_key`): it never swaps a key for another.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote

from e2email.core import pgpkeys, wkd
from e2email.errors import MessageError, UsageError
from e2email.model import Address

VKS = "vks"
HKPS = "hkps"
MAX_BODY = 256 * 1024  # the WKD cap (GnuPG's), for one address's keys
_FINGERPRINT = re.compile(r"[0-9A-F]{40}")


@dataclass(frozen=True)
class Request:
    """One GET to a keyserver: which kind, host, port and path (query included)."""

    kind: str
    host: str
    port: int
    path: str

    @property
    def url(self) -> str:
        """The full https URL, for messages and the store's record of where a key came from."""
        port = "" if self.port == 443 else f":{self.port}"
        return f"https://{self.host}{port}{self.path}"


def fingerprint(text: str) -> str:
    """A v4 fingerprint as 40 upper-case hex digits (spaces, colons and 0x dropped)."""
    cleaned = text.strip().replace(" ", "").replace(":", "").upper().removeprefix("0X")
    if not _FINGERPRINT.fullmatch(cleaned):
        raise UsageError(f"{text!r} is not an OpenPGP v4 fingerprint (40 hex digits)")
    return cleaned


def _mailbox(address: Address) -> str:
    text = str(address)
    if any(c in text for c in "\r\n\t /\\?#") or not address.local or not address.domain:
        raise MessageError(f"{text!r} cannot be asked of a keyserver")
    return text


def vks_by_email(host: str, port: int, address: Address) -> Request:
    """``GET /vks/v1/by-email/ADDR`` (VKS API v1), the address percent-encoded whole."""
    return Request(VKS, host, port, "/vks/v1/by-email/" + quote(_mailbox(address), safe="@"))


def vks_by_fingerprint(host: str, port: int, fpr: str) -> Request:
    """``GET /vks/v1/by-fingerprint/FPR`` (upper-case hex, as the API requires)."""
    return Request(VKS, host, port, "/vks/v1/by-fingerprint/" + fingerprint(fpr))


def hkp_get(host: str, port: int, search: str) -> Request:
    """``GET /pks/lookup?op=get&options=mr&search=...`` (HKP draft 3.1.2, 3.2.1, 3.2.3)."""
    return Request(HKPS, host, port, "/pks/lookup?op=get&options=mr&search=" + quote(search))


def hkp_by_email(host: str, port: int, address: Address) -> Request:
    """An HKP search for the address (servers match it against user IDs they never checked)."""
    return hkp_get(host, port, _mailbox(address))


def hkp_by_fingerprint(host: str, port: int, fpr: str) -> Request:
    """An HKP search by fingerprint (``0x`` + 40 hex digits, HKP draft 3.1.1.1)."""
    return hkp_get(host, port, "0x" + fingerprint(fpr))


def filter_answer(body: bytes, address: Address) -> tuple[list[pgpkeys.KeyBlock], list[str]]:
    """The keys of an answer for ``address``, trimmed to its user IDs: WKD's rules exactly
    (security.md items 5 and 14; ``wkd.filter_answer``)."""
    return wkd.filter_answer(body, address)


def same_key(body: bytes, fpr: str) -> tuple[list[pgpkeys.KeyBlock], list[str]]:
    """The blocks of ``body`` that are the key ``fpr`` itself (a refresh), and why others went.

    User IDs are not filtered here: the caller merges the answer into the key it holds and
    cuts the result down to the addresses it was found for. Reasons: ``empty``,
    ``malformed``, ``unsupported-version``, ``other-key`` (a different key: never taken).
    """
    wanted = fingerprint(fpr)
    if not body.strip():
        return [], ["empty"]
    try:
        blocks = pgpkeys.key_blocks(body)
    except (pgpkeys.PacketError, IndexError):
        return [], ["malformed"]
    kept: list[pgpkeys.KeyBlock] = []
    dropped: list[str] = []
    for block in blocks:
        if block.version not in pgpkeys.SUPPORTED_VERSIONS:
            dropped.append("unsupported-version")
        elif block.fingerprint != wanted:
            dropped.append("other-key")
        else:
            kept.append(block)
    return kept, dropped
