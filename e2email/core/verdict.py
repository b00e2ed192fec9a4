"""From what was observed along a domain's MX path to one verdict on the ladder of contract.md.

Pure: observations in (DNS facts, what each MX address said and presented, the MTA-STS
policy), verdicts and short human reasons out. The rules:

* every MX host counts, backup MX included, and the weakest MX decides (RFC 5321 5.1: a
  sender may use any of them);
* an MX whose every address could not be reached is ``unknown`` (port 25 is often blocked
  by the ISP of the machine running the check); an address that fails while another
  address of the same host answers does not decide;
* no STARTTLS, or STARTTLS whose handshake fails, is ``plaintext``: an opportunistic sender
  delivers in clear;
* DANE before MTA-STS (RFC 8461 2): when a DNSSEC-secure TLSA RRset exists, it alone decides
  whether the MX is authenticated; a mismatch is reported as a DANE failure and caps the MX
  at ``unverified-tls``, whatever else is true, and MTA-STS cannot override it;
* MTA-STS counts only in ``enforce`` mode, for an MX the policy lists, with a certificate
  valid for the MX name (RFC 8461 4.1, 4.2); ``testing`` protects nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from cryptography import x509

from e2email.config import TRANSPORT_LADDER as LADDER
from e2email.core.hostnames import certificate_matches
from e2email.core.mtasts import Policy, policy_allows

Verdict = Literal["unknown", "plaintext", "unverified-tls", "verified-tls", "mta-sts", "dane"]
DaneState = Literal["match", "mismatch", "unusable", "none", "insecure", "unknown"]
StsMode = Literal["enforce", "testing", "none", "invalid"]


@dataclass(frozen=True)
class Probe:
    """What one address of an MX host said on the probe port (adapters/mxprobe.py)."""

    address: str
    reachable: bool
    error: str | None = None
    starttls: bool | None = None
    tls_version: str | None = None
    cipher: str | None = None
    handshake_error: str | None = None
    chain: tuple[bytes, ...] = ()
    verify_error: str | None = None

    @property
    def tls(self) -> bool:
        """STARTTLS offered and the handshake completed."""
        return bool(self.starttls) and self.handshake_error is None and bool(self.chain)


@dataclass(frozen=True)
class Certificate:
    """The leaf certificate as judged for one MX name."""

    valid: bool
    error: str | None
    not_after: datetime | None
    subject: str | None


@dataclass(frozen=True)
class Dane:
    """DANE for one MX: the state and a short detail (``records`` are the TLSA texts)."""

    state: DaneState
    detail: str = ""
    records: tuple[str, ...] = ()


@dataclass(frozen=True)
class MxFacts:
    """Everything known about one MX host."""

    host: str
    preference: int
    addresses: tuple[str, ...] = ()
    probes: tuple[Probe, ...] = ()
    dane: Dane = field(default_factory=lambda: Dane("insecure"))
    error: str | None = None  # resolving the host failed


@dataclass(frozen=True)
class Sts:
    """The MTA-STS state of the domain (contract.md ``mta_sts``)."""

    mode: StsMode
    policy: Policy | None = None
    error: str | None = None
    cached: bool = False


@dataclass(frozen=True)
class MxVerdict:
    """One MX host's verdict and why."""

    facts: MxFacts
    verdict: Verdict
    reason: str
    certificate: Certificate | None = None
    probe: Probe | None = None
    sts_listed: bool | None = None


def weakest(verdicts: Sequence[str]) -> str:
    """The lowest verdict on the ladder (``unknown`` for none)."""
    return min(verdicts, key=LADDER.index, default="unknown")


def judge_certificate(probe: Probe, host: str, now: datetime) -> Certificate | None:
    """The leaf of ``probe``'s chain: chain verification by the adapter, name check here."""
    if not probe.chain:
        return None
    try:
        leaf = x509.load_der_x509_certificate(probe.chain[0])
    except ValueError as e:
        return Certificate(False, f"unparseable certificate: {e}", None, None)
    error = probe.verify_error
    if error is None and not certificate_matches(leaf, [host]):
        error = f"certificate is not valid for {host}"
    if error is None and not leaf.not_valid_before_utc <= now <= leaf.not_valid_after_utc:
        error = "certificate is outside its validity period"
    subject = leaf.subject.rfc4514_string() or None
    return Certificate(error is None, error, leaf.not_valid_after_utc, subject)


