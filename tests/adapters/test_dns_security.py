"""adapters/dns.py against Knot + Unbound: secure, insecure, bogus and "cannot know".

A validating resolver answers SERVFAIL both for data that fails validation and for data it
cannot get; the adapter tells them apart by asking again with CD (RFC 4035 3.2.2).
"""

from __future__ import annotations

from typing import Any, Literal

import pytest

from e2email.adapters.dns import DnsFailure, Resolver
from tests.services.dane_scenarios import (  # noqa: F401
    INDETERMINATE,
    ZONE,
    DaneScenarios,
    dane_scenarios_fixture,
)


def resolver(stack: Any, trust_ad: Literal["auto"] | bool = "auto") -> Resolver:
    return Resolver((stack.nameserver,), trust_ad=trust_ad, timeout=5)


def test_signed_unsigned_and_nxdomain(stack: Any) -> None:
    r = resolver(stack)
    assert r.query("example.test", "MX").security == "secure"
    assert r.query("insecure.test", "MX").security == "insecure"
    missing = r.query("nothere.example.test", "A")
    assert missing.nxdomain and missing.security == "secure"


@pytest.mark.parametrize("rdtype", ["MX", "A", "TLSA"])
def test_bogus_data_raises_bogus_and_is_never_returned(stack: Any, rdtype: str) -> None:
    # TLSA: NODATA under a wrong DS is bogus too (the denial fails validation)
    with pytest.raises(DnsFailure) as caught:
        resolver(stack).query("bogus.test", rdtype)
    assert caught.value.security == "bogus" and caught.value.bogus and caught.value.servfail
    assert "failed DNSSEC validation" in str(caught.value)


def test_bogus_nxdomain_is_bogus(stack: Any) -> None:
    with pytest.raises(DnsFailure) as caught:
        resolver(stack).query("nothere.bogus.test", "A")
    assert caught.value.security == "bogus"


def test_servfail_with_and_without_cd_is_unknown(stack: Any, dane_scenarios: DaneScenarios) -> None:
    with pytest.raises(DnsFailure) as caught:
        resolver(stack).query(INDETERMINATE, "MX")
    assert (caught.value.security, caught.value.servfail) == ("unknown", True)
    assert "bogus" not in str(caught.value)


def test_untrusted_ad_bit_never_claims_bogus(stack: Any) -> None:
    r = resolver(stack, trust_ad=False)
    assert r.query("example.test", "MX").security == "unknown"
    with pytest.raises(DnsFailure) as caught:
        r.query("bogus.test", "MX")
    assert caught.value.security == "unknown"


def test_canonical_name_follows_a_cname(stack: Any, dane_scenarios: DaneScenarios) -> None:
    r = resolver(stack)
    alias = r.query(f"MXALIAS-TA.{ZONE}.", "A")
    assert alias.canonical == f"mxtarget.{ZONE}" and alias.security == "secure"
    assert alias.records and alias.name == f"MXALIAS-TA.{ZONE}."
    plain = r.query(f"mxtarget.{ZONE}", "A")
    assert plain.canonical == f"mxtarget.{ZONE}"
