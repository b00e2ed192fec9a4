"""The Web Key Service protocol (draft-koch-openpgp-webkey-service, sections 4.1-4.5), pure.

What ``gpg-wks-client`` does, as values: where the provider's submission address and policy
are published (4.1, next to the WKD keys), the policy flags (4.5), the publication request
(4.2: the key, armored, as ``application/pgp-keys``, encrypted to the submission address),
the confirmation request the provider sends back (4.3: ``type: confirmation-request`` with
``sender``, ``address``, ``fingerprint`` and ``nonce``, encrypted to the key being published)
and the confirmation response (4.4). Requests come in the two shapes GnuPG's server sends:
``multipart/encrypted`` (draft 1) and, for clients announcing draft 3,
``multipart/signed`` holding an ``application/vnd.gnupg.wks`` part with the ciphertext.

Nothing here decrypts or sends: ``services/publish`` does, through gpg and the account's
submission server.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from e2email.core import pgpmime, rawmime, reader, wkd
from e2email.core.addresses import parse_mailbox
from e2email.core.compose import render_headers
from e2email.errors import MessageError
from e2email.model import Address

DRAFT_VERSION = "3"
WKS_TYPE = "application/vnd.gnupg.wks"
MAX_FILE = 64 * 1024  # submission-address and policy files are a few lines
MAX_REQUEST = 256 * 1024  # a confirmation request is a few KiB
_NONCE = re.compile(r"[\x21-\x7e]{17,200}")
_FPR = re.compile(r"[0-9A-Fa-f]{40}")
_DEPTH = 4  # multipart/signed > multipart/mixed > the part: no deeper nesting is read


class WksError(MessageError):
    """A WKS file or message is not what the protocol says (the message names what)."""


@dataclass(frozen=True)
class Policy:
    """The provider's policy flags (section 4.5); unknown keys are ignored as the draft says."""

    mailbox_only: bool = False
    dane_only: bool = False
    auth_submit: bool = False
    protocol_version: int | None = None
    max_pending: int | None = None
    submission_address: str | None = None


@dataclass(frozen=True)
class ConfirmationRequest:
    """A confirmation request's fields (section 4.3)."""

    sender: Address
    address: Address
    fingerprint: str
    nonce: str


def file_requests(address: Address, name: str) -> tuple[wkd.Request, wkd.Request]:
    """The advanced and direct URLs of a WKS file (``submission-address``, ``policy``), 4.1."""
    if name not in ("submission-address", "policy"):
        raise ValueError(f"not a WKS file: {name!r}")
    domain = wkd.wkd_domain(address.domain)
    advanced = wkd.Request(
        wkd.ADVANCED, f"openpgpkey.{domain}", f"/.well-known/openpgpkey/{domain}/{name}"
    )
    direct = wkd.Request(wkd.DIRECT, domain, f"/.well-known/openpgpkey/{name}")
    return advanced, direct


