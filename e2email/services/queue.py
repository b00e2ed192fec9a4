"""The outbox use cases: list, flush (send what waits, exactly once) and drop.

Flush takes each entry's lock before sending it and removes it only after the server accepted
it, so concurrent flushes (cron, ``sendmail -q``, ``e2email queue flush``) never send one entry
twice. Entries of one account share one connection. A temporary failure keeps the entry; a
permanent refusal moves it to ``failed/`` (shown by ``queue list`` until dropped).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from e2email.adapters.smtp import SmtpSession
from e2email.adapters.store.outbox import Claim, Entry, Outbox
from e2email.config import Account
from e2email.errors import (
    EX_OK,
    AuthenticationError,
    ConfigError,
    E2emailError,
    PermanentFailure,
    TemporaryFailure,
    UsageError,
)
from e2email.model import Address
from e2email.services.runtime import Runtime
from e2email.services.submit import Copy, check_require_tls, open_session, transact

log = logging.getLogger("e2email.queue")

State = Literal["sent", "deferred", "failed", "busy"]


@dataclass(frozen=True)
class Outcome:
    """What one flush did with one entry; ``exit_code`` ranks how bad it is."""

    id: str
    state: State
    detail: str = ""
    exit_code: int = EX_OK


def outbox(rt: Runtime) -> Outbox:
    """The configured outbox (ConfigError when it is switched off)."""
    s = rt.settings.outbox
    if not s.enabled or s.path is None:
        raise ConfigError("the outbox is off ([outbox] enabled = false, or no HOME to put it in)")
    return Outbox(s.path)


def entries(rt: Runtime) -> list[Entry]:
    """Every entry, ready ones first, oldest first."""
    return outbox(rt).entries()


def drop(rt: Runtime, entry_id: str) -> None:
    """Delete one entry (UsageError if there is none)."""
    if not outbox(rt).drop(entry_id):
        raise UsageError(f"no outbox entry {entry_id} (see 'e2email queue list')")


def _address(text: str) -> Address:
    local, _, domain = text.rpartition("@")
    return Address(local, domain)


def _by_account(box: Outbox) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for e in box.entries():
        if not e.failed:
            groups.setdefault(e.envelope.account, []).append(e.id)
    return groups


class _AccountRun:
    """Sends one account's entries over one connection, opened when the first is claimed."""

    def __init__(self, rt: Runtime, account: Account) -> None:
        self.rt, self.account = rt, account
        self.session: SmtpSession | None = None
        self.blocked: E2emailError | None = None

    def send(self, claim: Claim) -> Outcome:
        if self.blocked is not None:
            return self._defer(claim, self.blocked)
        try:
            if self.session is None:
                self.session = open_session(self.rt, self.account)
        except E2emailError as e:  # cannot connect or log in: keep every entry of the account
            self.blocked = e
            return self._defer(claim, e)
        return self._transact(claim, self.session)

    def _transact(self, claim: Claim, session: SmtpSession) -> Outcome:
        env = claim.envelope
        recipients = tuple(_address(r) for r in env.recipients)
        copy = Copy(recipients, claim.content, env.utf8, env.prefer_require_tls)
        try:
            check_require_tls(session, env.require_tls)
            reply = transact(session, _address(env.sender), copy, env.require_tls)
        except TemporaryFailure as e:
            self.close()
            return self._defer(claim, e)
        except E2emailError as e:  # refused for good: 5xx, REQUIRETLS not offered
            claim.fail(str(e))
            return Outcome(claim.id, "failed", str(e), e.exit_code)
        claim.done()
        log.info("sent %s: %s", claim.id, reply)
        return Outcome(claim.id, "sent", reply)

    def _defer(self, claim: Claim, e: E2emailError) -> Outcome:
        claim.defer(str(e))
        return Outcome(claim.id, "deferred", str(e), e.exit_code)

    def close(self) -> None:
        if self.session is not None:
            self.session.quit()
            self.session = None


def flush(rt: Runtime) -> list[Outcome]:
    """Try every ready entry once; one connection per account."""
    box = outbox(rt)
    box.clean_tmp()
    return list(_flush_groups(rt, box, _by_account(box)))


def _flush_groups(rt: Runtime, box: Outbox, groups: dict[str, list[str]]) -> Iterator[Outcome]:
    for name, ids in groups.items():
        account = rt.settings.accounts.get(name)
        run = _AccountRun(rt, account) if account is not None else None
        try:
            for entry_id in ids:
                with box.claim(entry_id) as claim:
                    if claim is None:
                        yield Outcome(entry_id, "busy", "another process is sending it")
                    elif run is None:
                        err = ConfigError(f"no account named {name!r} in the configuration")
                        claim.defer(str(err))
                        yield Outcome(entry_id, "deferred", str(err), err.exit_code)
                    else:
                        yield run.send(claim)
        finally:
            if run is not None:
                run.close()


def worst(outcomes: list[Outcome]) -> E2emailError | None:
    """One error summarising a flush, or None when nothing is left to do."""
    bad = [o for o in outcomes if o.state in ("deferred", "failed")]
    if not bad:
        return None
    failed = [o for o in bad if o.state == "failed"]
    if failed:
        return PermanentFailure(f"{len(failed)} message(s) refused for good; see 'queue list'")
    first = bad[0]
    message = f"{len(bad)} message(s) still queued: {first.detail}"
    if first.exit_code == AuthenticationError.exit_code:
        return AuthenticationError(message)
    if first.exit_code == ConfigError.exit_code:
        return ConfigError(message)
    return TemporaryFailure(message)
