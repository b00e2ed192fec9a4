"""``e2email queue``: the outbox of messages that could not be submitted yet."""

from __future__ import annotations

from typing import Any

import click

from e2email.adapters.store.outbox import Entry
from e2email.cli.common import runtime
from e2email.cli.output import STATE, print_json
from e2email.cli.sendmail import print_entries, print_outcomes
from e2email.services import queue


@click.group("queue")
def queue_group() -> None:
    """The outbox: messages waiting because the server could not take them.

    A message is queued when the submission server is unreachable, TLS fails or the server
    answers 4xx. It is stored exactly as it would have been sent: already encrypted. Nothing
    is ever queued in a form less protected than it would have been sent.

    \b
    Examples:
      e2email queue list            what waits, and the last error of each
      e2email queue flush           try to send everything now (cron: every 5 minutes)
      e2email queue drop ID         give up on one message
    """


def entry_json(e: Entry) -> dict[str, Any]:
    """One outbox entry as JSON."""
    env = e.envelope
    return {
        "id": e.id,
        "state": "failed" if e.failed else "queued",
        "account": env.account,
        "sender": env.sender,
        "recipients": list(env.recipients),
        "message_id": env.message_id,
        "size": e.size,
        "created": env.created,
        "require_tls": env.require_tls,
        "attempts": e.status.attempts,
        "last_attempt": e.status.last_attempt,
        "last_error": e.status.last_error,
    }


@queue_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON array of entries.")
@click.pass_context
def list_command(ctx: click.Context, as_json: bool) -> None:
    """Show queued (and permanently failed) messages, oldest first."""
    entries = queue.entries(runtime(ctx))
    if as_json:
        print_json([entry_json(e) for e in entries])
    else:
        print_entries(entries)


@queue_group.command("flush")
@click.pass_context
def flush_command(ctx: click.Context) -> None:
    """Try to send every queued message now, one connection per account.

    Each message is sent at most once even when several flushes run at the same time. A
    message the server refuses for good moves to the failed list (see `queue list`). Exits 0
    when the queue is empty afterwards, 75 when messages still wait, 69 when some failed.
    """
    outcomes = queue.flush(runtime(ctx))
    print_outcomes(outcomes)
    sent = sum(1 for o in outcomes if o.state == "sent")
    if sent:
        STATE.info(f"sent {sent} message(s)")
    problem = queue.worst(outcomes)
    if problem is not None:
        raise problem


@queue_group.command("drop")
@click.argument("entry_id", metavar="ID")
@click.pass_context
def drop_command(ctx: click.Context, entry_id: str) -> None:
    """Delete message ID from the outbox without sending it."""
    queue.drop(runtime(ctx), entry_id)
    STATE.info(f"dropped {entry_id}")
