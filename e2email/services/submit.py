"""Hand copies of a message to the account's submission server over authenticated TLS."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from e2email.adapters.smtp import SmtpSession
from e2email.config import Account
from e2email.errors import PartialDeliveryError, TemporaryFailure
from e2email.model import Address, SubmitResult
from e2email.services.runtime import Runtime

log = logging.getLogger("e2email.submit")


@dataclass(frozen=True)
class Copy:
    """One transaction: the envelope recipients and the exact bytes they receive."""

    recipients: tuple[Address, ...]
    data: bytes
    utf8: bool = False


def _params(session: SmtpSession, copy: Copy, require_tls: bool) -> list[str]:
    params = []
    if session.capabilities.has("SIZE"):
        params.append(f"SIZE={len(copy.data)}")
    if copy.utf8:
        if not session.capabilities.has("SMTPUTF8"):
            raise TemporaryFailure(f"{session.host} does not support SMTPUTF8 (non-ASCII address)")
        params.append("SMTPUTF8")
    if require_tls:
        params.append("REQUIRETLS")
    return params


def _check_recipients(session: SmtpSession, sender: Address, copy: Copy, require_tls: bool) -> None:
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


def open_session(rt: Runtime, account: Account) -> SmtpSession:
    """Connect to the account's server and authenticate (credentials fetched first)."""
    password = rt.password(account) if account.username else None
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
        if account.username and password is not None:
            mech = session.login(account.username, password)
            log.info("authenticated to %s as %s (%s)", account.smtp_host, account.username, mech)
        return session
    except BaseException:
        session.close()
        raise


def submit(
    rt: Runtime,
    account: Account,
    sender: Address,
    copies: Iterable[Copy],
    *,
    require_tls: bool = False,
) -> SubmitResult:
    """Send every copy; when any recipient is refused, nothing is sent to anyone."""
    copies = list(copies)
    session = open_session(rt, account)
    try:
        if require_tls and not session.capabilities.has("REQUIRETLS"):
            raise TemporaryFailure(f"{account.smtp_host} does not offer REQUIRETLS (RFC 8689)")
        if len(copies) > 1:
            for copy in copies:  # every RCPT is checked before any copy is sent
                _check_recipients(session, sender, copy, require_tls)
                session.reset()
        accepted: list[Address] = []
        replies = []
        for copy in copies:
            _check_recipients(session, sender, copy, require_tls)
            replies.append(session.data([copy.data]).text)
            accepted += copy.recipients
    except BaseException:
        session.close()
        raise
    session.quit()
    return SubmitResult(accepted=tuple(accepted), replies=tuple(replies))
