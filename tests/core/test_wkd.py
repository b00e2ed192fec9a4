"""core/wkd and core/pgpkeys: the WKD hash and URLs, answers, and the user ID filter."""

from __future__ import annotations

import hashlib
import subprocess

import pytest

from e2email.core import ldapfilter, pgpkeys, wkd
from e2email.errors import MessageError
from e2email.model import Address
from tests.support import OPENPGP

WKS_CLIENT = "/usr/lib/gnupg/gpg-wks-client"


def key(name: str) -> bytes:
    return (OPENPGP / f"{name}.pub.asc").read_bytes()


def test_draft_example_hash() -> None:
    assert wkd.local_hash("Joe.Doe") == "iy9q119eutrkn8s1mk4r39qejnbu3n5q"


@pytest.mark.parametrize(
    "address",
    ["Joe.Doe@Example.ORG", "bob@example.test", "D.Work@example.org", "Ünïcode@example.test"],
)
def test_hash_agrees_with_gpg_wks_client(address: str) -> None:
    out = subprocess.run(
        [WKS_CLIENT, "--print-wkd-hash", address], capture_output=True, check=True, timeout=10
    ).stdout.decode()
    local = address.rpartition("@")[0]
    assert out.split()[0] == wkd.local_hash(local)


def test_zbase32_of_sha1_is_32_characters() -> None:
    digest = hashlib.sha1(b"x", usedforsecurity=False).digest()
    assert len(wkd.zbase32(digest)) == 32
    assert wkd.zbase32(b"\x00") == "yy"
    assert wkd.zbase32(b"\xff") == "9h"


def test_only_ascii_is_lower_cased() -> None:
    assert wkd.local_hash("ÄBC") == wkd.local_hash("Äbc")
    assert wkd.local_hash("ÄBC") != wkd.local_hash("äbc")


def test_urls_advanced_and_direct_keep_the_original_local_part() -> None:
    advanced, direct = wkd.requests(Address("Joe.Doe", "Example.ORG"))
    assert advanced.method == "wkd-advanced"
    assert advanced.url == (
        "https://openpgpkey.example.org/.well-known/openpgpkey/example.org/hu/"
        "iy9q119eutrkn8s1mk4r39qejnbu3n5q?l=Joe.Doe"
    )
    assert direct.url == (
        "https://example.org/.well-known/openpgpkey/hu/iy9q119eutrkn8s1mk4r39qejnbu3n5q?l=Joe.Doe"
    )


def test_local_part_is_percent_encoded_in_the_query() -> None:
    advanced, _ = wkd.requests(Address("a&b=c/d?e#f", "example.test"))
    assert advanced.path.endswith("?l=a%26b%3Dc%2Fd%3Fe%23f")


def test_idn_domain_becomes_a_labels() -> None:
    advanced, _ = wkd.requests(Address("x", "bücher.example"))
    assert advanced.host == "openpgpkey.xn--bcher-kva.example"


@pytest.mark.parametrize(
    "domain",
    ["evil.test/x", "evil.test:8443", "evil.test@other", "-bad.test", "localhost", "a..test", ""],
)
def test_domain_validated_before_a_url_is_built(domain: str) -> None:
    with pytest.raises(MessageError):
        wkd.requests(Address("x", domain))


@pytest.mark.parametrize(
    ("status", "problem"),
    [(200, None), (404, "not-found"), (301, "redirect"), (302, "redirect"), (500, "http-error")],
)
def test_status(status: int, problem: str | None) -> None:
    assert wkd.status_problem(status) == problem


def test_foreign_user_ids_stripped() -> None:
    kept, dropped = wkd.filter_answer(key("dave"), Address("dave", "other.test"))
    assert dropped == []
    [block] = kept
    assert block.user_ids == ("Dave <dave@other.test>",)
    tags = [p.tag for p in block.packets]
    assert tags.count(pgpkeys.TAG_USER_ID) == 1
    assert pgpkeys.TAG_PUBLIC_SUBKEY in tags


