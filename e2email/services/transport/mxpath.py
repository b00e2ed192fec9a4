"""Observe a domain's whole MX path (contract.md ladder), for ``check`` and ``send``.

One domain: MX lookup (implicit MX when there is none), for every MX host its addresses and,
when the MX and address RRsets are DNSSEC-secure, its TLSA RRset (at the CNAME-expanded
name first, RFC 7672 2.2.2); a probe of every address on ``network.smtp_probe_port``;
MTA-STS and TLS-RPT. Everything that can overlap runs in
threads under one time budget per domain; many domains run side by side. The decision
itself is ``core/verdict.py``; the short-lived verdict cache is ``transport/verdicts.py``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from e2email.adapters import mxprobe
from e2email.adapters.dns import DnsFailure, Security
from e2email.adapters.store.transport_cache import TransportCache
from e2email.core import dane
from e2email.core.verdict import Dane, DomainVerdict, MxFacts, Probe, Sts, judge_domain
from e2email.services.runtime import Runtime
from e2email.services.transport import sts_policy

T = TypeVar("T")


@dataclass(frozen=True)
class DomainReport:
    """Everything ``check`` shows for one domain."""

    domain: str
    judged: DomainVerdict
    dnssec: Security
    sts: Sts
    tls_rpt: tuple[str, ...] | None
    tls_rpt_error: str | None
    implicit_mx: bool
    elapsed: float

    @property
    def verdict(self) -> str:
        """The domain's verdict."""
        return self.judged.verdict

    @property
    def reason(self) -> str:
        """Why, in one line."""
        return self.judged.reason


@dataclass(frozen=True)
class _MxDns:
    """The DNS half of one MX host: addresses and TLSA, before any probe.

    ``names`` are the DANE reference identifiers (RFC 7672 3.2.2): the MX host name and,
    behind a secure CNAME, the expanded name. ``sni`` is the TLSA base domain when TLSA
    records were found (RFC 7672 8.1), else the MX host name.
    """

    host: str
    preference: int
    addresses: tuple[str, ...]
    tlsa: tuple[dane.Tlsa, ...] | None
    dane: Dane
    error: str | None = None
    names: tuple[str, ...] = ()
    sni: str = ""


def _mx_hosts(rt: Runtime, domain: str) -> tuple[list[tuple[int, str]], Security, bool, str | None]:
    """[(preference, host)], the MX RRset's DNSSEC state, implicit?, or the reason for none."""
    try:
        answer = rt.resolver.query(domain, "MX")
    except DnsFailure as e:
        # RFC 7672 2.1.1: a "bogus" or "indeterminate" MX RRset is a DNS lookup error, not
        # "insecure"; a DANE sender defers delivery, so no MX path can be judged: the domain
        # is "unknown" (contract.md), and the JSON ``dnssec`` says which of the two it was.
        if e.bogus:
            why = "the MX RRset fails DNSSEC validation (bogus)"
        else:
            why = "DNSSEC validation failure or broken server" if e.servfail else str(e)
        return [], e.security, False, f"MX lookup failed ({why}): cannot be verified"
    if answer.nxdomain:
        return [], answer.security, False, f"{domain} does not exist (NXDOMAIN)"
    hosts = sorted((int(r.preference), str(r.exchange).rstrip(".").lower()) for r in answer.records)
    if hosts and all(h == "" for _, h in hosts):
        return [], answer.security, False, "null MX (RFC 7505): the domain accepts no mail"
    if not hosts:
        return [(0, domain)], answer.security, True, None  # RFC 5321 5.1 implicit MX
    return [(p, h) for p, h in hosts if h], answer.security, False, None


def _addresses(rt: Runtime, host: str) -> tuple[tuple[str, ...], Security, str]:
    """A and AAAA of ``host``, whether both answers were DNSSEC-secure, the expanded name."""
    found: list[str] = []
    states: set[Security] = set()
    canonical = host
    for rdtype in ("A", "AAAA"):
        answer = rt.resolver.query(host, rdtype)
        if answer.records and canonical == host:
            canonical = answer.canonical
        found += [r.address for r in answer.records]
        states.add(answer.security)
    if "unknown" in states:
        return tuple(found), "unknown", canonical
    return tuple(found), "secure" if states == {"secure"} else "insecure", canonical


