"""OpenPGP transferable public keys as packets: armor, framing, user ID filtering.

Pure. Enough of RFC 9580 (sections 4.2, 5.5, 5.11, 6 and 10.1) to split what a server sent
into keys, learn each key's version and user IDs, and keep only the user IDs whose address
is the one asked for: the job GnuPG's ``--import-filter keep-uid="mbox = ADDR"`` does for its
WKD lookups (security.md item 5). Signatures are NOT checked here; gpg does that afterwards
in a throwaway home.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from e2email.core.addresses import parse_mailbox
from e2email.errors import MessageError
from e2email.model import Address

TAG_SIGNATURE = 2
TAG_SECRET_KEY = 5
TAG_PUBLIC_KEY = 6
TAG_SECRET_SUBKEY = 7
TAG_TRUST = 12
TAG_USER_ID = 13
TAG_PUBLIC_SUBKEY = 14
TAG_USER_ATTRIBUTE = 17

SUPPORTED_VERSIONS = frozenset({4})
KeyFilter = Callable[[str], bool]
_ARMOR_BEGIN = b"-----BEGIN PGP "
_ARMOR_END = b"-----END PGP "


class PacketError(ValueError):
    """The bytes are not a well-formed sequence of OpenPGP packets."""


@dataclass(frozen=True)
class Packet:
    """One packet: its tag, body, and the exact bytes it was read from (header included)."""

    tag: int
    body: bytes
    raw: bytes


@dataclass(frozen=True)
class KeyBlock:
    """One transferable public key (RFC 9580 10.1) and the user IDs it carries."""

    version: int
    packets: tuple[Packet, ...]
    user_ids: tuple[str, ...]

    def to_bytes(self) -> bytes:
        """The packets as they were received."""
        return b"".join(p.raw for p in self.packets)

    @property
    def fingerprint(self) -> str:
        """The v4 fingerprint (RFC 4880 12.2): SHA-1 of 0x99, 2-octet length, key body."""
        body = self.packets[0].body
        data = b"\x99" + len(body).to_bytes(2, "big") + body
        return hashlib.sha1(data, usedforsecurity=False).hexdigest().upper()


def dearmor(data: bytes) -> bytes:
    """Binary packets from ASCII armor (RFC 9580 6); binary input is returned unchanged.

    Every armored block in ``data`` is decoded and the results are concatenated.
    """
    if _ARMOR_BEGIN not in data:
        return data
    out = []
    for block in _armored_blocks(data):
        out.append(_decode_armor_body(block))
    if not out:
        raise PacketError("armor without an END line")
    return b"".join(out)


def _armored_blocks(data: bytes) -> Iterator[list[bytes]]:
    lines = data.replace(b"\r\n", b"\n").split(b"\n")
    i = 0
    while i < len(lines):
        if not lines[i].startswith(_ARMOR_BEGIN):
            i += 1
            continue
        i += 1
        while i < len(lines) and lines[i].strip() and b": " in lines[i]:
            i += 1  # armor headers (Version:, Comment:)
        body: list[bytes] = []
        while i < len(lines) and not lines[i].startswith(_ARMOR_END):
            body.append(lines[i].strip())
            i += 1
        if i == len(lines):
            raise PacketError("armor without an END line")
        yield body
        i += 1


def _decode_armor_body(lines: list[bytes]) -> bytes:
    text = b"".join(x for x in lines if x and not (x.startswith(b"=") and len(x) == 5))
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error as e:
        raise PacketError(f"armor is not valid base64: {e}") from None


def packets(data: bytes) -> list[Packet]:
    """Split binary data into packets (RFC 9580 4.2); raise PacketError on bad framing."""
    out = []
    pos = 0
    while pos < len(data):
        tag, start, end = _header(data, pos)
        out.append(Packet(tag, data[start:end], data[pos:end]))
        pos = end
    return out


def _header(data: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, body start, body end) of the packet at ``pos``."""
    first = data[pos]
    if not first & 0x80:
        raise PacketError(f"byte {pos}: not a packet header")
    if first & 0x40:
        tag = first & 0x3F
        start, length = _new_length(data, pos + 1)
    else:
        tag = (first >> 2) & 0x0F
        start, length = _old_length(data, pos + 1, first & 0x03)
    end = start + length
    if end > len(data):
        raise PacketError(f"byte {pos}: packet runs past the end of the data")
    return tag, start, end


