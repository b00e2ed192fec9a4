"""``e2email check``: the transport TLS report along a domain's MX path."""

from __future__ import annotations

from typing import Any

import click

from e2email.cli.common import runtime
from e2email.cli.output import STATE, print_json
from e2email.core.verdict import MxVerdict
from e2email.services.transport.check import check
from e2email.services.transport.mxpath import DomainReport

COLOURS = {
    "dane": "green",
    "mta-sts": "green",
    "verified-tls": "green",
    "unverified-tls": "yellow",
    "plaintext": "red",
    "unknown": "magenta",
}


@click.command("check")
@click.argument("targets", nargs=-1, required=True, metavar="DOMAIN|ADDR...")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per domain (contract.md).")
@click.pass_context
def check_command(ctx: click.Context, targets: tuple[str, ...], as_json: bool) -> None:
    """Report how mail to each domain would travel: TLS, DANE and MTA-STS on every MX.

    Every MX host counts, backup MX included, and the weakest decides the verdict:
    dane > mta-sts > verified-tls > unverified-tls > plaintext > unknown. This is what
    `send` compares with policy.transport_floor for recipients without a key.

    The MX hosts are probed from this machine on network.smtp_probe_port (25). Many ISPs
    block outgoing port 25: the verdict is then `unknown`, and the DNS facts (DNSSEC, DANE
    records, MTA-STS, TLS-RPT) are still shown. What happens between your own provider and
    the recipient's MX is not observed; see docs/transport.md.

    \b
    Examples:
      e2email check example.org
      e2email check bob@example.net carol@example.com --json
    """
    reports = check(runtime(ctx), targets)
    if as_json:
        print_json([report_json(r) for r in reports])
        return
    for report in reports:
        for line in human_lines(report):
            _echo(line)


def _echo(line: str) -> None:
    if not STATE.quiet:
        click.echo(line)  # click drops the colours when stdout is not a terminal


def _verdict(verdict: str) -> str:
    return click.style(verdict, fg=COLOURS.get(verdict), bold=True)


def human_lines(r: DomainReport) -> list[str]:
    """A header line with the verdict and its reason, one line per MX, then the DNS facts."""
    lines = [f"{r.domain}: {_verdict(r.verdict)} - {r.reason}"]
    for mx in r.judged.mx:
        lines.append("  " + _mx_line(mx))
    sts = r.sts
    sts_text = sts.mode + (f" (max_age {sts.policy.max_age})" if sts.policy else "")
    if sts.cached:
        sts_text += ", cached"
    if sts.error:
        sts_text += f": {sts.error}"
    rpt = ", ".join(r.tls_rpt) if r.tls_rpt else (r.tls_rpt_error or "none")
    implicit = " (no MX record: the domain itself receives mail)" if r.implicit_mx else ""
    lines.append(f"  DNSSEC: {r.dnssec}{implicit}")
    lines.append(f"  MTA-STS: {sts_text}")
    lines.append(f"  TLS-RPT: {rpt}")
    return lines


def _mx_line(mx: MxVerdict) -> str:
    f = mx.facts
    addrs = ", ".join(f.addresses) or "no address"
    parts = [f"MX {f.preference} {f.host} [{addrs}] {_verdict(mx.verdict)}: {mx.reason}"]
    probe = mx.probe
    if probe is not None and probe.tls:
        parts.append(f"{probe.tls_version} {probe.cipher}")
    cert = mx.certificate
    if cert is not None and cert.not_after is not None:
        parts.append(f"certificate expires {cert.not_after:%Y-%m-%d}")
    if not mx.reason.startswith("DANE"):  # else the reason already says what DANE found
        parts.append(f"DANE {f.dane.state}" + (f" ({f.dane.detail})" if f.dane.detail else ""))
    return "; ".join(parts)


def mx_json(mx: MxVerdict) -> dict[str, Any]:
    """One MX as contract.md's ``check --json`` shows it (plus verdict, reason and details)."""
    f, probe, cert = mx.facts, mx.probe, mx.certificate
    return {
        "host": f.host,
        "preference": f.preference,
        "addresses": list(f.addresses),
        "starttls": probe.starttls if probe else None,
        "tls_version": probe.tls_version if probe else None,
        "cipher": probe.cipher if probe else None,
        "certificate_valid": cert.valid if cert else None,
        "certificate_error": cert.error if cert else None,
        "certificate_expires": cert.not_after.isoformat() if cert and cert.not_after else None,
        "dane": f.dane.state,
        "dane_detail": f.dane.detail or None,
        "tlsa": list(f.dane.records),
        "mta_sts_listed": mx.sts_listed,
        "verdict": mx.verdict,
        "reason": mx.reason,
        "probes": [
            {"address": p.address, "reachable": p.reachable, "error": p.error or p.handshake_error}
            for p in f.probes
        ],
    }


def report_json(r: DomainReport) -> dict[str, Any]:
    """One domain (contract.md: domain, verdict, mx, mta_sts, dnssec, tls_rpt)."""
    policy = r.sts.policy
    return {
        "domain": r.domain,
        "verdict": r.verdict,
        "reason": r.reason,
        "mx": [mx_json(m) for m in r.judged.mx],
        "implicit_mx": r.implicit_mx,
        "mta_sts": {
            "mode": r.sts.mode,
            "max_age": policy.max_age if policy else None,
            "mx": list(policy.mx) if policy else None,
            "error": r.sts.error,
            "cached": r.sts.cached,
        },
        "dnssec": r.dnssec,
        "tls_rpt": list(r.tls_rpt) if r.tls_rpt is not None else None,
        "tls_rpt_error": r.tls_rpt_error,
        "elapsed": round(r.elapsed, 3),
    }
