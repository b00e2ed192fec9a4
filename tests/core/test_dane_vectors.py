"""RFC 7672 TLSA matching against OpenSSL's danetest.in vectors (see danetest_vectors.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from e2email.core.dane import Tlsa, match

from .danetest_vectors import ANON, DATA, ISSUER, LEAF, ROOT

NOW = datetime(2026, 1, 1, tzinfo=UTC)
PEMS = {"leaf": LEAF, "issuer": ISSUER, "root": ROOT, "anon": ANON}
NAMES = ["example.com"]


def der(name: str) -> bytes:
    cert = x509.load_pem_x509_certificate(PEMS[name].encode())
    return cert.public_bytes(serialization.Encoding.DER)


def tlsa(usage: int, cert: str, sm: str, *, flip: bool = False) -> Tlsa:
    data = bytearray(bytes.fromhex(DATA[cert][sm]))
    if flip:
        data[-1] ^= 1
    s, m = map(int, sm.split())
    return Tlsa(usage, s, m, bytes(data))


FULL = ["leaf", "issuer", "root"]


@pytest.mark.parametrize("sm", ["0 1", "1 1", "0 2", "1 2"])
def test_blocks_1_to_4_dane_ee_ignores_dates_and_names(sm: str) -> None:
    # the anonymous certificate was never valid and names nothing: DANE-EE still matches
    result = match([tlsa(3, "anon", sm)], [der("anon")], ["mx.example.net"], NOW)
    assert (result.status, result.usage, result.depth) == ("match", 3, 0)


@pytest.mark.parametrize("sm", ["0 1", "1 1", "0 2", "1 2"])
def test_blocks_5_to_8_one_bit_off_is_a_mismatch(sm: str) -> None:
    result = match([tlsa(3, "anon", sm, flip=True)], [der("anon")], NAMES, NOW)
    assert result.status == "mismatch"


@pytest.mark.parametrize("sm", ["0 1", "1 1", "0 2", "1 2"])
def test_blocks_9_to_12_dane_ee_on_a_chain(sm: str) -> None:
    result = match([tlsa(3, "leaf", sm)], [der(c) for c in FULL], NAMES, NOW)
    assert (result.status, result.depth) == ("match", 0)


@pytest.mark.parametrize("sm", ["0 1", "1 1", "0 2", "1 2"])
def test_blocks_13_to_16_dane_ta_intermediate(sm: str) -> None:
    result = match([tlsa(2, "issuer", sm)], [der(c) for c in FULL], NAMES, NOW)
    assert (result.status, result.usage, result.depth) == ("match", 2, 1)


@pytest.mark.parametrize("sm", ["0 1", "1 1", "0 2", "1 2"])
def test_blocks_17_to_20_dane_ta_root(sm: str) -> None:
    result = match([tlsa(2, "root", sm)], [der(c) for c in FULL], NAMES, NOW)
    assert (result.status, result.usage, result.depth) == ("match", 2, 2)


@pytest.mark.parametrize("usage", [0, 1])
def test_blocks_24_to_32_pkix_usages_are_unusable_for_smtp(usage: int) -> None:
    records = [tlsa(usage, "leaf", "1 2"), tlsa(usage, "issuer", "0 1")]
    result = match(records, [der(c) for c in FULL], NAMES, NOW)
    assert result.status == "unusable"


def test_block_38_wrong_root_digest_is_a_mismatch() -> None:
    result = match([tlsa(2, "root", "0 1", flip=True)], [der(c) for c in FULL], NAMES, NOW)
    assert result.status == "mismatch"


def test_block_39_dane_ee_beats_dane_ta() -> None:
    records = [tlsa(3, "leaf", "1 2"), tlsa(2, "root", "1 2")]
    result = match(records, [der(c) for c in FULL], NAMES, NOW)
    assert (result.usage, result.depth) == (3, 0)


def test_block_40_shallower_trust_anchor_wins() -> None:
    records = [tlsa(2, "root", "1 2"), tlsa(2, "issuer", "1 2")]
    result = match(records, [der(c) for c in FULL], NAMES, NOW)
    assert (result.usage, result.depth) == (2, 1)


def test_block_41_dane_ta_wins_over_an_ignored_pkix_ta() -> None:
    records = [tlsa(2, "root", "0 1"), tlsa(0, "issuer", "0 1")]
    result = match(records, [der(c) for c in FULL], NAMES, NOW)
    assert (result.status, result.depth) == ("match", 2)


def test_block_43_full_root_certificate_from_dns() -> None:
    record = Tlsa(2, 0, 0, der("root"))
    result = match([record], [der("leaf"), der("issuer")], NAMES, NOW)
    assert result.status == "match"


def test_block_44_full_intermediate_certificate_from_dns() -> None:
    result = match([Tlsa(2, 0, 0, der("issuer"))], [der("leaf")], NAMES, NOW)
    assert result.status == "match"


def test_block_45_intermediate_public_key_from_dns() -> None:
    result = match([tlsa(2, "issuer", "1 0")], [der("leaf")], NAMES, NOW)
    assert result.status == "match"


def test_dane_ta_checks_the_leaf_name() -> None:
    result = match([tlsa(2, "issuer", "0 1")], [der(c) for c in FULL], ["mx.example.net"], NOW)
    assert result.status == "mismatch"
    assert "not valid for mx.example.net" in result.detail


def test_dane_ta_anchor_not_sent_and_only_a_digest_published_cannot_match() -> None:
    # RFC 7672 3.1.2: the server must send the anchor unless DNS carries it in full
    result = match([tlsa(2, "root", "0 1")], [der("leaf"), der("issuer")], NAMES, NOW)
    assert result.status == "mismatch"


def test_dane_ta_checks_dates_below_the_anchor() -> None:
    late = datetime(3020, 1, 1, tzinfo=UTC)  # after the leaf's notAfter (3015)
    result = match([tlsa(2, "issuer", "0 1")], [der(c) for c in FULL], NAMES, late)
    assert result.status == "mismatch" and "validity" in result.detail


def test_dane_ta_refuses_a_chain_the_anchor_did_not_sign() -> None:
    # the root's key claimed as anchor directly above the leaf: the leaf is signed by the issuer
    record = Tlsa(2, 1, 0, bytes.fromhex(DATA["issuer"]["1 0"]))
    result = match([record], [der("anon")], NAMES, NOW)
    assert result.status == "mismatch"


def test_server_without_certificate_never_matches() -> None:
    assert match([tlsa(3, "leaf", "0 1")], [], NAMES, NOW).status == "mismatch"


def test_presentation_format_round_trip() -> None:
    text = "3 1 1 " + DATA["leaf"]["1 1"]
    record = Tlsa.from_text(text)
    assert str(record) == text and record.usable


@pytest.mark.parametrize(
    "text",
    [
        "3 1 1 " + "00" * 31,  # SHA-256 of the wrong length
        "3 2 1 " + "00" * 32,  # unknown selector
        "3 1 3 " + "00" * 32,  # unknown matching type
        "4 1 1 " + "00" * 32,  # unknown usage
        "1 1 1 " + "00" * 32,  # PKIX-EE
    ],
)
def test_unusable_records(text: str) -> None:
    assert not Tlsa.from_text(text).usable