def _new_length(data: bytes, pos: int) -> tuple[int, int]:
    if pos >= len(data):
        raise PacketError("truncated packet header")
    o1 = data[pos]
    if o1 < 192:
        return pos + 1, o1
    if o1 < 224:
        if pos + 1 >= len(data):
            raise PacketError("truncated packet header")
        return pos + 2, ((o1 - 192) << 8) + data[pos + 1] + 192
    if o1 == 255:
        if pos + 5 > len(data):
            raise PacketError("truncated packet header")
        return pos + 5, int.from_bytes(data[pos + 1 : pos + 5], "big")
    raise PacketError("partial body lengths are not allowed in keys")


def _old_length(data: bytes, pos: int, kind: int) -> tuple[int, int]:
    if kind == 3:
        return pos, len(data) - pos
    size = (1, 2, 4)[kind]
    if pos + size > len(data):
        raise PacketError("truncated packet header")
    return pos + size, int.from_bytes(data[pos : pos + size], "big")


def key_blocks(data: bytes) -> list[KeyBlock]:
    """Transferable public keys in ``data`` (armored or binary), in order (RFC 9580 10.1).

    Secret keys are refused with PacketError: nobody publishes one on purpose.
    """
    blocks: list[list[Packet]] = []
    for packet in packets(dearmor(data)):
        if packet.tag in (TAG_SECRET_KEY, TAG_SECRET_SUBKEY):
            raise PacketError("the data holds secret key material")
        if packet.tag == TAG_PUBLIC_KEY:
            blocks.append([packet])
        elif not blocks:
            raise PacketError("packets before the first public key")
        elif packet.tag != TAG_TRUST:  # trust packets are local to a keyring (RFC 9580 5.10)
            blocks[-1].append(packet)
    return [_block(b) for b in blocks]


def _block(pkts: list[Packet]) -> KeyBlock:
    version = pkts[0].body[0] if pkts[0].body else 0
    uids = tuple(_uid_text(p.body) for p in pkts if p.tag == TAG_USER_ID)
    return KeyBlock(version, tuple(pkts), uids)


def _uid_text(body: bytes) -> str:
    return body.decode("utf-8", errors="replace")


def keep_user_ids(block: KeyBlock, keep: KeyFilter) -> KeyBlock | None:
    """The key with only the user IDs ``keep`` accepts (and their signatures), or None.

    User attributes (photo IDs) are dropped too. Subkeys and their binding signatures, and
    the primary key's direct signatures and revocations, stay. RFC 9580 10.1 order is kept.
    """
    kept: list[Packet] = []
    keeping = True
    for packet in block.packets:
        if packet.tag in (TAG_USER_ID, TAG_USER_ATTRIBUTE):
            keeping = packet.tag == TAG_USER_ID and keep(_uid_text(packet.body))
        elif packet.tag in (TAG_PUBLIC_KEY, TAG_PUBLIC_SUBKEY):
            keeping = True
        if keeping:
            kept.append(packet)
    result = _block(kept)
    return result if result.user_ids else None


def filter_for(data: bytes, keep: KeyFilter) -> tuple[list[KeyBlock], list[str]]:
    """Keys from ``data`` trimmed to matching user IDs, and a reason per key dropped.

    Reasons: ``unsupported-version`` (anything but a v4 key, e.g. v6) and ``uid-mismatch``
    (no user ID is for the address).
    """
    kept: list[KeyBlock] = []
    dropped: list[str] = []
    for block in key_blocks(data):
        if block.version not in SUPPORTED_VERSIONS:
            dropped.append("unsupported-version")
            continue
        trimmed = keep_user_ids(block, keep)
        if trimmed is None:
            dropped.append("uid-mismatch")
        else:
            kept.append(trimmed)
    return kept, dropped


def address_filter(address: Address) -> KeyFilter:
    """A user ID filter: the user ID's mail address is ``address`` (local part exact)."""

    def keep(uid: str) -> bool:
        try:
            found = parse_mailbox(uid)[1]
        except MessageError:
            return False
        return address.matches(found)

    return keep