def _mx_dns(rt: Runtime, host: str, pref: int, mx_security: Security) -> _MxDns:
    """Addresses, then TLSA only from a DNSSEC-secure chain (RFC 7672 2.2)."""
    try:
        addresses, addr_security, expanded = _addresses(rt, host)
    except DnsFailure as e:
        return _MxDns(host, pref, (), None, Dane("unknown", str(e)), f"cannot resolve {host}: {e}")
    if not addresses:
        return _MxDns(host, pref, (), None, Dane("insecure"), f"{host} has no address")
    if "unknown" in (mx_security, addr_security):
        return _MxDns(host, pref, addresses, None, Dane("insecure", "DNSSEC not validated"))
    if mx_security != "secure" or addr_security != "secure":
        return _MxDns(host, pref, addresses, None, Dane("insecure", "MX path not DNSSEC-signed"))
    # the address answers are secure, so is any CNAME in them: the expanded name counts
    names = (host,) if expanded == host else (host, expanded)
    records, state, base = _tlsa_rrset(rt, names)
    return _MxDns(host, pref, addresses, records, state, names=names, sni=base)


def _tlsa_rrset(
    rt: Runtime, names: tuple[str, ...]
) -> tuple[tuple[dane.Tlsa, ...] | None, Dane, str]:
    """RFC 7672 2.2.2: TLSA at the CNAME-expanded name first, then at the MX host name.

    ``names`` is (host,) or (host, expanded). The expanded name is used when its TLSA RRset
    is secure and not empty; a secure "no records" or an insecure answer there falls back to
    the MX host name; a lookup failure there is "cannot verify" (no fallback: falling back
    on an error would let an attacker who blocks one lookup pick the other RRset).
    Returns the records, the DANE state and the TLSA base domain (the SNI name).
    """
    host = names[0]
    if len(names) == 2:
        expanded = names[1]
        records, state = _tlsa(rt, expanded)
        if records is not None:
            return records, state, expanded
        if state.state == "unknown":
            return None, Dane("unknown", f"{state.detail} at the CNAME target {expanded}"), host
    records, state = _tlsa(rt, host)
    return records, state, host


def _tlsa(rt: Runtime, host: str) -> tuple[tuple[dane.Tlsa, ...] | None, Dane]:
    """The secure TLSA RRset of ``_PORT._tcp.HOST``; SERVFAIL is "cannot verify", not "none"."""
    port = rt.settings.network.smtp_probe_port
    try:
        answer = rt.resolver.query(f"_{port}._tcp.{host}", "TLSA")
    except DnsFailure as e:
        if e.bogus:
            return None, Dane("unknown", "TLSA lookup failed: DNSSEC-bogus (SERVFAIL)")
        return None, Dane("unknown", f"TLSA lookup failed: {'SERVFAIL' if e.servfail else e}")
    if answer.security != "secure":
        return None, Dane("insecure", "TLSA RRset not secure")
    if not answer.records:
        return None, Dane("none", "no TLSA records")
    records = tuple(
        dane.Tlsa(int(r.usage), int(r.selector), int(r.mtype), bytes(r.cert))
        for r in answer.records
    )
    return records, Dane("unknown", "not observed")


def _dane_for(mx: _MxDns, probes: Sequence[Probe]) -> Dane:
    """Match every reachable address's chain against the secure TLSA RRset."""
    if mx.tlsa is None:
        return mx.dane
    texts = tuple(str(r) for r in mx.tlsa)
    where = "" if mx.sni in ("", mx.host) else f" (TLSA at the CNAME target {mx.sni})"
    results = [dane.match(mx.tlsa, p.chain, mx.names or [mx.host]) for p in probes if p.tls]
    if not results:
        return Dane("unknown", "TLSA published but no TLS connection to check it" + where, texts)
    for status in ("mismatch", "unusable"):
        bad = [r for r in results if r.status == status]
        if bad:
            return Dane(status, bad[0].detail + where, texts)
    return Dane("match", results[0].detail + where, texts)


