"""RFC 8551 S/MIME framing around CMS bytes: application/pkcs7-mime and multipart/signed.

Pure: the CMS structures come from ``adapters/cms/`` as DER; here they get their MIME
header fields and base64 (RFC 8551 3.1.2: binary CMS always travels base64-encoded).
"""

from __future__ import annotations

from e2email.core.pgpmime import SignedFraming, multipart_signed

MICALG = "sha-256"  # RFC 8551 3.5.3, RFC 5754
SIGNED_PREAMBLE = b"This is an S/MIME signed message (RFC 8551)\r\n"

ENVELOPED = "enveloped-data"
AUTH_ENVELOPED = "authEnveloped-data"


def enveloped_fields(smime_type: str = ENVELOPED) -> list[tuple[str, str]]:
    """The content header fields of an encrypted message (RFC 8551 3.3, RFC 5083 for auth)."""
    if smime_type not in (ENVELOPED, AUTH_ENVELOPED):
        raise ValueError(f"not an encrypted smime-type: {smime_type!r}")
    return [
        ("Content-Type", f'application/pkcs7-mime; smime-type={smime_type}; name="smime.p7m"'),
        ("Content-Disposition", 'attachment; filename="smime.p7m"'),
        ("Content-Transfer-Encoding", "base64"),
        ("Content-Description", "S/MIME encrypted message"),
    ]


def literal_fields(fields: list[tuple[str, str]]) -> bytes:
    """Structural header lines written as RFC 8551's examples write them (no re-quoting).

    Only for the fixed ASCII values built here; the email package would quote every
    parameter (``smime-type="enveloped-data"``), which is valid MIME but not what clients
    emit, and some compare these parameters literally.
    """
    out = b""
    for name, value in fields:
        line = f"{name}: {value}".encode("ascii")
        if b"\r" in line or b"\n" in line:
            raise ValueError(f"not a literal header line: {name}")
        out += _fold(line) + b"\r\n"
    return out


def _fold(line: bytes) -> bytes:
    """Fold at "; " when over 78 characters (RFC 5322 2.2.3)."""
    if len(line) <= 78:
        return line
    return line.replace(b"; ", b";\r\n ")


def signed_content_type(boundary: str, micalg: str = MICALG) -> str:
    """The Content-Type of a detached signature (RFC 8551 3.5.3)."""
    return (
        f'multipart/signed; protocol="application/pkcs7-signature"; micalg={micalg}; '
        f'boundary="{boundary}"'
    )


def signed_framing(boundary: str) -> SignedFraming:
    """The body of a multipart/signed S/MIME entity (RFC 8551 3.5.3)."""
    sig_headers = (
        b'Content-Type: application/pkcs7-signature; name="smime.p7s"\r\n'
        b"Content-Transfer-Encoding: base64\r\n"
        b'Content-Disposition: attachment; filename="smime.p7s"\r\n'
        b"Content-Description: S/MIME cryptographic signature\r\n"
    )
    return multipart_signed(boundary, sig_headers, SIGNED_PREAMBLE)


def base64_body(der: bytes) -> bytes:
    """Base64 of a CMS structure in 76-character CRLF lines (RFC 8551 3.1.2, RFC 2045 6.8)."""
    from e2email.core.mime import b64_lines

    return b64_lines(der)
