"""``e2email keys refresh`` and ``keys publish``: keys kept fresh, our own key published.

Registered on the ``keys`` group by ``cli/keys.py`` (one line at its end), kept apart from the
other ``keys`` commands so that each can grow without the other.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from e2email.cli.common import runtime
from e2email.cli.output import STATE, print_json


@click.command("refresh")
@click.option(
    "--spread",
    metavar="DURATION",
    help="Ask for each key at a random moment over DURATION (90s, 15m, 2h, 1d), servers "
    "interleaved: for cron, so no server sees the whole address book at once.",
)
@click.option(
    "--keyring",
    is_flag=True,
    help="Also refresh the recipient keys of your gpg keyring from the VKS keyservers "
    "configured (by fingerprint; only updates of the same keys are imported).",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object (contract.md).")
@click.pass_context
def refresh_command(ctx: click.Context, spread: str | None, keyring: bool, as_json: bool) -> None:
    """Fetch every stored key again from where it was found, by fingerprint.

    Picks up revocations, new subkeys and new expiry dates. A key found revoked is never
    used again, at once. A source offering a different key is ignored: replacing a key is
    a key change (see `e2email keys accept`). Exit 0 even when some source did not answer
    (the key stays as it was); see the status of each key.

    \b
    Examples:
      e2email keys refresh
      e2email keys refresh --spread 2h --json     # from cron
    """
    from e2email.core.refresh import parse_duration
    from e2email.services.discovery import refresh

    seconds = parse_duration(spread) if spread else 0.0
    rt = runtime(ctx)
    bar = _Progress() if not as_json and not STATE.quiet and sys.stderr.isatty() else None
    report = refresh.refresh(rt, spread=seconds, progress=bar)
    if keyring:
        from e2email.services.discovery import refresh_keyring

        report.results += refresh_keyring.refresh_keyring(rt)
    if bar is not None:
        bar.close()
    if as_json:
        print_json(refresh_json(report))
        return
    for r in [*report.results, *report.skipped]:
        why = f" ({r.reason})" if r.reason else ""
        STATE.info(f"{r.fingerprint} {r.address}: {r.status}{why}  [{r.where}]")
    STATE.info(_summary(report))


def _counts(report: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in report.results:
        counts[r.status] = counts.get(r.status, 0) + 1
    return counts


def _summary(report: Any) -> str:
    counts = ", ".join(f"{n} {s}" for s, n in sorted(_counts(report).items())) or "no keys"
    return f"refreshed {len(report.results)} key(s) in {report.seconds:.1f} s: {counts}"


def refresh_json(report: Any) -> dict[str, Any]:
    """``{keys: [{fingerprint, address, source, where, status, reason}], skipped, counts,
    seconds}``."""
    return {
        "keys": [r.__dict__ for r in report.results],
        "skipped": [r.__dict__ for r in report.skipped],
        "counts": _counts(report),
        "seconds": round(report.seconds, 3),
    }


class _Progress:
    """``[done/total] fingerprint address: status`` on one rewritten stderr line (a TTY)."""

    def __init__(self) -> None:
        self._width = 0

    def __call__(self, done: int, total: int, result: Any) -> None:
        text = f"[{done}/{total}] {result.fingerprint[-16:]} {result.address}: {result.status}"
        sys.stderr.write("\r" + text.ljust(self._width))
        sys.stderr.flush()
        self._width = len(text)

    def close(self) -> None:
        if self._width:
            sys.stderr.write("\r" + " " * self._width + "\r")
            sys.stderr.flush()


@click.command("publish")
@click.option(
    "--from",
    "from_",
    metavar="ADDR",
    help="The address to publish [default: the only one configured].",
)
@click.option(
    "--timeout",
    type=click.FloatRange(1, 86400),
    default=300.0,
    show_default=True,
    help="Seconds to wait for the provider (confirmation request, publication) in this run.",
)
@click.option("--json", "as_json", is_flag=True, help="The publication's state as JSON.")
@click.pass_context
def publish_command(ctx: click.Context, from_: str | None, timeout: float, as_json: bool) -> None:
    """Publish your own OpenPGP key through your provider's Web Key Service (WKS).

    Finds the submission address in the provider's WKD, sends your key (minimal, only this
    address's user ID) through the account's submission server, waits in the account's
    INBOX (read-only) for the provider's confirmation request, answers it, and checks that
    WKD serves the key. Each step is recorded: when interrupted or timed out (exit 75), run
    it again to continue. Exit 69 when the provider runs no WKS. See docs/discovery.md.

    \b
    Examples:
      e2email keys publish
      e2email keys publish --from alice@example.org --timeout 900
    """
    from e2email.services.publish import wks

    def report(step: str, text: str) -> None:
        if not as_json:
            STATE.info(f"{step}: {text}")

    pub = wks.publish(runtime(ctx), from_, timeout=timeout, report=report)
    if as_json:
        print_json(pub.as_json())
