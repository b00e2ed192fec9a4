"""security.md item 9: the DNSSEC AD bit counts only from a loopback resolver ("auto") or one the
user explicitly trusts. A resolver across a network could be impersonated on the way, and its
AD bit with it; DANE built on that bit would be worth nothing.
"""

from __future__ import annotations

from typing import Any

import pytest

from e2email.adapters.dns import Resolver


@pytest.mark.parametrize(
    ("servers", "trusted"),
    [
        (("127.0.0.1:53",), True),
        (("127.9.8.7",), True),
        (("[::1]:53",), True),
        (("192.0.2.53",), False),  # a resolver elsewhere on the network
        (("127.0.0.1", "192.0.2.53"), False),  # one non-loopback server spoils the list
        (("resolver.example.test",), False),  # a name is not an address on loopback
        ((), False),  # the system resolver: where it is is not known
    ],
)
def test_auto_trusts_only_loopback(servers: tuple[str, ...], trusted: bool) -> None:
    assert Resolver(servers).trust_ad is trusted  # built without sending a single query


def test_an_explicit_setting_wins() -> None:
    assert Resolver(("192.0.2.53",), trust_ad=True).trust_ad is True
    assert Resolver(("127.0.0.1",), trust_ad=False).trust_ad is False


def test_an_untrusted_ad_bit_never_reads_as_secure(stack: Any) -> None:
    # the same validating resolver, the same signed zone: only the trust decision differs
    trusted = Resolver((stack.nameserver,)).query("example.test", "MX")
    assert trusted.security == "secure" and trusted.records
    untrusted = Resolver((stack.nameserver,), trust_ad=False).query("example.test", "MX")
    assert untrusted.security == "unknown" and untrusted.records
