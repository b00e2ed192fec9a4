"""The transport check against real servers: Knot + Unbound (DNSSEC), Postfix MX listeners,
the HTTPS server for MTA-STS. Each case is one domain of tests/services/transport_scenarios.py.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Any

import pytest

from e2email import config
from e2email.services.runtime import Runtime
from e2email.services.transport import mxpath
from e2email.services.transport import verdicts as transport
from e2email.services.transport.check import check
from e2email.services.transport.mxpath import DomainReport

from .transport_scenarios import ZONE, Scenarios, scenarios_fixture  # noqa: F401


def runtime(sc: Scenarios, tmp_path: Path, extra: str = "", probe_timeout: float = 3) -> Runtime:
    return Runtime(config.load(str(sc.config(tmp_path, extra, probe_timeout))))


def one(
    sc: Scenarios, tmp_path: Path, label: str, extra: str = "", probe_timeout: float = 3
) -> DomainReport:
    [report] = check(runtime(sc, tmp_path, extra, probe_timeout), [f"{label}.{ZONE}"])
    return report


@pytest.mark.parametrize(
    ("label", "verdict", "cert_valid", "error_part"),
    [
        ("valid", "verified-tls", True, None),
        ("selfsigned", "unverified-tls", False, "self-signed"),
        ("wronghost", "unverified-tls", False, "not valid for mxwh.transport.test"),
        ("expired", "unverified-tls", False, "expired"),
    ],
)
def test_certificates(
    scenarios: Scenarios,
    tmp_path: Path,
    label: str,
    verdict: str,
    cert_valid: bool,
    error_part: str | None,
) -> None:
    r = one(scenarios, tmp_path, label)
    assert r.verdict == verdict, r.reason
    [mx] = r.judged.mx
    assert mx.certificate is not None and mx.certificate.valid is cert_valid
    if error_part:
        assert error_part in str(mx.certificate.error)
    assert mx.probe is not None and mx.probe.tls_version in ("TLSv1.2", "TLSv1.3")
    assert r.dnssec == "secure"


def test_no_starttls_is_plaintext(scenarios: Scenarios, tmp_path: Path) -> None:
    r = one(scenarios, tmp_path, "plain")
    assert r.verdict == "plaintext" and "does not offer STARTTLS" in r.reason


def test_valid_primary_with_plaintext_backup_is_plaintext(
    scenarios: Scenarios, tmp_path: Path
) -> None:
    r = one(scenarios, tmp_path, "backup")
    assert r.verdict == "plaintext"
    assert [(m.facts.host, m.verdict) for m in r.judged.mx] == [
        (f"mxv.{ZONE}", "verified-tls"),
        (f"mxplain.{ZONE}", "plaintext"),
    ]
    assert f"mxplain.{ZONE}" in r.reason


def test_closed_port_is_unknown_and_dns_facts_remain(scenarios: Scenarios, tmp_path: Path) -> None:
    r = one(scenarios, tmp_path, "closed")
    assert r.verdict == "unknown"
    assert "port 25 closed" in r.reason
    assert r.dnssec == "secure"  # what DNS said is still reported
    assert r.judged.mx[0].facts.dane.state == "none"


@pytest.mark.parametrize(
    ("label", "why"), [("noehlo", "EHLO refused: 5"), ("rejecting", "greeting 5")]
)
def test_a_server_that_refuses_to_talk_is_unknown_not_plaintext(
    scenarios: Scenarios, tmp_path: Path, label: str, why: str
) -> None:
    r = one(scenarios, tmp_path, label)
    assert r.verdict == "unknown" and why in r.reason


def test_a_silent_server_costs_the_probe_timeout_not_more(
    scenarios: Scenarios, tmp_path: Path
) -> None:
    # accepts the connection (the kernel does) but never greets: nothing a real MTA does
    with socket.create_server((scenarios.silent_ip, 25)):
        t0 = time.monotonic()
        r = one(scenarios, tmp_path, "silent", probe_timeout=1)
        elapsed = time.monotonic() - t0
    assert r.verdict == "unknown" and "timed out" in r.reason
    assert elapsed < 5.0  # 1 s probe timeout plus room for a loaded machine (default: 10 s)


def test_dane_ee_match(scenarios: Scenarios, tmp_path: Path) -> None:
    r = one(scenarios, tmp_path, "dane")
    assert r.verdict == "dane", r.reason
    [mx] = r.judged.mx
    assert mx.facts.dane.state == "match" and mx.facts.dane.records
    # DANE-EE ignores names: the certificate names mxv, not mxdane, and still authenticates
    assert mx.certificate is not None and not mx.certificate.valid


def test_dane_ta_match_with_the_chain_the_server_sent(scenarios: Scenarios, tmp_path: Path) -> None:
    r = one(scenarios, tmp_path, "daneta")
    assert r.verdict == "dane", r.reason
    assert "DANE-TA" in r.judged.mx[0].facts.dane.detail


def test_tlsa_mismatch_is_a_dane_failure_never_dane(scenarios: Scenarios, tmp_path: Path) -> None:
    r = one(scenarios, tmp_path, "danebad")
    assert r.verdict == "unverified-tls"
    assert r.judged.mx[0].facts.dane.state == "mismatch"
    assert "DANE failure" in r.reason


def test_unusable_tlsa_means_tls_but_not_dane(scenarios: Scenarios, tmp_path: Path) -> None:
    r = one(scenarios, tmp_path, "daneunusable")
    assert r.verdict != "dane" and r.judged.mx[0].facts.dane.state == "unusable"


def test_tlsa_servfail_is_cannot_verify_not_no_dane(scenarios: Scenarios, tmp_path: Path) -> None:
    # the TLSA zone's DS matches no key: SERVFAIL, and with CD the data is there: bogus
    r = one(scenarios, tmp_path, "servfail")
    dane = r.judged.mx[0].facts.dane
    assert dane.state == "unknown" and "DNSSEC-bogus (SERVFAIL)" in dane.detail
    assert r.verdict not in ("dane", "mta-sts")


def test_unsigned_zone_is_never_dane(scenarios: Scenarios, tmp_path: Path) -> None:
    [r] = check(runtime(scenarios, tmp_path), ["transport-insecure.test"])
    assert r.dnssec == "insecure"
    assert r.verdict == "unverified-tls"  # the certificate names mxv.transport.test
    assert r.judged.mx[0].facts.dane.state == "insecure"


def test_bogus_zone_is_bogus_and_unknown_never_dane(scenarios: Scenarios, tmp_path: Path) -> None:
    [r] = check(runtime(scenarios, tmp_path), ["bogus.test"])
    assert (r.verdict, r.dnssec) == ("unknown", "bogus")
    assert "cannot be verified" in r.reason


def test_without_trusted_ad_dane_does_not_count(scenarios: Scenarios, tmp_path: Path) -> None:
    r = one(scenarios, tmp_path, "dane", extra="trust_ad = false\n")
    assert r.dnssec == "unknown" and r.verdict != "dane"


def test_mta_sts_enforce(scenarios: Scenarios, tmp_path: Path) -> None:
    r = one(scenarios, tmp_path, "sts")
    assert r.verdict == "mta-sts", r.reason
    assert r.sts.mode == "enforce" and r.sts.policy is not None
    assert r.tls_rpt == ("mailto:tlsrpt@sts.transport.test",)


def test_mta_sts_testing_protects_nothing(scenarios: Scenarios, tmp_path: Path) -> None:
    r = one(scenarios, tmp_path, "ststesting")
    assert r.sts.mode == "testing" and r.verdict == "verified-tls"


@pytest.mark.parametrize(
    ("label", "why"),
    [
        ("stsnomx", "lists no mx"),
        ("stsmaxage", "max_age 31557601"),
        ("stshtml", "text/html"),
        ("stsredirect", "redirect"),
        ("stsbig", "exceeds"),
        ("stsbadcert", "certificate"),
        ("stsbadtxt", "bad TXT"),
        ("ststwotxt", "exactly one"),
    ],
)
def test_bad_policies_are_invalid(
    scenarios: Scenarios, tmp_path: Path, label: str, why: str
) -> None:
    r = one(scenarios, tmp_path, label)
    assert r.sts.mode == "invalid", r.sts
    assert why in str(r.sts.error)
    assert r.verdict == "verified-tls"


def test_policy_cache_survives_a_failed_refresh(
    scenarios: Scenarios, stack: Any, tmp_path: Path
) -> None:
    rt = runtime(scenarios, tmp_path)
    domain = f"stscache.{ZONE}"
    host = f"mta-sts.{domain}"
    assert mxpath.observe(rt, domain).sts.mode == "enforce"
    stack.https.respond(host, "/.well-known/mta-sts.txt", 503, b"down")
    try:
        cached = mxpath.observe(rt, domain).sts  # same id: no fetch at all
        assert (cached.mode, cached.cached, cached.error) == ("enforce", True, None)
        records = [r.replace('"v=STSv1; id=1"', '"v=STSv1; id=2"') for r in stack.dns.records(ZONE)]
        stack.dns.set_records(ZONE, records)
        stale = mxpath.observe(rt, domain)  # new id, refresh fails: keep the cached policy
        assert stale.sts.mode == "enforce" and stale.sts.cached
        assert "HTTP 503" in str(stale.sts.error)
        assert stale.verdict == "mta-sts"
    finally:
        del stack.https.canned[(host, "/.well-known/mta-sts.txt")]


def test_verdicts_are_cached_briefly(scenarios: Scenarios, tmp_path: Path) -> None:
    rt = runtime(scenarios, tmp_path)
    domain = f"valid.{ZONE}"
    transport._memo.pop(domain, None)
    first = transport.verdict_for(rt, domain)
    t0 = time.monotonic()
    again = transport.verdict_for(rt, domain)
    assert again == first and time.monotonic() - t0 < 0.05


def test_many_domains_at_once(scenarios: Scenarios, tmp_path: Path) -> None:
    labels = ["valid", "plain", "backup", "dane", "sts", "closed", "selfsigned", "expired"]
    reports = check(runtime(scenarios, tmp_path), [f"bob@{x}.{ZONE}" for x in labels])
    assert [r.domain for r in reports] == [f"{x}.{ZONE}" for x in labels]
    verdicts = [r.verdict for r in reports]
    assert verdicts == [
        "verified-tls",
        "plaintext",
        "plaintext",
        "dane",
        "mta-sts",
        "unknown",
        "unverified-tls",
        "unverified-tls",
    ]
