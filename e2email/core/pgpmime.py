"""RFC 3156 PGP/MIME framing: multipart/encrypted around an OpenPGP message.

The ciphertext goes between ``head`` and ``tail`` so that large messages can be streamed
(the body never has to be one Python bytes object with the headers).
"""

from __future__ import annotations

from dataclasses import dataclass

PREAMBLE = b"This is an OpenPGP/MIME encrypted message (RFC 4880 and 3156)\r\n"


@dataclass(frozen=True)
class Framing:
    """The bytes before and after the armored ciphertext."""

    head: bytes
    tail: bytes

    def wrap(self, armored: bytes) -> bytes:
        """The whole message for a ciphertext already in memory."""
        return self.head + armored.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n") + self.tail


def encrypted_content_type(boundary: str) -> str:
    """The Content-Type of the outer entity (RFC 3156 4)."""
    return f'multipart/encrypted; protocol="application/pgp-encrypted"; boundary="{boundary}"'


def encrypted_framing(header_block: bytes, boundary: str) -> Framing:
    """Outer headers (ending in a blank line) plus the two body parts of RFC 3156 4."""
    b = boundary.encode("ascii")
    head = (
        header_block
        + PREAMBLE
        + b"--"
        + b
        + b"\r\n"
        + b"Content-Type: application/pgp-encrypted\r\n"
        + b"Content-Description: PGP/MIME version identification\r\n\r\n"
        + b"Version: 1\r\n\r\n"
        + b"--"
        + b
        + b"\r\n"
        + b'Content-Type: application/octet-stream; name="encrypted.asc"\r\n'
        + b"Content-Description: OpenPGP encrypted message\r\n"
        + b'Content-Disposition: inline; filename="encrypted.asc"\r\n\r\n'
    )
    tail = b"\r\n--" + b + b"--\r\n"
    return Framing(head, tail)
