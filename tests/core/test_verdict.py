"""The transport ladder from observations: weakest MX wins, DANE before MTA-STS."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from e2email.core.mtasts import Policy
from e2email.core.verdict import Dane, MxFacts, Probe, Sts, judge_domain, judge_mx, weakest

NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
KEY = ec.generate_private_key(ec.SECP256R1())


def cert_der(name: str, *, days: int = 30) -> bytes:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(KEY.public_key())
        .serial_number(1)
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(NOW + dt.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(KEY, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.DER)


def tls(host: str, *, verify_error: str | None = None, name: str | None = None) -> Probe:
    chain = (cert_der(name or host),)
    return Probe(
        "192.0.2.1",
        True,
        starttls=True,
        tls_version="TLSv1.3",
        chain=chain,
        verify_error=verify_error,
    )


PLAIN = Probe("192.0.2.2", True, starttls=False)
CLOSED = Probe("192.0.2.3", False, error="connection refused")
NO_STS = Sts("none")
ENFORCE = Sts("enforce", Policy("enforce", 86400, ("*.example.test",)))
TESTING = Sts("testing", Policy("testing", 86400, ("*.example.test",)))


def mx(host: str, *probes: Probe, dane: Dane | None = None, pref: int = 10) -> MxFacts:
    return MxFacts(host, pref, tuple(p.address for p in probes), probes, dane or Dane("insecure"))


def test_verified_tls() -> None:
    v = judge_domain([mx("mx1.example.test", tls("mx1.example.test"))], NO_STS, NOW)
    assert v.verdict == "verified-tls"
    assert "mx1.example.test" in v.reason


def test_valid_primary_and_plaintext_backup_is_plaintext() -> None:
    hosts = [
        mx("mx1.example.test", tls("mx1.example.test")),
        mx("mx2.example.test", PLAIN, pref=20),
    ]
    v = judge_domain(hosts, ENFORCE, NOW)
    assert v.verdict == "plaintext"
    assert "mx2.example.test" in v.reason and "STARTTLS" in v.reason
    assert [m.verdict for m in v.mx] == ["mta-sts", "plaintext"]


@pytest.mark.parametrize(
    ("probe", "expected"),
    [
        (tls("mx1.example.test", verify_error="self-signed certificate"), "unverified-tls"),
        (tls("mx1.example.test", name="other.example.test"), "unverified-tls"),
        (Probe("192.0.2.1", True, starttls=True, handshake_error="alert"), "plaintext"),
        (CLOSED, "unknown"),
    ],
)
def test_one_mx(probe: Probe, expected: str) -> None:
    assert judge_mx(mx("mx1.example.test", probe), NO_STS, NOW).verdict == expected


def test_wrong_name_says_so() -> None:
    v = judge_mx(mx("mx1.example.test", tls("x", name="other.example.test")), NO_STS, NOW)
    assert v.certificate is not None and "not valid for mx1.example.test" in str(
        v.certificate.error
    )


def test_expired_leaf_is_not_valid_even_if_the_adapter_missed_it() -> None:
    probe = tls("mx1.example.test")
    late = NOW + dt.timedelta(days=40)
    assert judge_mx(mx("mx1.example.test", probe), NO_STS, late).verdict == "unverified-tls"


def test_mta_sts_enforce_needs_listed_mx_and_valid_certificate() -> None:
    assert (
        judge_mx(mx("mx1.example.test", tls("mx1.example.test")), ENFORCE, NOW).verdict == "mta-sts"
    )
    unlisted = judge_mx(mx("mx.other.test", tls("mx.other.test")), ENFORCE, NOW)
    assert unlisted.verdict == "verified-tls" and "not listed" in unlisted.reason
    bad = tls("mx1.example.test", verify_error="unable to get local issuer certificate")
    assert judge_mx(mx("mx1.example.test", bad), ENFORCE, NOW).verdict == "unverified-tls"


def test_testing_mode_protects_nothing() -> None:
    assert judge_mx(mx("mx1.example.test", tls("mx1.example.test")), TESTING, NOW).verdict == (
        "verified-tls"
    )


def test_dane_match_and_mismatch() -> None:
    good = mx("mx1.example.test", tls("mx1.example.test"), dane=Dane("match", "3 1 1 ..."))
    assert judge_mx(good, NO_STS, NOW).verdict == "dane"
    # a mismatch caps the MX even with a Web PKI-valid certificate and an MTA-STS listing
    bad = mx("mx1.example.test", tls("mx1.example.test"), dane=Dane("mismatch", "no match"))
    v = judge_mx(bad, ENFORCE, NOW)
    assert v.verdict == "unverified-tls" and v.reason.startswith("DANE failure")


def test_dane_cannot_be_verified_is_never_dane_nor_mta_sts() -> None:
    facts = mx("mx1.example.test", tls("mx1.example.test"), dane=Dane("unknown", "SERVFAIL"))
    v = judge_mx(facts, ENFORCE, NOW)
    assert v.verdict == "verified-tls" and "cannot be verified" in v.reason


def test_unusable_tlsa_is_mandatory_unauthenticated_tls() -> None:
    facts = mx("mx1.example.test", tls("x", name="other.test"), dane=Dane("unusable"))
    v = judge_mx(facts, NO_STS, NOW)
    assert v.verdict == "unverified-tls" and "unusable" in v.reason


def test_mixed_dane_and_mta_sts_gives_the_weaker() -> None:
    hosts = [
        mx("mx1.example.test", tls("mx1.example.test"), dane=Dane("match")),
        mx("mx2.example.test", tls("mx2.example.test")),
    ]
    assert judge_domain(hosts, ENFORCE, NOW).verdict == "mta-sts"


def test_unreachable_address_does_not_decide_when_another_answers() -> None:
    facts = mx("mx1.example.test", CLOSED, tls("mx1.example.test"))
    assert judge_mx(facts, NO_STS, NOW).verdict == "verified-tls"


def test_closed_port_is_unknown_and_says_why() -> None:
    v = judge_domain([mx("mx1.example.test", CLOSED)], NO_STS, NOW)
    assert v.verdict == "unknown" and "connection refused" in v.reason


def test_dns_error_and_no_mx() -> None:
    facts = MxFacts("mx1.example.test", 10, error="cannot resolve mx1.example.test")
    assert judge_domain([facts], NO_STS, NOW).verdict == "unknown"
    assert judge_domain([], NO_STS, NOW).verdict == "unknown"


def test_weakest() -> None:
    assert weakest(["dane", "plaintext", "mta-sts"]) == "plaintext"
    assert weakest([]) == "unknown"
