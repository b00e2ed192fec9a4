"""``e2email send``: compose, protect and submit one message."""

from __future__ import annotations

import mimetypes
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from e2email.cli.common import mailbox, mailboxes, read_body, runtime
from e2email.cli.output import STATE, print_json
from e2email.core.addresses import check_header_value
from e2email.errors import UsageError
from e2email.model import Decision, Protocol
from e2email.services.send import (
    AttachmentFile,
    MessageRequest,
    SendOutcome,
    SendRequest,
    refusal,
    send,
    send_message,
)


@click.command("send")
@click.option(
    "--from",
    "sender",
    metavar="ADDR",
    help="Sender address (picks the account). With --message: the envelope sender "
    "[default: the message's From].",
)
@click.option("--to", "to", multiple=True, metavar="ADDR", help="Recipient; repeat for more.")
@click.option("--cc", multiple=True, metavar="ADDR", help="Carbon-copy recipient; repeatable.")
@click.option(
    "--bcc",
    multiple=True,
    metavar="ADDR",
    help="Blind recipient: gets its own copy, never named in others.",
)
@click.option("--subject", metavar="TEXT", help="Subject line (hidden inside encrypted copies).")
@click.option(
    "--body-file",
    metavar="FILE",
    help="Body text (UTF-8); default: stdin when it is not a terminal.",
)
@click.option(
    "--attach",
    "attach",
    multiple=True,
    metavar="FILE",
    help="Attach a file (any type, any size: it is streamed); repeat for more.",
)
@click.option(
    "--message",
    "message_file",
    metavar="FILE",
    help="Send a ready RFC 5322 message from FILE ('-' = stdin); recipients from its "
    "To/Cc/Bcc. Bcc is removed from every copy.",
)
@click.option(
    "--account",
    metavar="NAME",
    help="Account to submit through [default: the one whose from matches].",
)
@click.option("--dry-run", is_flag=True, help="Decide and print the plan; send nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the plan and result as JSON.")
@click.option(
    "--require-tls",
    is_flag=True,
    help="Ask every later hop to use TLS or bounce (RFC 8689 REQUIRETLS); "
    "refuse (exit 77) if the submission server does not offer it.",
)
@click.option(
    "--partial",
    is_flag=True,
    help="When some recipients are refused (no usable key, MX path below the transport "
    "floor), still send to the others; the refused are named and the exit status stays "
    "67/77. Without it nothing is sent to anyone.",
)
@click.pass_context
def send_command(
    ctx: click.Context,
    sender: str | None,
    to: tuple[str, ...],
    cc: tuple[str, ...],
    bcc: tuple[str, ...],
    subject: str | None,
    body_file: str | None,
    attach: tuple[str, ...],
    message_file: str | None,
    account: str | None,
    dry_run: bool,
    as_json: bool,
    require_tls: bool,
    partial: bool,
) -> None:
    """Encrypt and send one message.

    Each recipient's key is looked up; the message is encrypted to it: PGP/MIME for an
    OpenPGP key, S/MIME for a certificate, one copy per protocol and one per Bcc recipient.
    The real Subject travels inside the encryption; outside it reads "[...]" (RFC 9788).
    A recipient without a usable key gets the message only if policy allows it (signed,
    when you have a signing key); otherwise NOTHING is sent to anyone (--partial: only
    that recipient is left out) and the command exits 67 (no key) or 77 (policy). See
    docs/protection.md.

    \b
    Examples:
      echo "See you at 10." | e2email send --from alice@example.org \\
          --to bob@example.net --subject "Meeting"
      e2email send --from alice@example.org --to bob@example.net \\
          --subject "Report" --body-file note.txt --attach report.pdf
      e2email send --message draft.eml          # To/Cc/Bcc from the message
    """
    how = Delivery(account, dry_run, require_tls, partial)
    if message_file is not None:
        if to or cc or bcc or subject is not None or body_file or attach:
            raise UsageError(
                "--message sends a ready message: its recipients, subject and body come "
                "from the file (drop --to/--cc/--bcc/--subject/--body-file/--attach)"
            )
        outcome = _send_ready(ctx, message_file, sender, how)
    else:
        what = Composition(sender, to, cc, bcc, subject, body_file, attach)
        outcome = _compose(ctx, what, how)
    if as_json:
        print_json(outcome_json(outcome, dry_run))
    else:
        _print_human(outcome, dry_run)
    if outcome.plan.refused and not dry_run:  # --partial: the others got it; name the refused
        raise refusal(outcome.plan, others_sent=True)


@dataclass(frozen=True)
class Delivery:
    """How to send, whatever is sent: --account, --dry-run, --require-tls, --partial."""

    account: str | None
    dry_run: bool
    require_tls: bool
    partial: bool


@dataclass(frozen=True)
class Composition:
    """What to compose, as given on the command line (checked by ``_compose``)."""

    sender: str | None
    to: tuple[str, ...]
    cc: tuple[str, ...]
    bcc: tuple[str, ...]
    subject: str | None
    body_file: str | None
    attach: tuple[str, ...]


