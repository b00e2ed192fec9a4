"""Fuzzing the keyserver and WKS parsers: any input gives a value or one of e2email's own errors.

What a keyserver, a WKD policy file or a confirmation request contains is chosen by whoever
runs the server (or forges the mail). For inputs under 64 KiB each parser must answer within
a second (hypothesis' deadline) and raise nothing but ``E2emailError`` or ``PacketError``.
Inputs: arbitrary bytes and text, and real keys (keys-fixtures) cut, flipped and spliced.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from e2email.core import keyserver, pgpkeys
from e2email.errors import E2emailError
from e2email.model import Address
from tests.support import OPENPGP

FUZZ = settings(max_examples=150, deadline=1000, suppress_health_check=[HealthCheck.too_slow])
KEY = (OPENPGP / "bob.pub.asc").read_bytes()
BINARY = pgpkeys.dearmor(KEY)
FPR = pgpkeys.key_blocks(BINARY)[0].fingerprint
OURS = (E2emailError, pgpkeys.PacketError)
ADDRESS = Address("bob", "example.test")


@st.composite
def mangled(draw: st.DrawFn) -> bytes:
    """A real key (armored or binary) cut, with bytes flipped, or spliced with noise."""
    base = draw(st.sampled_from([KEY, BINARY, BINARY + BINARY]))
    cut = draw(st.integers(0, len(base)))
    data = bytearray(base[:cut] if draw(st.booleans()) else base)
    for _ in range(draw(st.integers(0, 8))):
        if data:
            i = draw(st.integers(0, len(data) - 1))
            data[i] = draw(st.integers(0, 255))
    return bytes(data) + draw(st.binary(max_size=64))


BODIES = st.one_of(st.binary(max_size=64 * 1024), mangled())


@FUZZ
@given(BODIES)
def test_filter_answer_any_body(body: bytes) -> None:
    try:
        blocks, reasons = keyserver.filter_answer(body, ADDRESS)
    except OURS:
        return
    for b in blocks:
        assert b.user_ids and all("bob@example.test" in u for u in b.user_ids)
    assert all(isinstance(r, str) for r in reasons)


@FUZZ
@given(BODIES)
def test_same_key_any_body(body: bytes) -> None:
    try:
        blocks, _ = keyserver.same_key(body, FPR)
    except OURS:
        return
    assert all(b.fingerprint == FPR for b in blocks)


@FUZZ
@given(st.text(max_size=200))
def test_fingerprint_any_text(text: str) -> None:
    try:
        fpr = keyserver.fingerprint(text)
    except OURS:
        return
    assert len(fpr) == 40 and set(fpr) <= set("0123456789ABCDEF")


@FUZZ
@given(st.text(max_size=100), st.text(max_size=100))
def test_request_paths_any_address(local: str, domain: str) -> None:
    address = Address(local, domain)
    for build in (keyserver.vks_by_email, keyserver.hkp_by_email):
        try:
            req = build("keys.example.test", 443, address)
        except OURS:
            continue
        assert req.path.isascii() and " " not in req.path and "\n" not in req.path
        assert req.url.startswith("https://keys.example.test/")
