"""The send use case: plan per recipient, protect, submit. Nothing leaves unless all agree."""

from __future__ import annotations

import logging
import secrets as pysecrets
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

from e2email.config import RequireTls
from e2email.core import compose, policy
from e2email.core.compose import Attachment, Draft, Mailbox
from e2email.core.mime import Stream
from e2email.errors import (
    E2emailError,
    MessageError,
    NoUsableKeyError,
    PolicyRefusedError,
    UsageError,
)
from e2email.model import Action, Address, Decision, Plan, Recipient, Role, SubmitResult
from e2email.services import submit
from e2email.services.protect import copies as protect
from e2email.services.runtime import Runtime

log = logging.getLogger("e2email.send")


@dataclass(frozen=True)
class AttachmentFile:
    """A file to attach (``send --attach``): read while sending, never all at once."""

    path: Path
    filename: str
    content_type: str = "application/octet-stream"


@dataclass(frozen=True)
class SendRequest:
    """What the user asked to send."""

    sender: Mailbox
    to: tuple[Mailbox, ...]
    subject: str
    body: str
    cc: tuple[Mailbox, ...] = ()
    bcc: tuple[Mailbox, ...] = ()
    account: str | None = None
    dry_run: bool = False
    require_tls: bool = False
    attachments: tuple[AttachmentFile, ...] = ()
    partial: bool = False  # send to the others when some are refused (contract.md)


@dataclass(frozen=True)
class SendOutcome:
    """The plan, and the server's answer unless it was a dry run."""

    plan: Plan
    message_id: str
    account: str
    result: SubmitResult | None = None
    copies: int = 0
    notes: tuple[str, ...] = field(default=())


def recipients_of(req: SendRequest) -> tuple[Recipient, ...]:
    """Envelope recipients, each once, first role wins (To before Cc before Bcc)."""
    seen: dict[str, Recipient] = {}
    for role, boxes in ((Role.TO, req.to), (Role.CC, req.cc), (Role.BCC, req.bcc)):
        for box in boxes:
            seen.setdefault(str(box.address).lower(), Recipient(box.address, role))
    return tuple(seen.values())


def make_plan(rt: Runtime, sender: Address, recipients: tuple[Recipient, ...]) -> Plan:
    """Decide per recipient (key discovery, then policy and transport)."""
    from e2email.services.discovery import discover

    wanted = [
        r.address for r in recipients if policy.effective(rt.settings.policy, r)[0] != "never"
    ]
    found = discover.discover(rt, wanted)
    keyless = [
        r.address.domain for r in recipients if r.address not in found or not found[r.address].key
    ]
    if keyless:  # transport policy (MTA-STS, DANE, probes) loads only when a recipient needs it
        from e2email.services.transport import verdicts as transport

        transport.prefetch(rt, keyless)  # MX paths of all keyless recipients' domains at once
    decisions = []
    for r in recipients:
        changed = discover.change_refusal(rt.settings, r, found.get(r.address))
        if changed is not None:
            decisions.append(changed)
            continue
        key = found[r.address].key if r.address in found else None
        rejected = found[r.address].rejected if r.address in found else ()
        encrypt, floor = policy.effective(rt.settings.policy, r)
        verdict, why = (None, "") if key else _verdict(rt, r.address.domain)
        decisions.append(
            policy.decide(
                r, key, rejected, encrypt=encrypt, floor=floor, verdict=verdict, verdict_reason=why
            )
        )
    return Plan(sender, tuple(decisions))


def _verdict(rt: Runtime, domain: str) -> tuple[str | None, str]:
    """The transport verdict of a keyless recipient's domain (the module loads on demand)."""
    from e2email.services.transport import verdicts as transport

    return transport.verdict_for(rt, domain)


def check_plan(plan: Plan, *, partial: bool = False) -> Plan:
    """Raise if any recipient is refused: nothing is sent to anyone (contract.md).

    With ``partial`` (``send --partial``) and someone left to send to, the plan without the
    refused recipients comes back instead; the caller names them afterwards (``refusal``).
    """
    refused = plan.refused
    if not refused:
        return plan
    if partial and len(refused) < len(plan.decisions):
        return Plan(plan.sender, tuple(d for d in plan.decisions if d.action is not Action.REFUSE))
    raise refusal(plan)


def refusal(plan: Plan, *, others_sent: bool = False) -> E2emailError:
    """The error naming the refused recipients: 67 when a required key is missing, else 77."""
    refused = plan.refused
    lines = "; ".join(_refused_line(d) for d in refused)
    what = "nothing sent"
    if others_sent:
        what = "not sent to them (--partial: the others' copies were sent or queued)"
    if policy.refusal_exit_code(refused) == NoUsableKeyError.exit_code:
        return NoUsableKeyError(f"no usable key, {what}: {lines}")
    return PolicyRefusedError(f"policy refused, {what}: {lines}")


def _refused_line(decision: Decision) -> str:
    """``addr: reason``, then why each key found was not used (e.g. which check failed)."""
    line = f"{decision.recipient.address}: {decision.reason}"
    found = ", ".join(f"{r.source}: {r.reason}" for r in decision.rejected)
    return f"{line} (rejected {found})" if found else line


def require_tls_where_cleartext(
    plan: Plan, copies: list[submit.Copy], mode: RequireTls = "auto"
) -> list[submit.Copy]:
    """Ask for REQUIRETLS (RFC 8689), when the server offers it, on copies sent in clear.

    e2email judges only the recipient's MX; REQUIRETLS makes every later hop, from the
    submission server on, use TLS or bounce the message (docs/transport.md). With
    ``policy.require_tls = "never"`` no copy asks for it (``--require-tls`` still does).
    """
    if mode == "never":
        return copies
    clear = {d.recipient.address for d in plan.decisions if d.action is Action.CLEARTEXT}
    return [
        replace(c, prefer_require_tls=True) if clear.intersection(c.recipients) else c
        for c in copies
    ]


