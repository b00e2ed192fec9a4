"""RFC 3156 PGP/MIME framing: multipart/encrypted and multipart/signed.

The ciphertext (or the signed entity) goes between ``head`` and ``tail`` so that large
messages can be streamed: the body never has to be one Python bytes object with the headers.
"""

from __future__ import annotations

from dataclasses import dataclass

PREAMBLE = b"This is an OpenPGP/MIME encrypted message (RFC 4880 and 3156)\r\n"
SIGNED_PREAMBLE = b"This is an OpenPGP/MIME signed message (RFC 4880 and 3156)\r\n"
MICALG = "pgp-sha256"  # the adapter signs with --digest-algo SHA256 (RFC 3156 5, RFC 4880 9.4)


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


def signed_content_type(boundary: str, micalg: str = MICALG) -> str:
    """The Content-Type of a PGP/MIME signed message (RFC 3156 5)."""
    return (
        f'multipart/signed; micalg="{micalg}"; protocol="application/pgp-signature"; '
        f'boundary="{boundary}"'
    )


@dataclass(frozen=True)
class SignedFraming:
    """The body of a multipart/signed entity around the signed entity and its signature.

    ``head`` + entity + ``middle`` + signature part body + ``tail``. The signed bytes are
    exactly the entity: the CRLF before the next boundary belongs to the boundary (RFC 2046
    5.1.1), not to the signed data (RFC 3156 5, RFC 8551 3.5).
    """

    head: bytes
    middle: bytes
    tail: bytes

    def wrap(self, entity: bytes, signature_body: bytes) -> bytes:
        """The whole body for an entity and an encoded signature already in memory."""
        return self.head + entity + self.middle + signature_body + self.tail


def signature_part(armored: bytes) -> bytes:
    """The body of the application/pgp-signature part, CRLF line ends."""
    text = armored.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    return text if text.endswith(b"\r\n") else text + b"\r\n"


def multipart_signed(boundary: str, signature_headers: bytes, preamble: bytes) -> SignedFraming:
    """The frame of a two-part multipart/signed body (RFC 1847 2.1)."""
    b = boundary.encode("ascii")
    head = preamble + b"--" + b + b"\r\n"
    middle = b"\r\n--" + b + b"\r\n" + signature_headers + b"\r\n"
    tail = b"--" + b + b"--\r\n"
    return SignedFraming(head, middle, tail)


def signed_framing(boundary: str) -> SignedFraming:
    """The body of a PGP/MIME signed message (RFC 3156 5)."""
    sig_headers = (
        b'Content-Type: application/pgp-signature; name="signature.asc"\r\n'
        b"Content-Description: OpenPGP digital signature\r\n"
        b'Content-Disposition: attachment; filename="signature.asc"\r\n'
    )
    return multipart_signed(boundary, sig_headers, SIGNED_PREAMBLE)
