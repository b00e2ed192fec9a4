"""``e2email trace FILE.eml``: the hops a delivered message took, and TLS on each."""

from __future__ import annotations

import sys
from typing import Any

import click

from e2email.cli.output import STATE, print_json
from e2email.core.received import Hop
from e2email.services.transport.trace import hops, read_headers

MARKS = {"yes": ("TLS", "green"), "no": ("NO TLS", "red"), "unknown": ("TLS unknown", "yellow")}


@click.command("trace")
@click.argument("message", metavar="FILE.eml")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per hop.")
def trace_command(message: str, as_json: bool) -> None:
    """Show each hop a delivered message took, from its Received headers, oldest first.

    For every hop: who handed the message to whom, the protocol, and whether TLS was
    used ("with ESMTPS", "version=TLS1_3", ...) or cannot be known from the header.
    Received headers are claims by each receiving server; the ones below the first hop
    written by a server you trust may have been forged by the sender. FILE.eml '-'
    reads standard input.

    \b
    Example:
      e2email trace ~/Maildir/cur/1700000000.M1P2.host:2,S
    """
    raw = sys.stdin.buffer.read() if message == "-" else read_headers(message)
    found = hops(raw)
    if as_json:
        print_json([hop_json(h) for h in found])
        return
    if not found:
        _echo("no Received headers: the message was not handed over by any server")
    for hop in found:
        _echo(hop_line(hop))


def _echo(line: str) -> None:
    if not STATE.quiet:
        click.echo(line)


def hop_line(h: Hop) -> str:
    """``N. FROM -> BY  with PROTO  [TLS ...]  date``, then the note."""
    text, colour = MARKS[h.tls]
    tls = click.style(text, fg=colour, bold=True)
    if h.tls_version or h.cipher:
        tls += " " + " ".join(x for x in (h.tls_version, h.cipher) if x)
    when = f"  {h.date:%Y-%m-%d %H:%M:%S %z}" if h.date else ""
    frm = h.from_text or "(no 'from': handed over locally)"
    return f"{h.number}. {frm} -> {h.by or '?'} with {h.protocol or '?'}: {tls}{when}\n   {h.note}"


def hop_json(h: Hop) -> dict[str, Any]:
    """A hop for scripts."""
    return {
        "hop": h.number,
        "from": h.from_text,
        "from_ip": h.from_ip,
        "by": h.by,
        "protocol": h.protocol,
        "tls": h.tls,
        "tls_version": h.tls_version,
        "cipher": h.cipher,
        "date": h.date.isoformat() if h.date else None,
        "note": h.note,
    }
