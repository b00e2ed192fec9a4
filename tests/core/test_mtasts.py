"""RFC 8461 parsing and matching: exactly what security.md item 9 asks, and no more lenient."""

from __future__ import annotations

import pytest

from e2email.core.mtasts import (
    MAX_AGE_LIMIT,
    CachedPolicy,
    MtaStsError,
    Policy,
    TxtRecord,
    check_response,
    mx_matches,
    needs_fetch,
    parse_policy,
    parse_txt,
    policy_allows,
    select_txt,
)

GOOD = b"version: STSv1\r\nmode: enforce\r\nmx: mail.example.test\r\nmx: *.example.net\r\nmax_age: 86400\r\n"


def test_good_policy() -> None:
    p = parse_policy(GOOD)
    assert p == Policy("enforce", 86400, ("mail.example.test", "*.example.net"))
    assert p.protects


def test_lf_only_and_no_final_newline_are_fine() -> None:
    p = parse_policy(b"version: STSv1\nmode: testing\nmx: a.example\nmax_age: 5")
    assert p.mode == "testing" and not p.protects


def test_mode_none_needs_no_mx() -> None:
    assert parse_policy(b"version: STSv1\nmode: none\nmax_age: 86400\n").mx == ()


def test_unknown_fields_are_ignored() -> None:
    assert parse_policy(GOOD + b"future_key: some value\r\n").mode == "enforce"


# postfix-mta-sts-resolver's bad-policy table, plus the limits of security.md item 9
BAD_POLICIES = {
    "garbage": b"garbage",
    "no mx in enforce": b"version: STSv1\nmode: enforce\nmax_age: 86400",
    "max_age not a number": b"version: STSv1\nmode: enforce\nmx: mail.loc\nmax_age: xxx",
    "max_age too big": b"version: STSv1\nmode: enforce\nmx: mail.loc\nmax_age: 31557601",
    "no mode": b"version: STSv1\nmx: mail.loc\nmax_age: 86400",
    "unknown mode": b"version: STSv1\nmode: doubt\nmx: mail.loc\nmax_age: 86400",
    "no version": b"mode: enforce\nmx: mail.loc\nmax_age: 86400",
    "wrong version": b"version: STSv2\nmode: enforce\nmx: mail.loc\nmax_age: 86400",
    "negative max_age": b"version: STSv1\nmode: enforce\nmx: mail.loc\nmax_age: -1",
    "mode twice": b"version: STSv1\nmode: testing\nmode: enforce\nmx: a.loc\nmax_age: 1",
    "bad mx": b"version: STSv1\nmode: enforce\nmx: mail..loc\nmax_age: 86400",
    "wildcard inside mx": b"version: STSv1\nmode: enforce\nmx: mail.*.loc\nmax_age: 86400",
    "not ascii": "version: STSv1\nmode: enforce\nmx: mäil.loc\nmax_age: 1".encode(),
    "too big": GOOD + b"x: " + b"y" * (64 * 1024) + b"\n",
}


@pytest.mark.parametrize("name", sorted(BAD_POLICIES))
def test_bad_policies_are_refused(name: str) -> None:
    with pytest.raises(MtaStsError):
        parse_policy(BAD_POLICIES[name])


def test_max_age_limit_itself_is_allowed() -> None:
    body = f"version: STSv1\nmode: enforce\nmx: a.loc\nmax_age: {MAX_AGE_LIMIT}".encode()
    assert parse_policy(body).max_age == MAX_AGE_LIMIT


@pytest.mark.parametrize(
    ("status", "ctype", "size"),
    [
        (301, "text/plain", 10),
        (302, "text/plain", 10),
        (404, "text/plain", 10),
        (200, "text/html", 10),
        (200, None, 10),
        (200, "text/plain", 64 * 1024 + 1),
    ],
)
def test_bad_responses(status: int, ctype: str | None, size: int) -> None:
    with pytest.raises(MtaStsError):
        check_response(status, ctype, size)


def test_text_plain_with_charset_is_fine() -> None:
    check_response(200, "Text/Plain; charset=utf-8", 64 * 1024)


@pytest.mark.parametrize(
    ("pattern", "host", "expected"),
    [
        ("mail.example.com", "mail.example.com", True),
        ("mail.example.com", "MAIL.Example.COM.", True),
        ("*.example.com", "mx1.example.com", True),
        ("*.example.com", "example.com", False),
        ("*.example.com", "a.b.example.com", False),
        ("*.example.com", ".example.com", False),
        ("mail.example.com", "mail.example.com.evil", False),
        ("example.com", "mail.example.com", False),
    ],
)
def test_mx_patterns(pattern: str, host: str, expected: bool) -> None:
    assert mx_matches(pattern, host) is expected


def test_policy_allows_any_pattern() -> None:
    p = parse_policy(GOOD)
    assert policy_allows(p, "x.example.net") and not policy_allows(p, "mx.example.org")


def test_txt_record() -> None:
    assert parse_txt("v=STSv1; id=20160831085700Z;") == TxtRecord("20160831085700Z")
    assert parse_txt("v=STSv1;id=abc").id == "abc"
    assert parse_txt("v=STSv1; id=abc; ext=val").extensions == (("ext", "val"),)


@pytest.mark.parametrize(
    "text",
    [
        "v=STSv1;",  # no id
        "v=STSv1; id=",  # empty id
        "v=STSv1; id=" + "a" * 33,  # id too long
        "v=STSv1; id=ab-c",  # id with a hyphen
        "v=STSv1; id=a; id=b",  # two ids
        "v=STSv1; id=abc; junk",  # field without '='
        "v=STSv1 id=abc",  # no delimiter
    ],
)
def test_bad_txt_records(text: str) -> None:
    with pytest.raises(MtaStsError):
        select_txt([text])


def test_exactly_one_sts_record() -> None:
    assert select_txt(["v=spf1 -all"]) is None
    assert select_txt([]) is None
    assert select_txt(["v=spf1 -all", "v=STSv1; id=1"]) == TxtRecord("1")
    with pytest.raises(MtaStsError, match="exactly one"):
        select_txt(["v=STSv1; id=1", "v=STSv1; id=2"])


def test_cache_rules() -> None:
    cached = CachedPolicy("1", parse_policy(GOOD), fetched_at=1000.0)
    assert not needs_fetch(cached, TxtRecord("1"), 1000.0 + 86399)
    assert needs_fetch(cached, TxtRecord("2"), 1001.0)  # new id: refetch
    assert needs_fetch(cached, TxtRecord("1"), 1000.0 + 86400)  # expired
    assert not needs_fetch(cached, None, 1001.0)  # TXT gone: keep the unexpired policy
    assert needs_fetch(None, TxtRecord("1"), 0.0)