def judge_mx(mx: MxFacts, sts: Sts, now: datetime) -> MxVerdict:
    """The verdict of one MX host: the weakest of its reachable addresses."""
    if mx.error:
        return MxVerdict(mx, "unknown", mx.error)
    reachable = [p for p in mx.probes if p.reachable and p.starttls is not None]
    if not reachable:
        why = "; ".join(f"{p.address}: {p.error}" for p in mx.probes) or "no address to probe"
        return MxVerdict(mx, "unknown", f"not observed ({why})")
    judged = [_judge_address(mx, p, sts, now) for p in reachable]
    return min(judged, key=lambda v: LADDER.index(v.verdict))


def _judge_address(mx: MxFacts, probe: Probe, sts: Sts, now: datetime) -> MxVerdict:
    if not probe.starttls:
        return MxVerdict(mx, "plaintext", "does not offer STARTTLS", probe=probe)
    if not probe.tls:
        why = probe.handshake_error or "no certificate"
        return MxVerdict(mx, "plaintext", f"STARTTLS failed ({why})", probe=probe)
    cert = judge_certificate(probe, mx.host, now)
    tls_verdict: Verdict = "verified-tls" if cert and cert.valid else "unverified-tls"
    cert_note = "valid certificate" if cert and cert.valid else _cert_error(cert)
    listed = policy_allows(sts.policy, mx.host) if sts.policy else None
    verdict, reason = _authenticated(mx, sts, listed, tls_verdict, cert_note)
    return MxVerdict(mx, verdict, reason, cert, probe, listed)


def _cert_error(cert: Certificate | None) -> str:
    return (cert.error if cert else None) or "certificate not verified"


def _authenticated(
    mx: MxFacts, sts: Sts, listed: bool | None, tls_verdict: Verdict, cert_note: str
) -> tuple[Verdict, str]:
    dane = mx.dane
    if dane.state in ("match", "mismatch", "unusable", "unknown"):
        return _by_dane(dane, tls_verdict, cert_note)
    if sts.mode == "enforce" and tls_verdict == "verified-tls":
        if listed:
            return "mta-sts", "MTA-STS enforce, listed in the policy, valid certificate"
        return tls_verdict, "valid certificate, but not listed in the MTA-STS policy"
    return tls_verdict, f"STARTTLS, {cert_note}"


def _by_dane(dane: Dane, tls_verdict: Verdict, cert_note: str) -> tuple[Verdict, str]:
    """RFC 7672 decides alone once a secure TLSA RRset exists (or its lookup failed)."""
    if dane.state == "match":
        return "dane", f"DANE: {dane.detail}"
    if dane.state == "mismatch":
        return "unverified-tls", f"DANE failure: {dane.detail}"
    if dane.state == "unusable":
        return (
            tls_verdict,
            f"TLSA records unusable, TLS required but not authenticated; {cert_note}",
        )
    return tls_verdict, f"DANE cannot be verified ({dane.detail}); {cert_note}"


@dataclass(frozen=True)
class DomainVerdict:
    """The verdict for a domain and the per-MX verdicts it came from."""

    verdict: Verdict
    reason: str
    mx: tuple[MxVerdict, ...]


def judge_domain(mx: Sequence[MxFacts], sts: Sts, now: datetime) -> DomainVerdict:
    """Weakest MX wins; the reason names the MX that decided (contract.md ladder)."""
    if not mx:
        return DomainVerdict("unknown", "no MX host to deliver to", ())
    judged = tuple(judge_mx(m, sts, now) for m in mx)
    worst = min(judged, key=lambda v: LADDER.index(v.verdict))
    if len(judged) == 1:
        reason = f"{worst.facts.host}: {worst.reason}"
    else:
        reason = f"weakest of {len(judged)} MX is {worst.facts.host}: {worst.reason}"
    return DomainVerdict(worst.verdict, reason, judged)
