"""OpenPGP Web Key Directory lookups (draft-koch-openpgp-webkey-service), the pure part.

The hash (section 3.1: SHA-1 of the local part with ASCII upper case mapped to lower case,
z-base-32 encoded), the two URLs (advanced and direct), what counts as an answer, and the
user ID filter GnuPG applies (``keep-uid="mbox = ADDR"``). The network part lives in
``services/discover`` with ``adapters/http``; the order of the methods is security.md item 5.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from urllib.parse import quote

from e2email.core import pgpkeys
from e2email.errors import MessageError
from e2email.model import Address

MAX_BODY = 256 * 1024  # GnuPG's cap for a WKD answer
ZBASE32 = "ybndrfg8ejkmcpqxot1uwisza345h769"  # RFC 6189 5.1.6 alphabet
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")

ADVANCED = "wkd-advanced"
DIRECT = "wkd-direct"


@dataclass(frozen=True)
class Request:
    """One WKD GET: which method, host and path (path includes ``?l=``)."""

    method: str
    host: str
    path: str

    @property
    def url(self) -> str:
        """The full https URL, for messages."""
        return f"https://{self.host}{self.path}"


def zbase32(data: bytes) -> str:
    """z-base-32 (RFC 6189 5.1.6) of ``data``, without padding; 20 bytes give 32 characters."""
    bits = int.from_bytes(data, "big")
    nbits = len(data) * 8
    out = []
    for shift in range(nbits - 5, -5, -5):
        index = (bits >> shift) & 0x1F if shift >= 0 else (bits << -shift) & 0x1F
        out.append(ZBASE32[index])
    return "".join(out)


def ascii_lower(text: str) -> str:
    """Lower-case ASCII letters only, as the WKD draft (3.1) and GnuPG do."""
    return text.translate(_ASCII_LOWER)


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def local_hash(local: str) -> str:
    """The WKD hash of a local part (draft section 3.1)."""
    digest = hashlib.sha1(ascii_lower(local).encode("utf-8"), usedforsecurity=False).digest()
    return zbase32(digest)


def wkd_domain(domain: str) -> str:
    """The domain as lower-case A-labels, or MessageError if it is not a host name.

    Validated before any URL is built (security.md item 5): LDH labels only, so nothing in
    the address can reach the URL's authority or path.
    """
    try:
        ascii_domain = domain.rstrip(".").encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise MessageError(f"{domain!r} is not a valid domain name") from None
    labels = ascii_domain.split(".")
    if len(ascii_domain) > 253 or len(labels) < 2 or not all(_LABEL.fullmatch(x) for x in labels):
        raise MessageError(f"{domain!r} is not a host name WKD can be asked about")
    return ascii_domain


def requests(address: Address) -> tuple[Request, Request]:
    """The advanced and the direct request for ``address`` (draft section 3.1)."""
    domain = wkd_domain(address.domain)
    hu = local_hash(address.local)
    query = "?l=" + quote(address.local, safe="")
    advanced = Request(
        ADVANCED, f"openpgpkey.{domain}", f"/.well-known/openpgpkey/{domain}/hu/{hu}{query}"
    )
    direct = Request(DIRECT, domain, f"/.well-known/openpgpkey/hu/{hu}{query}")
    return advanced, direct


def status_problem(status: int) -> str | None:
    """None for 200; else the rejection reason: ``not-found``, ``redirect``, ``http-error``."""
    if status == 200:
        return None
    if status in (404, 410):
        return "not-found"
    if 300 <= status < 400:
        return "redirect"
    return "http-error"


def filter_answer(body: bytes, address: Address) -> tuple[list[pgpkeys.KeyBlock], list[str]]:
    """The keys of a WKD answer trimmed to ``address``'s user IDs, and why others went.

    Reasons: ``empty``, ``malformed``, ``unsupported-version``, ``uid-mismatch``.
    """
    if not body.strip():
        return [], ["empty"]
    try:
        return pgpkeys.filter_for(body, pgpkeys.address_filter(address))
    except (pgpkeys.PacketError, IndexError):
        return [], ["malformed"]
