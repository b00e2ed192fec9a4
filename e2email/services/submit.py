"""Hand copies of a message to the account's submission server over authenticated TLS.

The rules (contract.md, security.md item 8):

* When any recipient of any copy is refused, nothing is sent to anyone: every RCPT of every
  copy is checked before the first DATA.
* A temporary failure (network, TLS, 4xx) stores the copies not yet accepted in the outbox,
  exactly as they would have been sent (already encrypted), and the call succeeds with
  ``SubmitResult.queued``; with the outbox off it raises TemporaryFailure (exit 75).
* Refused credentials (exit 77) and permanent refusals (exit 69) queue nothing.
* REQUIRETLS (RFC 8689): ``require_tls`` refuses to submit unless the server offers it;
  ``Copy.prefer_require_tls`` sets it whenever the server offers it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from e2email.adapters.smtp import SmtpSession
from e2email.config import Account
from e2email.errors import (
    PartialDeliveryError,
    PermanentFailure,
    PolicyRefusedError,
    TemporaryFailure,
)
from e2email.model import Address, SubmitResult
from e2email.services.runtime import Runtime

if TYPE_CHECKING:
    from e2email.adapters.spool import Spool
    from e2email.adapters.store.outbox import Envelope

log = logging.getLogger("e2email.submit")


@dataclass(frozen=True)
class Copy:
    """One transaction: the envelope recipients and the exact bytes they receive.

    ``content`` is bytes, or a spool (a file) for what protection produced: a large message
    streams from it to the server and into the outbox, never whole in memory.
    """

    recipients: tuple[Address, ...]
    content: bytes | Spool
    utf8: bool = False
    prefer_require_tls: bool = False

    @property
    def size(self) -> int:
        """The length in bytes (of a copy still being built: once it is complete)."""
        return len(self.content)

    @property
    def known_size(self) -> int | None:
        """The length if it is known already (not while the copy is still being built)."""
        return len(self.content) if isinstance(self.content, bytes) else self.content.known_size

    def chunks(self) -> Iterable[bytes]:
        """The bytes, in pieces of at most a MiB."""
        if isinstance(self.content, bytes):
            return (self.content,)
        return self.content.chunks()

    def data_ready(self) -> bool:
        """True if what was built so far goes into DATA as it is (no dot-stuffing to do)."""
        return not isinstance(self.content, bytes) and self.content.data_ready()

    @property
    def data(self) -> bytes:
        """All the bytes as one object (for small messages and tests; sending streams)."""
        if isinstance(self.content, bytes):
            return self.content
        return self.content.read()


class Interrupted(TemporaryFailure):
    """A temporary failure after ``sent`` copies had already been accepted."""

    def __init__(self, cause: TemporaryFailure, sent: int) -> None:
        super().__init__(str(cause))
        self.cause, self.sent = cause, sent


def _params(session: SmtpSession, copy: Copy, require_tls: bool) -> list[str]:
    params = []
    if session.capabilities.has("SIZE") and copy.known_size is not None:
        params.append(f"SIZE={copy.known_size}")  # RFC 1870: none for a copy still being built
    if copy.utf8:
        if not session.capabilities.has("SMTPUTF8"):  # retrying the same server cannot help
            raise PermanentFailure(
                f"{session.host} does not support SMTPUTF8, needed for a non-ASCII address; "
                "nothing sent"
            )
        params.append("SMTPUTF8")
    if require_tls or (copy.prefer_require_tls and session.capabilities.has("REQUIRETLS")):
        params.append("REQUIRETLS")
    return params


def check_recipients(session: SmtpSession, sender: Address, copy: Copy, require_tls: bool) -> None:
    """MAIL + RCPT for one copy; on any refusal RSET and raise naming the refused ones."""
    session.mail(str(sender), _params(session, copy, require_tls))
    refused = []
    for rcpt in copy.recipients:
        reply = session.rcpt(str(rcpt))
        if not reply.ok:
            refused.append((rcpt, reply))
    if refused:
        session.reset()
        names = "; ".join(f"{a}: {r.text}" for a, r in refused)
        if all(r.transient for _, r in refused):
            raise TemporaryFailure(f"recipients temporarily refused, nothing sent: {names}")
        raise PartialDeliveryError(f"recipients refused, nothing sent: {names}")


def transact(session: SmtpSession, sender: Address, copy: Copy, require_tls: bool) -> str:
    """One complete transaction; the server's final reply to DATA."""
    check_recipients(session, sender, copy, require_tls)
    return session.data(copy.chunks(), ready=copy.data_ready).text


def check_require_tls(session: SmtpSession, required: bool) -> None:
    """Refuse (exit 77, nothing queued) when REQUIRETLS is demanded and not offered."""
    if required and not session.capabilities.has("REQUIRETLS"):
        raise PolicyRefusedError(
            f"{session.host} does not offer REQUIRETLS (RFC 8689) and it was required; nothing sent"
        )


def authenticate(account: Account, session: SmtpSession, secret: str | None) -> str | None:
    """AUTH with the account's password or OAuth token (never in clear: the session is TLS)."""
    if not account.username or secret is None:
        return None
    if account.oauth_token_command:
        mech = session.login_oauth(account.username, secret, account.auth_mechanism)
    else:
        mech = session.login(account.username, secret, account.auth_mechanism)
    log.info("authenticated to %s as %s (%s)", account.smtp_host, account.username, mech)
    session.mechanism = mech
    return mech