def observe(rt: Runtime, domain: str, budget: float | None = None) -> DomainReport:
    """Look at the whole MX path of ``domain`` within ``budget`` seconds."""
    start = time.monotonic()
    net = rt.settings.network
    deadline = start + (budget or default_budget(rt))
    cache = TransportCache(net.transport_cache_dir)
    pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="mxpath")
    try:
        sts_timeout = min(net.probe_timeout, deadline - start)
        sts_f = pool.submit(sts_policy.discover, rt, domain, cache, sts_timeout)
        rpt_f = pool.submit(sts_policy.tls_rpt, rt, domain)
        hosts, security, implicit, problem = _mx_hosts(rt, domain)
        dns_fs = {pool.submit(_mx_dns, rt, h, p, security): (p, h) for p, h in hosts}
        facts = _probe_all(rt, pool, dns_fs, deadline)
        sts = _result(sts_f, deadline, Sts("invalid", error="MTA-STS lookup timed out"))
        rua, rua_error = _result(rpt_f, deadline, (None, "TLS-RPT lookup timed out"))
    finally:
        # the budget holds: what is still running finishes in the background, unwaited for
        pool.shutdown(wait=False, cancel_futures=True)
    judged = judge_domain(facts, sts, datetime.now(UTC))
    if problem:
        judged = DomainVerdict("unknown", problem, ())
    elapsed = time.monotonic() - start
    return DomainReport(domain, judged, security, sts, rua, rua_error, implicit, elapsed)


def default_budget(rt: Runtime) -> float:
    """Time for one domain: DNS, then a probe, plus a margin for MTA-STS alongside."""
    return rt.settings.network.probe_timeout * 2 + 5


def _result(future: Future[T], deadline: float, default: T) -> T:
    try:
        return future.result(timeout=max(0.0, deadline - time.monotonic()))
    except TimeoutError:
        return default


def _probe_all(
    rt: Runtime,
    pool: ThreadPoolExecutor,
    dns_fs: dict[Future[_MxDns], tuple[int, str]],
    deadline: float,
) -> list[MxFacts]:
    """Probe every address of every MX whose DNS answered in time, all at once."""
    net = rt.settings.network
    wait(dns_fs, timeout=max(0.0, deadline - time.monotonic()))
    started: list[tuple[_MxDns, list[Future[Probe]]]] = []
    facts: list[MxFacts] = []
    for future, (pref, host) in dns_fs.items():
        if not future.done():
            facts.append(MxFacts(host, pref, error=f"DNS lookups for {host} timed out"))
            continue
        mx = future.result()
        timeout = max(0.5, min(net.probe_timeout, deadline - time.monotonic()))
        probes = [
            pool.submit(
                mxprobe.probe,
                a,
                net.smtp_probe_port,
                mx.sni or mx.host,
                timeout=timeout,
                ca_file=net.ca_file,
            )
            for a in mx.addresses
        ]
        started.append((mx, probes))
    for mx, probe_fs in started:
        seen = tuple(
            _result(f, deadline + 1, Probe(a, False, error="probe timed out"))
            for f, a in zip(probe_fs, mx.addresses, strict=True)
        )
        dane_state = _dane_for(mx, seen)
        facts.append(MxFacts(mx.host, mx.preference, mx.addresses, seen, dane_state, mx.error))
    return sorted(facts, key=lambda f: (f.preference, f.host))


def observe_many(rt: Runtime, domains: Sequence[str]) -> list[DomainReport]:
    """Observe several domains side by side (performance.md: 20 domains ~ one)."""
    if len(domains) == 1:
        return [observe(rt, domains[0])]
    with ThreadPoolExecutor(max_workers=min(32, len(domains)), thread_name_prefix="domain") as pool:
        return list(pool.map(lambda d: observe(rt, d), domains))