def _compose(ctx: click.Context, what: Composition, how: Delivery) -> SendOutcome:
    if what.sender is None:
        raise UsageError("--from is required (or use --message FILE)")
    if what.subject is None:
        raise UsageError("--subject is required (or use --message FILE)")
    if not (what.to or what.cc or what.bcc):
        raise UsageError("no recipients: give at least one --to, --cc or --bcc")
    req = SendRequest(
        sender=mailbox(what.sender, "--from"),
        to=mailboxes(what.to, "--to"),
        cc=mailboxes(what.cc, "--cc"),
        bcc=mailboxes(what.bcc, "--bcc"),
        subject=check_header_value("--subject", what.subject),
        body=read_body(what.body_file),
        account=how.account,
        dry_run=how.dry_run,
        require_tls=how.require_tls,
        attachments=tuple(attachment(a) for a in what.attach),
        partial=how.partial,
    )
    return send(runtime(ctx), req)


def _send_ready(
    ctx: click.Context, message_file: str, sender: str | None, how: Delivery
) -> SendOutcome:
    raw = read_input(message_file, "--message")
    req = MessageRequest(
        raw=raw,
        sender=mailbox(sender, "--from").address if sender else None,
        account=how.account,
        dry_run=how.dry_run,
        require_tls=how.require_tls,
        partial=how.partial,
    )
    return send_message(runtime(ctx), req)


def attachment(path_text: str) -> AttachmentFile:
    """An --attach value: a readable regular file; its media type guessed from the name."""
    path = Path(path_text)
    if not path.is_file():
        raise UsageError(f"--attach: {path_text} is not a readable file")
    try:
        with path.open("rb"):
            pass
    except OSError as e:
        raise UsageError(f"--attach: cannot read {path_text}: {e.strerror}") from None
    guessed, encoding = mimetypes.guess_type(path.name, strict=False)
    ctype = guessed if guessed and not encoding else "application/octet-stream"
    return AttachmentFile(path, path.name, ctype)


def read_input(name: str, option: str) -> bytes:
    """The bytes of FILE, or of stdin for '-'."""
    if name == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(name).read_bytes()
    except OSError as e:
        raise UsageError(f"{option}: cannot read {name}: {e.strerror}") from None


def decision_json(d: Decision) -> dict[str, Any]:
    """One recipient of the plan, as contract.md's JSON."""
    return {
        "address": str(d.recipient.address),
        "role": d.recipient.role.value,
        "action": d.action.value,
        "protocol": d.key.protocol.value if d.key else None,
        "fingerprint": d.key.fingerprint if d.key else None,
        "source": d.key.source if d.key else None,
        "reason": d.reason,
        "warnings": list(_warnings(d)),
        "rejected": [
            {"source": r.source, "reason": r.reason, "fingerprint": r.fingerprint}
            for r in d.rejected
        ],
    }


def outcome_json(o: SendOutcome, dry_run: bool) -> dict[str, Any]:
    """The whole outcome as JSON."""
    result = None
    if o.result is not None:
        result = {
            "accepted": [str(a) for a in o.result.accepted],
            "refused": [{"address": str(a), "reply": r} for a, r in o.result.refused],
            "copies": o.copies,
            "queued": list(o.result.queued),
            "deferred": o.result.deferred,
        }
    return {
        "message_id": o.message_id,
        "account": o.account,
        "dry_run": dry_run,
        "sent": o.result is not None and not o.result.queued,
        "recipients": [decision_json(d) for d in o.plan.decisions],
        "result": result,
    }


def _warnings(d: Decision) -> tuple[str, ...]:
    """Advice about what the recipient's software may fail to read (S/MIME only)."""
    if d.key is None or d.key.protocol is not Protocol.SMIME:
        return ()
    from e2email.core.smime_readers import reader_warnings

    return reader_warnings(d.key.material)


def _print_human(o: SendOutcome, dry_run: bool) -> None:
    for d in o.plan.decisions:
        how = d.action.value
        if d.key:
            how += f" key {d.key.fingerprint} ({d.key.source})"
        if d.reason:
            how += f": {d.reason}"
        STATE.info(f"{d.recipient.address} [{d.recipient.role.value}]: {how}")
        for w in _warnings(d):
            STATE.info(f"  warning: {w}")
    if dry_run:
        STATE.info("dry run: nothing sent")
    elif o.result is not None and o.result.queued:
        ids = ", ".join(o.result.queued)
        STATE.info(f"queued {o.message_id} as {ids}: {o.result.deferred}")
        STATE.info("it will be sent by 'e2email queue flush'")
    elif o.result is not None:
        copies = "1 copy" if o.copies == 1 else f"{o.copies} copies"
        STATE.info(f"sent {o.message_id} via {o.account} in {copies}")