def _secret(rt: Runtime, account: Account) -> str | None:
    if not account.username:
        return None
    if account.oauth_token_command:
        from e2email.adapters import secrets

        what = f"accounts.{account.name}.oauth_token_command"
        return secrets.from_command(account.oauth_token_command, what)
    return rt.password(account)


def open_session(rt: Runtime, account: Account) -> SmtpSession:
    """Connect to the account's server and authenticate (credentials fetched first)."""
    secret = _secret(rt, account)
    session = SmtpSession.open(
        account.smtp_host,
        account.smtp_port,
        security=account.smtp_security,
        context=rt.tls_context,
        resolver=rt.resolver,
        timeout=rt.settings.network.timeout,
        pin=account.tls_fingerprint,
    )
    try:
        authenticate(account, session, secret)
    except BaseException:
        session.close()
        raise
    return session


def send_all(
    session: SmtpSession, sender: Address, copies: Sequence[Copy], require_tls: bool
) -> list[str]:
    """Check every RCPT of every copy, then send each; Interrupted tells how far it got."""
    check_require_tls(session, require_tls)
    if len(copies) > 1:
        for copy in copies:  # every RCPT is checked before any copy is sent
            check_recipients(session, sender, copy, require_tls)
            session.reset()
    replies: list[str] = []
    for copy in copies:
        try:
            replies.append(transact(session, sender, copy, require_tls))
        except TemporaryFailure as e:
            raise Interrupted(e, len(replies)) from None
    return replies


def _deliver(
    rt: Runtime, account: Account, sender: Address, copies: Sequence[Copy], require_tls: bool
) -> list[str]:
    session = open_session(rt, account)
    try:
        replies = send_all(session, sender, copies, require_tls)
    except BaseException:
        session.close()
        raise
    session.quit()
    return replies


@dataclass(frozen=True)
class _Job:
    account: Account
    sender: Address
    copies: tuple[Copy, ...]
    require_tls: bool
    message_id: str | None


def submit(
    rt: Runtime,
    account: Account,
    sender: Address,
    copies: Iterable[Copy],
    *,
    require_tls: bool = False,
    message_id: str | None = None,
) -> SubmitResult:
    """Send every copy; refused as a whole, or queued in the outbox on temporary failure."""
    job = _Job(account, sender, tuple(copies), require_tls, message_id)
    try:
        replies = _deliver(rt, account, sender, job.copies, require_tls)
    except TemporaryFailure as e:
        return _queue_rest(rt, job, e)
    accepted = tuple(a for c in job.copies for a in c.recipients)
    return SubmitResult(accepted=accepted, replies=tuple(replies))


def _envelope(job: _Job, copy: Copy) -> Envelope:
    from e2email.adapters.store.outbox import Envelope

    return Envelope(
        account=job.account.name,
        sender=str(job.sender),
        recipients=tuple(str(a) for a in copy.recipients),
        utf8=copy.utf8,
        require_tls=job.require_tls,
        prefer_require_tls=copy.prefer_require_tls,
        message_id=job.message_id,
    )


def _queue_rest(rt: Runtime, job: _Job, error: TemporaryFailure) -> SubmitResult:
    """Store the copies not accepted yet in the outbox, or re-raise when it is off."""
    sent = error.sent if isinstance(error, Interrupted) else 0
    reason = str(error.cause if isinstance(error, Interrupted) else error)
    if sent:
        reason += f" ({sent} of {len(job.copies)} copies were accepted before that)"
    settings = rt.settings.outbox
    if not settings.enabled or settings.path is None:
        raise TemporaryFailure(f"{reason}; not queued (the outbox is off)") from None
    from e2email.adapters.store.outbox import Outbox  # only when needed: the common path sends

    box = Outbox(settings.path)
    ids: list[str] = []
    try:
        for copy in job.copies[sent:]:
            ids.append(box.add(_envelope(job, copy), copy.content, error=reason))
    except TemporaryFailure as e:  # all or nothing: the caller will retry the whole message
        for entry_id in ids:
            box.drop(entry_id)
        raise TemporaryFailure(f"{reason}; and {e}") from None
    log.info("queued %s: %s", ", ".join(ids), reason)
    accepted = tuple(a for c in job.copies[:sent] for a in c.recipients)
    return SubmitResult(accepted=accepted, queued=tuple(ids), deferred=reason)


@dataclass(frozen=True)
class Probe:
    """What ``account check`` learnt about an account's submission server."""

    host: str
    port: int
    security: str
    tls_version: str | None
    fingerprint: str
    mechanism: str | None
    requiretls: bool
    smtputf8: bool


def probe(rt: Runtime, account: Account) -> Probe:
    """Connect, verify TLS, authenticate, QUIT: everything short of sending."""
    session = open_session(rt, account)
    try:
        caps = session.capabilities
        found = Probe(
            host=account.smtp_host,
            port=account.smtp_port,
            security=account.smtp_security,
            tls_version=session.tls_version,
            fingerprint=session.peer_fingerprint(),
            mechanism=session.mechanism,
            requiretls=caps.has("REQUIRETLS"),
            smtputf8=caps.has("SMTPUTF8"),
        )
    except BaseException:
        session.close()
        raise
    session.quit()
    return found