def _text(data: bytes, what: str) -> str:
    if len(data) > MAX_FILE:
        raise WksError(f"the {what} is larger than {MAX_FILE} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise WksError(f"the {what} is not UTF-8 text") from None


def _mailbox(text: str, what: str) -> Address:
    try:
        name, address = parse_mailbox(text.strip())
    except MessageError as e:
        raise WksError(f"{what} {text.strip()[:80]!r} is not a mail address: {e}") from None
    if name:
        raise WksError(f"{what} {text.strip()[:80]!r} is not a bare mail address")
    return address


def parse_submission_address(data: bytes) -> Address:
    """The submission address from its file: the first line, a bare addr-spec (4.1)."""
    lines = [x.strip() for x in _text(data, "submission-address file").splitlines()]
    first = next((x for x in lines if x), "")
    if not first:
        raise WksError("the submission-address file is empty")
    return _mailbox(first, "the submission address")


def parse_policy(data: bytes) -> Policy:
    """The policy file (section 4.5): ``name: value`` lines or bare flags, ``#`` comments."""
    flags: dict[str, str] = {}
    for raw in _text(data, "policy file").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition(":")
        flags[key.strip().lower()] = value.strip()
    return Policy(
        mailbox_only="mailbox-only" in flags,
        dane_only="dane-only" in flags,
        auth_submit="auth-submit" in flags,
        protocol_version=_number(flags.get("protocol-version")),
        max_pending=_number(flags.get("max-pending")),
        submission_address=flags.get("submission-address") or None,
    )


def _number(text: str | None) -> int | None:
    return int(text) if text and text.isdigit() and len(text) < 10 else None


def fields(text: str) -> dict[str, str]:
    """``name: value`` lines (GnuPG's name-value format; the first of each name counts)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() and key.strip().lower() not in out:
            out[key.strip().lower()] = value.strip()
    return out


def _payload_text(plaintext: bytes) -> str:
    """The name-value text of a decrypted WKS message, without its MIME header if any."""
    data = rawmime.crlf(plaintext)
    if data[:13].lower() == b"content-type:":
        entity = rawmime.split_entity(data)
        if entity.content_type.type != WKS_TYPE:
            raise WksError(f"the decrypted part is {entity.content_type.type}, not {WKS_TYPE}")
        data = entity.body
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise WksError("the decrypted WKS message is not UTF-8 text") from None


def parse_request(plaintext: bytes) -> ConfirmationRequest:
    """A decrypted confirmation request (section 4.3); WksError names what is wrong."""
    f = fields(_payload_text(plaintext))
    if f.get("type") != "confirmation-request":
        raise WksError(f"not a confirmation request (type {f.get('type')!r})")
    fpr = f.get("fingerprint", "")
    if not _FPR.fullmatch(fpr):
        raise WksError("the confirmation request has no valid fingerprint")
    nonce = f.get("nonce", "")
    if not _NONCE.fullmatch(nonce):
        raise WksError("the confirmation request's nonce is missing or too short")
    return ConfirmationRequest(
        sender=_mailbox(f.get("sender", ""), "the request's sender"),
        address=_mailbox(f.get("address", ""), "the request's address"),
        fingerprint=fpr.upper(),
        nonce=nonce,
    )


def request_ciphertext(raw: bytes) -> bytes:
    """The encrypted payload of a confirmation request mail, in either shape GnuPG sends."""
    if len(raw) > MAX_REQUEST:
        raise WksError(f"the message is larger than {MAX_REQUEST} bytes")
    root = rawmime.split_entity(rawmime.crlf(raw))
    found = _find_wks(root, 0)
    if found is None:
        raise WksError("no WKS part (multipart/encrypted, or application/vnd.gnupg.wks)")
    return found


def _find_wks(entity: rawmime.Entity, depth: int) -> bytes | None:
    ct = entity.content_type
    if ct.type == WKS_TYPE:
        return reader.decode_body(entity)
    if ct.type == "multipart/encrypted" and depth == 0:
        return reader.classify(entity.to_bytes()).ciphertext or None
    if ct.maintype != "multipart" or depth >= _DEPTH:
        return None
    for part in rawmime.split_multipart(entity.body, ct.param("boundary") or "").parts:
        found = _find_wks(rawmime.split_entity(part), depth + 1)
        if found is not None:
            return found
    return None


def check_request(
    req: ConfirmationRequest,
    *,
    address: Address,
    fingerprint: str,
    submission: Address,
    decrypted_with: str | None,
) -> str | None:
    """Why the request is not meant for this publication, or None (section 4.3, and what
    gpg-wks-client checks: the key that decrypted it is the key to publish)."""
    if req.fingerprint != fingerprint.upper():
        return f"it is for key {req.fingerprint}, not {fingerprint.upper()}"
    if (decrypted_with or "").upper() != fingerprint.upper():
        return f"it was not encrypted to {fingerprint.upper()}"
    if not req.address.matches(address):
        return f"it is for {req.address}, not {address}"
    if not req.sender.matches(submission):
        return f"it names {req.sender} as sender, not the submission address {submission}"
    return None


def submission_body(armored_key: bytes) -> bytes:
    """What is encrypted for a publication request (section 4.2): the key as a MIME part."""
    return b"Content-Type: application/pgp-keys\r\n\r\n" + rawmime.crlf(armored_key)


def response_body(req: ConfirmationRequest) -> bytes:
    """What is encrypted for the confirmation response (section 4.4)."""
    text = (
        f"type: confirmation-response\nsender: {req.sender}\n"
        f"address: {req.address}\nnonce: {req.nonce}\n"
    )
    head = f"Content-Type: {WKS_TYPE}\nContent-Transfer-Encoding: 8bit\n\n"
    return rawmime.crlf((head + text).encode("utf-8"))


@dataclass(frozen=True)
class Envelope:
    """The outer headers of a WKS mail (clock and randomness come from the caller)."""

    sender: Address
    to: Address
    subject: str
    date: str
    message_id: str
    boundary: str


def mail(env: Envelope, armored: bytes) -> bytes:
    """The whole PGP/MIME mail (RFC 3156 4) around ``armored`` ciphertext, with the
    ``Wks-Draft-Version`` header GnuPG's server reads to choose its answer's shape."""
    headers = [
        ("From", str(env.sender)),
        ("To", str(env.to)),
        ("Subject", env.subject),
        ("Date", env.date),
        ("Message-ID", env.message_id),
        ("Wks-Draft-Version", DRAFT_VERSION),
        ("MIME-Version", "1.0"),
        ("Content-Type", pgpmime.encrypted_content_type(env.boundary)),
    ]
    return pgpmime.encrypted_framing(render_headers(headers), env.boundary).wrap(armored)