def require_tls_demanded(rt: Runtime, requested: bool) -> bool:
    """REQUIRETLS on every copy, refused when not offered: ``--require-tls`` or "always"."""
    return requested or rt.settings.policy.require_tls == "always"


def _draft(req: SendRequest, now: datetime) -> tuple[Draft, dict[str, Path]]:
    token = pysecrets.token_hex(12)
    attachments = []
    files: dict[str, Path] = {}
    for i, a in enumerate(req.attachments):
        ref = f"{token}{i}"
        files[ref] = a.path
        attachments.append(Attachment(a.filename, a.content_type, Stream(ref)))
    draft = Draft(
        sender=req.sender,
        to=req.to,
        cc=req.cc,
        subject=req.subject,
        body=req.body,
        date=format_datetime(now),
        message_id=f"<{token}@{req.sender.address.domain}>",
        attachments=tuple(attachments),
    )
    return draft, files


@dataclass(frozen=True)
class MessageRequest:
    """A ready RFC 5322 message (``send --message``, the sendmail drop-in).

    ``recipients`` None means: take them from To/Cc/Bcc. ``extra_recipients`` are added to
    those (sendmail ``-t`` plus arguments). A Bcc header is never sent in any copy.
    """

    raw: bytes
    sender: Address | None = None
    recipients: tuple[Address, ...] | None = None
    extra_recipients: tuple[Address, ...] = ()
    account: str | None = None
    dry_run: bool = False
    require_tls: bool = False
    partial: bool = False  # send to the others when some are refused (contract.md)


def send_message(rt: Runtime, req: MessageRequest, *, now: datetime | None = None) -> SendOutcome:
    """Parse a ready message strictly, then plan, protect and submit it like ``send``.

    Recipients come from To/Cc/Bcc unless given; Bcc is removed from every copy; a message
    the sender's program already encrypted goes out unchanged (security.md items 4 and 7).
    """
    from e2email.core import message

    ready = message.parse(req.raw)
    sender = req.sender or ready.sender
    if sender is None:
        raise MessageError("the message has no From address and no sender was given")
    recipients = message.recipients(ready, req.recipients, req.extra_recipients)
    if not recipients:
        raise UsageError("no recipients: none given and none in To, Cc or Bcc")
    account = rt.account(req.account, sender)
    message_id, extra = _missing_fields(ready.fields, sender, now or datetime.now(UTC))
    out = message.outgoing(ready, message_id=message_id, extra=extra)
    if out.mua == "encrypted":
        plan = Plan(sender, tuple(_passthrough(r) for r in recipients))
    else:
        plan = make_plan(rt, sender, recipients)
    if req.dry_run:
        return SendOutcome(plan, message_id, account.name)
    sendable = check_plan(plan, partial=req.partial)
    mode = rt.settings.policy.require_tls
    copies = require_tls_where_cleartext(sendable, protect.build_copies(rt, sendable, out), mode)
    demanded = require_tls_demanded(rt, req.require_tls)
    result = submit.submit(rt, account, sender, copies, require_tls=demanded, message_id=message_id)
    log.info("submitted %s (%d transaction(s))", message_id, len(copies))
    _pin_used_keys(rt, plan)
    return SendOutcome(plan, message_id, account.name, result, len(copies))


def _pin_used_keys(rt: Runtime, plan: Plan) -> None:
    """Trust on first use: keys are pinned once a message was sent with them (discover.py)."""
    from e2email.services.discovery import discover

    discover.record_use(rt, plan)


def _missing_fields(
    fields: tuple[tuple[str, str], ...], sender: Address, now: datetime
) -> tuple[str, list[tuple[str, str]]]:
    """The Message-ID, and Date/Message-ID fields to add when missing (RFC 5322 3.6)."""
    names = {n.lower(): v for n, v in fields}
    extra: list[tuple[str, str]] = []
    if "date" not in names:
        extra.append(("Date", format_datetime(now)))
    message_id = names.get("message-id", "").strip()
    if not message_id:
        message_id = f"<{pysecrets.token_hex(12)}@{sender.domain}>"
        extra.append(("Message-ID", message_id))
    return message_id, extra


def _passthrough(r: Recipient) -> Decision:
    why = "already encrypted by the sender's mail program; sent unchanged"
    return Decision(r, Action.PASSTHROUGH, None, why)


def send(rt: Runtime, req: SendRequest, *, now: datetime | None = None) -> SendOutcome:
    """Plan, refuse as a whole or protect and submit every copy."""
    account = rt.account(req.account, req.sender.address)
    plan = make_plan(rt, req.sender.address, recipients_of(req))
    draft, files = _draft(req, now or datetime.now(UTC))
    if req.dry_run:
        return SendOutcome(plan, draft.message_id, account.name)
    sendable = check_plan(plan, partial=req.partial)
    copies = require_tls_where_cleartext(
        sendable,
        protect.start_copies(rt, sendable, compose.outgoing(draft), files),
        rt.settings.policy.require_tls,
    )
    result = submit.submit(
        rt,
        account,
        req.sender.address,
        copies,
        require_tls=require_tls_demanded(rt, req.require_tls),
        message_id=draft.message_id,
    )  # a temporary failure queues the protected copies in the outbox (result.queued)
    log.info("submitted %s (%d transaction(s))", draft.message_id, len(copies))
    _pin_used_keys(rt, plan)
    return SendOutcome(plan, draft.message_id, account.name, result, len(copies))
