"""Strict address parsing and header-value checks (security.md item 7)."""

from __future__ import annotations

import pytest

from e2email.core.addresses import (
    check_header_value,
    parse_addr_spec,
    parse_mailbox,
    parse_recipient_argument,
)
from e2email.errors import HeaderInjectionError, MessageError, UsageError
from e2email.model import Address


@pytest.mark.parametrize(
    ("text", "name", "address"),
    [
        ("bob@example.test", "", Address("bob", "example.test")),
        ("Bob <bob@example.test>", "Bob", Address("bob", "example.test")),
        (
            '"Doe, John" <j.doe+tag@mail.example.test>',
            "Doe, John",
            Address("j.doe+tag", "mail.example.test"),
        ),
        ("jörg@exämple.test", "", Address("jörg", "exämple.test")),
        ('"quoted local"@example.test', "", Address('"quoted local"', "example.test")),
    ],
)
def test_valid(text: str, name: str, address: Address) -> None:
    assert parse_mailbox(text) == (name, address)


@pytest.mark.parametrize(
    "text",
    [
        "alice@example.org)<bob@example.org>",  # CVE-2023-27043 shape
        "bob",
        "bob@",
        "@example.test",
        "bob@-bad.test",
        "bob@@example.test",
        "a b@example.test",
        "bob@example..test",
        "x" * 65 + "@example.test",
    ],
)
def test_invalid(text: str) -> None:
    with pytest.raises(MessageError):
        parse_mailbox(text)


@pytest.mark.parametrize(
    "text", ["bob@example.test\r\nBcc: eve@evil.test", "Bob\n <bob@example.test>"]
)
def test_line_breaks_are_injection(text: str) -> None:
    with pytest.raises(HeaderInjectionError):
        parse_mailbox(text)


def test_header_value_with_newline_refused() -> None:
    # what CPython 3.11.7 would serialise as a real Bcc line (CVE-2024-6923)
    with pytest.raises(HeaderInjectionError) as e:
        check_header_value("Subject", "hi\nBcc: evil@x.test")
    assert e.value.exit_code == 65


def test_recipient_argument_starting_with_dash_is_usage_error() -> None:
    with pytest.raises(UsageError):
        parse_recipient_argument("-oQ/tmp/x")
    assert parse_recipient_argument("bob@example.test") == Address("bob", "example.test")


def test_address_match_is_exact_on_local_part() -> None:
    a = parse_addr_spec("Bob@Example.TEST")
    assert a.matches(Address("Bob", "example.test"))
    assert not a.matches(Address("bob", "example.test"))
