"""Protection: turn a planned message into the exact bytes each group of recipients receives.

* One copy per protocol for To/Cc, and one per Bcc recipient, so that no key ID, certificate
  or header in anyone else's copy names a Bcc recipient (security.md item 4).
* Every encrypted copy shows the same outer header fields, whatever its protocol: the
  ``hcp_baseline`` view of RFC 9788 (Subject ``[...]``), or the real fields when header
  protection is off.
* Cleartext copies are signed when ``protection.sign_cleartext`` says so (PGP/MIME or S/MIME
  multipart/signed over a 7-bit, CRLF-canonical entity).
* A message the sender's mail program already encrypted goes out unchanged (Bcc removed); one
  it already signed is encrypted without a second signature, and sent unchanged in clear.
"""

from __future__ import annotations

import logging
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from e2email.adapters.spool import GrowingSpool
from e2email.core import compose, headers
from e2email.core.compose import Outgoing
from e2email.errors import ConfigError, InternalError
from e2email.model import Action, Address, Decision, Plan, Role
from e2email.services import submit
from e2email.services.protect import openpgp as protect_openpgp
from e2email.services.protect import payload
from e2email.services.protect.job import Job
from e2email.services.runtime import Runtime

if TYPE_CHECKING:
    from e2email.adapters.spool import Spool

# S/MIME (cryptography's x509 and CMS, ~30 ms of imports) loads only when a copy needs it.

log = logging.getLogger("e2email.protect")

Fields = list[tuple[str, str]]


def _groups(plan: Plan) -> list[tuple[Action, tuple[Decision, ...]]]:
    """One copy per protocol for To/Cc, and one per Bcc recipient (security.md item 4)."""
    groups: dict[Action, list[Decision]] = {}
    single: list[tuple[Action, tuple[Decision, ...]]] = []
    for d in plan.decisions:
        if d.recipient.role is Role.BCC:
            single.append((d.action, (d,)))
        else:
            groups.setdefault(d.action, []).append(d)
    return [(a, tuple(ds)) for a, ds in groups.items()] + single


def cleartext_signer(job: Job) -> str | None:
    """Which protocol signs cleartext copies: ``openpgp``, ``smime`` or None."""
    setting = job.rt.settings.protection.sign_cleartext
    if setting == "never" or job.out.mua is not None:
        return None
    if setting == "openpgp":
        return "openpgp" if job.openpgp_signer else None
    if setting == "smime":
        if job.identity is None:
            raise ConfigError("protection.sign_cleartext is smime but [smime] has no identity")
        return "smime"
    if job.rt.settings.openpgp.sign and _has_openpgp_key(job):
        return "openpgp"
    if job.rt.settings.smime.sign and job.identity is not None:
        return "smime"
    return None


def _has_openpgp_key(job: Job) -> bool:
    """A secret key for the sender exists (False when gpg itself is not usable)."""
    try:
        return job.rt.gpg.secret_key_for(job.sender) is not None
    except ConfigError:
        return False


def _cleartext(job: Job) -> bytes | Spool:
    """A copy for recipients without a key: signed, or the message as it is."""
    signer = cleartext_signer(job)
    if signer == "openpgp":
        return protect_openpgp.signed_copy(job)
    if signer == "smime":
        from e2email.services.protect import smime as protect_smime

        return protect_smime.signed_copy(job)
    if job.out.original is not None:
        return job.out.original
    entity = job.out.entity
    fields = [*headers.message_fields(job.out.headers), ("MIME-Version", "1.0"), *entity.headers]
    out = job.assembly()
    out.add(compose.render_headers(fields))
    out.add_all(payload.chunks(entity.body, job.files))
    return out.finish()


def _copy_for(job: Job, action: Action, decisions: tuple[Decision, ...]) -> bytes | Spool:
    if job.out.mua == "encrypted" and job.out.original is not None:
        return job.out.original
    if action is Action.OPENPGP:
        return protect_openpgp.encrypted_copy(job, decisions)
    if action is Action.SMIME:
        from e2email.services.protect import smime as protect_smime

        return protect_smime.encrypted_copy(job, decisions)
    if action is Action.CLEARTEXT:
        return _cleartext(job)
    if action is Action.PASSTHROUGH and job.out.original is not None:
        return job.out.original
    raise InternalError(f"no copy can be made for action {action.value}")


def _utf8(out: Outgoing, sender: Address, envelope: tuple[Address, ...]) -> bool:
    return out.utf8 or any(not str(a).isascii() for a in (sender, *envelope))


def build_copies(
    rt: Runtime, plan: Plan, out: Outgoing, files: Mapping[str, Path] | None = None
) -> list[submit.Copy]:
    """Protect the message once per group of recipients (see the module docstring)."""
    with tempfile.TemporaryDirectory(prefix="e2email-") as tmp:
        job = Job(rt, out, plan.sender, files or {}, Path(tmp))
        copies = []
        for action, decisions in _groups(plan):
            envelope = tuple(d.recipient.address for d in decisions)
            data = _copy_for(job, action, decisions)
            copies.append(submit.Copy(envelope, data, _utf8(out, plan.sender, envelope)))
            log.debug("copy for %s: %s, %d bytes", action.value, len(envelope), len(data))
    return copies


LIVE_FROM = 8 << 20  # attachments at least this large: the copy is sent while it is built


def start_copies(
    rt: Runtime, plan: Plan, out: Outgoing, files: Mapping[str, Path] | None = None
) -> list[submit.Copy]:
    """``build_copies``, except that a single copy with large attachments is built in a
    thread while the caller already submits it (encryption and SMTP overlap on two cores).

    Nothing changes for the recipients: the server only takes the message at the final dot,
    which is sent after the last byte; if protection fails, the connection is dropped before
    it and the server keeps nothing (RFC 5321 4.1.1.4). Several copies are still all built
    before any is sent, so a failure in one cannot follow the delivery of another.
    """
    files = files or {}
    groups = _groups(plan)
    if len(groups) != 1 or sum(p.stat().st_size for p in files.values()) < LIVE_FROM:
        return build_copies(rt, plan, out, files)
    action, decisions = groups[0]
    envelope = tuple(d.recipient.address for d in decisions)
    spool = GrowingSpool()
    job_args = (rt, out, plan.sender, files)
    worker = threading.Thread(
        target=_build_live, args=(job_args, action, decisions, spool), name="e2email-protect"
    )
    worker.start()
    return [submit.Copy(envelope, spool, _utf8(out, plan.sender, envelope))]


def _build_live(
    job_args: tuple[Runtime, Outgoing, Address, Mapping[str, Path]],
    action: Action,
    decisions: tuple[Decision, ...],
    spool: GrowingSpool,
) -> None:
    """The worker of ``start_copies``: build the one copy into ``spool``, or fail it."""
    try:
        with tempfile.TemporaryDirectory(prefix="e2email-") as tmp:
            job = Job(*job_args, Path(tmp), live=spool)
            data = _copy_for(job, action, decisions)
            if isinstance(data, bytes):  # a message that goes out as it is
                spool.write(data)
            spool.finish()
    except BaseException as e:  # the sending thread raises it from the spool
        spool.fail(e)
