"""DANE-TA path checks, TLSA behind CNAMEs and DNSSEC failures, against real servers.

Knot signs ``danepath.test``, Unbound validates, Postfix presents the chains built in
tests/services/dane_scenarios.py.
"""

from __future__ import annotations

from pathlib import Path

from e2email import config
from e2email.services.runtime import Runtime
from e2email.services.transport.check import check
from e2email.services.transport.mxpath import DomainReport

from .dane_scenarios import INDETERMINATE, ZONE, DaneScenarios, dane_scenarios_fixture  # noqa: F401


def one(sc: DaneScenarios, tmp_path: Path, domain: str, extra: str = "") -> DomainReport:
    rt = Runtime(config.load(str(sc.config(tmp_path, extra))))
    [report] = check(rt, [domain])
    return report


# -- DANE-TA: the path up to the trust anchor ----------------------------------------------


def test_three_level_chain_up_to_the_published_ca_is_dane(
    dane_scenarios: DaneScenarios, tmp_path: Path
) -> None:
    r = one(dane_scenarios, tmp_path, f"good3.{ZONE}")
    assert r.verdict == "dane", r.reason
    assert "DANE-TA" in r.judged.mx[0].facts.dane.detail
    assert "at depth 2" in r.judged.mx[0].facts.dane.detail


def test_intermediate_without_ca_true_is_a_dane_failure(
    dane_scenarios: DaneScenarios, tmp_path: Path
) -> None:
    r = one(dane_scenarios, tmp_path, f"noca.{ZONE}")
    dane = r.judged.mx[0].facts.dane
    assert dane.state == "mismatch", dane
    assert "is not a CA (basicConstraints CA:FALSE)" in dane.detail
    assert r.verdict == "unverified-tls"  # and MTA-STS or Web PKI cannot lift it


def test_expired_intermediate_is_a_dane_failure(
    dane_scenarios: DaneScenarios, tmp_path: Path
) -> None:
    r = one(dane_scenarios, tmp_path, f"expint.{ZONE}")
    dane = r.judged.mx[0].facts.dane
    assert dane.state == "mismatch" and "outside its validity period" in dane.detail
    assert r.verdict == "unverified-tls"


# -- RFC 7672 2.2.2: TLSA behind a CNAME ------------------------------------------------------


def test_tlsa_at_the_cname_target_and_its_name_as_reference_identifier(
    dane_scenarios: DaneScenarios, tmp_path: Path
) -> None:
    r = one(dane_scenarios, tmp_path, f"alias-ta.{ZONE}")
    [mx] = r.judged.mx
    assert mx.facts.host == f"mxalias-ta.{ZONE}"
    assert r.verdict == "dane", r.reason
    assert f"TLSA at the CNAME target mxtarget.{ZONE}" in mx.facts.dane.detail
    # the leaf names only the target: the Web PKI check on the MX name fails, DANE-TA passes
    assert mx.certificate is not None and not mx.certificate.valid


def test_no_tlsa_at_the_target_falls_back_to_the_mx_host_name(
    dane_scenarios: DaneScenarios, tmp_path: Path
) -> None:
    r = one(dane_scenarios, tmp_path, f"alias-orig.{ZONE}")
    dane = r.judged.mx[0].facts.dane
    assert r.verdict == "dane", r.reason
    assert dane.state == "match" and "CNAME target" not in dane.detail


def test_tlsa_at_the_target_wins_over_the_mx_host_name(
    dane_scenarios: DaneScenarios, tmp_path: Path
) -> None:
    # the target's RRset matches nothing; the original name's would have matched
    r = one(dane_scenarios, tmp_path, f"alias-both.{ZONE}")
    dane = r.judged.mx[0].facts.dane
    assert dane.state == "mismatch" and f"CNAME target mxt-both.{ZONE}" in dane.detail
    assert dane.records == ("3 1 1 " + "00" * 32,)
    assert r.verdict == "unverified-tls"


def test_failed_tlsa_lookup_at_the_target_does_not_fall_back(
    dane_scenarios: DaneScenarios, tmp_path: Path
) -> None:
    # the MX host name has a matching TLSA RRset, but the target's lookup is bogus:
    # "cannot verify", never a quiet switch to the other RRset
    r = one(dane_scenarios, tmp_path, f"alias-sf.{ZONE}")
    dane = r.judged.mx[0].facts.dane
    assert dane.state == "unknown" and not dane.records
    assert f"DNSSEC-bogus (SERVFAIL) at the CNAME target mxt-sf.{ZONE}" in dane.detail
    assert r.verdict not in ("dane", "mta-sts")


def test_cname_into_an_unsigned_zone_ignores_tlsa_at_the_signed_name(
    dane_scenarios: DaneScenarios, tmp_path: Path
) -> None:
    r = one(dane_scenarios, tmp_path, f"alias-insecure.{ZONE}")
    dane = r.judged.mx[0].facts.dane
    assert dane.state == "insecure" and not dane.records
    assert r.verdict != "dane"


# -- DNSSEC: bogus vs indeterminate -------------------------------------------------------


def test_bogus_mx_rrset_says_bogus_and_unknown(
    dane_scenarios: DaneScenarios, tmp_path: Path
) -> None:
    r = one(dane_scenarios, tmp_path, "bogus.test")
    assert (r.verdict, r.dnssec) == ("unknown", "bogus")
    assert "fails DNSSEC validation (bogus)" in r.reason and "cannot be verified" in r.reason


def test_bogus_without_a_trusted_ad_bit_is_only_unknown(
    dane_scenarios: DaneScenarios, tmp_path: Path
) -> None:
    # an untrusted resolver's SERVFAIL proves nothing about the data: no CD retry
    r = one(dane_scenarios, tmp_path, "bogus.test", extra="trust_ad = false\n")
    assert (r.verdict, r.dnssec) == ("unknown", "unknown")


def test_indeterminate_is_unknown_not_bogus(dane_scenarios: DaneScenarios, tmp_path: Path) -> None:
    r = one(dane_scenarios, tmp_path, INDETERMINATE)
    assert (r.verdict, r.dnssec) == ("unknown", "unknown")
    assert "bogus" not in r.reason and "cannot be verified" in r.reason


def test_mx_host_in_a_bogus_zone_is_unknown_never_dane(
    dane_scenarios: DaneScenarios, tmp_path: Path
) -> None:
    r = one(dane_scenarios, tmp_path, f"bogushost.{ZONE}")
    assert r.dnssec == "secure"  # the MX RRset itself validates
    [mx] = r.judged.mx
    assert mx.verdict == "unknown" and "failed DNSSEC validation (bogus" in mx.reason
    assert r.verdict == "unknown"
