"""Per-recipient decisions and the transport ladder."""

from __future__ import annotations

import pytest

from e2email.config import PolicySettings, RecipientPolicy
from e2email.core import policy
from e2email.model import Action, Address, Key, Protocol, Recipient, Role

BOB = Recipient(Address("bob", "example.test"), Role.TO)
KEY = Key(Protocol.OPENPGP, "A" * 40, "local")


def test_key_means_openpgp() -> None:
    d = policy.decide(BOB, KEY, (), encrypt="opportunistic", floor="dane", verdict=None)
    assert d.action is Action.OPENPGP and d.key == KEY


def test_required_without_key_refuses_with_67() -> None:
    d = policy.decide(BOB, None, (), encrypt="required", floor="unknown", verdict="dane")
    assert d.action is Action.REFUSE and d.reason == policy.NO_KEY
    assert policy.refusal_exit_code((d,)) == 67


@pytest.mark.parametrize(
    ("verdict", "floor", "allowed"),
    [
        ("verified-tls", "verified-tls", True),
        ("dane", "verified-tls", True),
        ("unverified-tls", "verified-tls", False),
        ("plaintext", "unverified-tls", False),
        ("unknown", "verified-tls", False),
        ("unknown", "unknown", True),
    ],
)
def test_opportunistic_follows_the_floor(verdict: str, floor: str, allowed: bool) -> None:
    d = policy.decide(BOB, None, (), encrypt="opportunistic", floor=floor, verdict=verdict)
    assert (d.action is Action.CLEARTEXT) is allowed
    if not allowed:
        assert d.reason is not None and verdict in d.reason and "example.test" in d.reason
        assert policy.refusal_exit_code((d,)) == 77


def test_overrides_address_beats_domain() -> None:
    p = PolicySettings(
        recipients={
            "example.test": RecipientPolicy(encrypt="never"),
            "bob@example.test": RecipientPolicy(encrypt="required", transport_floor="dane"),
        }
    )
    assert policy.effective(p, BOB) == ("required", "dane")
    carol = Recipient(Address("carol", "EXAMPLE.test"), Role.CC)
    assert policy.effective(p, carol) == ("never", "verified-tls")
