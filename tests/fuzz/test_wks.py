"""Fuzzing the Web Key Service parsers (core/wks): policy and submission-address files, the
confirmation request mail and its decrypted payload, and the refresh schedule's inputs.

Whoever runs the provider's web server writes the files; anyone can mail the user something
that looks like a confirmation request. Any input gives a value or ``E2emailError`` (WksError
is one), within hypothesis' deadline.
"""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from e2email.core import refresh, wks
from e2email.errors import E2emailError
from e2email.model import Address

FUZZ = settings(max_examples=150, deadline=1000, suppress_health_check=[HealthCheck.too_slow])
FPR = "AB" * 20
NONCE = "n" * 32
GOOD = (
    "Content-Type: application/vnd.gnupg.wks\r\n\r\n"
    "type: confirmation-request\r\nsender: key-submission@wks.test\r\n"
    f"address: pub@wks.test\r\nfingerprint: {FPR}\r\nnonce: {NONCE}\r\n"
).encode()
ARMOR = b"-----BEGIN PGP MESSAGE-----\r\n\r\nhQEMA0Jb\r\n-----END PGP MESSAGE-----\r\n"
ENV = wks.Envelope(
    Address("key-submission", "wks.test"),
    Address("pub", "wks.test"),
    "Confirm",
    "Mon, 07 Dec 2026 10:00:00 +0000",
    "<m@wks.test>",
    "b-1",
)
MAIL = wks.mail(ENV, ARMOR)
SIGNED = (
    b'Content-Type: multipart/signed; boundary=s; protocol="application/pgp-signature"\r\n'
    b"\r\n--s\r\nContent-Type: multipart/mixed; boundary=m\r\n\r\n--m\r\n"
    b"Content-Type: application/vnd.gnupg.wks\r\n\r\n" + ARMOR + b"\r\n--m--\r\n"
    b"--s\r\nContent-Type: application/pgp-signature\r\n\r\nsig\r\n--s--\r\n"
)


@st.composite
def mangled(draw: st.DrawFn, base: bytes) -> bytes:
    """``base`` cut, with bytes flipped, lines duplicated or noise appended."""
    data = bytearray(base[: draw(st.integers(0, len(base)))] if draw(st.booleans()) else base)
    for _ in range(draw(st.integers(0, 8))):
        if data:
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    return bytes(data) + draw(st.binary(max_size=64))


TEXTS = st.one_of(st.binary(max_size=4096), st.text(max_size=2048).map(str.encode))


@FUZZ
@given(st.one_of(TEXTS, mangled(b"protocol-version: 3\nmailbox-only\nmax-pending: 10\n")))
def test_policy_any_bytes(data: bytes) -> None:
    try:
        policy = wks.parse_policy(data)
    except E2emailError:
        return
    assert policy.protocol_version is None or policy.protocol_version >= 0


@FUZZ
@given(st.one_of(TEXTS, mangled(b"key-submission@wks.test\n")))
def test_submission_address_any_bytes(data: bytes) -> None:
    try:
        address = wks.parse_submission_address(data)
    except E2emailError:
        return
    assert address.local and address.domain and "\n" not in str(address)


@FUZZ
@given(st.one_of(TEXTS, mangled(GOOD)))
def test_confirmation_request_any_plaintext(data: bytes) -> None:
    try:
        req = wks.parse_request(data)
    except E2emailError:
        return
    assert len(req.fingerprint) == 40 and len(req.nonce) >= 17
    # a parsed request is judged before it is answered: a wrong key is always refused
    why = wks.check_request(
        req,
        address=Address("pub", "wks.test"),
        fingerprint="CD" * 20,
        submission=Address("key-submission", "wks.test"),
        decrypted_with="CD" * 20,
    )
    assert why is not None or req.fingerprint == "CD" * 20


@FUZZ
@given(st.one_of(st.binary(max_size=8192), mangled(MAIL), mangled(SIGNED)))
def test_request_mail_any_bytes(raw: bytes) -> None:
    try:
        ciphertext = wks.request_ciphertext(raw)
    except E2emailError:
        return
    assert isinstance(ciphertext, bytes)


def test_request_mail_shapes_are_found() -> None:
    assert b"BEGIN PGP MESSAGE" in wks.request_ciphertext(MAIL)
    assert b"BEGIN PGP MESSAGE" in wks.request_ciphertext(SIGNED)
    req = wks.parse_request(GOOD)
    assert (req.fingerprint, req.nonce, str(req.address)) == (FPR, NONCE, "pub@wks.test")
    body = wks.response_body(req).decode()
    assert "type: confirmation-response" in body and f"nonce: {NONCE}" in body


@FUZZ
@given(st.text(max_size=40))
def test_duration_any_text(text: str) -> None:
    try:
        seconds = refresh.parse_duration(text)
    except E2emailError:
        return
    assert 0 <= seconds <= refresh.MAX_SPREAD


@FUZZ
@given(st.text(max_size=20), st.text(max_size=300))
def test_refresh_target_any_sighting(source: str, where: str) -> None:
    t = refresh.target(source, where, "a@b.test")
    if t is not None and t.host:
        assert where.lower().startswith("https://") and 0 < t.port < 65536


@FUZZ
@given(st.lists(st.tuples(st.sampled_from("abc"), st.integers()), max_size=50), st.floats(0, 1e5))
def test_schedule_keeps_every_item(items: list[tuple[str, int]], spread: float) -> None:
    plan = refresh.schedule(items, spread, random.Random(0))
    assert sorted(x for _, x in plan) == sorted(x for _, x in items)
    assert all(0 <= o <= max(spread, 0) for o, _ in plan)


def test_non_ascii_boundary_is_our_error_not_a_crash() -> None:
    """Found by test_request_mail_any_bytes: a boundary decoded from 8-bit header bytes."""
    import pytest

    from e2email.core import rawmime

    with pytest.raises(E2emailError, match="outside ASCII"):
        wks.request_ciphertext(b"Content-Type: multipart/mixed; boundary=\x80\r\n\r\nx")
    with pytest.raises(E2emailError):
        rawmime.split_multipart("--\u00e9\r\n--\u00e9--".encode(), "\u00e9")