def test_key_without_matching_user_id_dropped() -> None:
    kept, dropped = wkd.filter_answer(key("mallory-foreign"), Address("bob", "example.test"))
    assert kept == []
    assert dropped == ["uid-mismatch"]


def test_local_part_compared_exactly() -> None:
    kept, dropped = wkd.filter_answer(key("bob"), Address("Bob", "example.test"))
    assert kept == [] and dropped == ["uid-mismatch"]
    kept, _ = wkd.filter_answer(key("bob"), Address("bob", "EXAMPLE.test"))
    assert len(kept) == 1


def test_binary_and_armored_answers_are_the_same() -> None:
    armored = key("bob")
    binary = pgpkeys.dearmor(armored)
    assert not binary.startswith(b"-----")
    a, _ = wkd.filter_answer(armored, Address("bob", "example.test"))
    b, _ = wkd.filter_answer(binary, Address("bob", "example.test"))
    assert a[0].to_bytes() == b[0].to_bytes()


def test_several_keys_in_one_answer() -> None:
    both = pgpkeys.dearmor(key("bob")) + pgpkeys.dearmor(key("mallory-foreign"))
    kept, dropped = wkd.filter_answer(both, Address("bob", "example.test"))
    assert [b.user_ids for b in kept] == [("Bob <bob@example.test>",)]
    assert dropped == ["uid-mismatch"]


def _v6_key() -> bytes:
    body = bytes([6]) + b"\x00" * 10  # version 6 public key packet (RFC 9580 5.5.2)
    uid = b"Six <six@example.test>"
    return bytes([0xC0 | 6, len(body)]) + body + bytes([0xC0 | 13, len(uid)]) + uid


def test_v6_key_refused_as_unsupported() -> None:
    kept, dropped = wkd.filter_answer(_v6_key(), Address("six", "example.test"))
    assert kept == [] and dropped == ["unsupported-version"]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "empty"),
        (b"   \n", "empty"),
        (b"<html>not a key</html>", "malformed"),
        (bytes([0xC6, 0x50]) + b"short", "malformed"),
        (
            b"-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n!!!!\n-----END PGP PUBLIC KEY BLOCK-----\n",
            "malformed",
        ),
    ],
)
def test_garbage_answers(body: bytes, reason: str) -> None:
    assert wkd.filter_answer(body, Address("bob", "example.test")) == ([], [reason])


def test_secret_key_material_refused() -> None:
    secret = (OPENPGP / "bob.sec.asc").read_bytes()
    assert wkd.filter_answer(secret, Address("bob", "example.test")) == ([], ["malformed"])


def test_old_format_packets_parse() -> None:
    uid = b"Old <old@example.test>"
    body = bytes([4]) + b"\x00" * 5
    data = bytes([0x80 | (6 << 2), len(body)]) + body + bytes([0x80 | (13 << 2), len(uid)]) + uid
    [block] = pgpkeys.key_blocks(data)
    assert block.version == 4 and block.user_ids == ("Old <old@example.test>",)


@pytest.mark.parametrize(
    ("value", "escaped"),
    [
        ("*", "\\2a"),
        ("(", "\\28"),
        (")", "\\29"),
        ("\\", "\\5c"),
        ("\0", "\\00"),
        ("bob*)(mail=*", "bob\\2a\\29\\28mail=\\2a"),
        ("ünï", "ünï"),
    ],
)
def test_ldap_escape(value: str, escaped: str) -> None:
    assert ldapfilter.escape(value) == escaped


def test_ldap_filters_keep_their_shape() -> None:
    f = ldapfilter.all_of(
        ldapfilter.equals("objectClass", "pgpKeyInfo"),
        ldapfilter.contains("pgpUserID", "<x*)(|(a=*>"),
    )
    assert f == "(&(objectClass=pgpKeyInfo)(pgpUserID=*<x\\2a\\29\\28|\\28a=\\2a>*))"
    with pytest.raises(ValueError, match="attribute"):
        ldapfilter.equals("mail)(x", "y")
