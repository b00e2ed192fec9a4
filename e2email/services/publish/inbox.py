"""Watching the account's inbox for the provider's confirmation request, read-only.

The folder is opened with EXAMINE and messages are read with BODY.PEEK (security.md item 17):
waiting for the request changes nothing in the mailbox, not even a \\Seen flag. Every
message from the submission address is decrypted with the user's key and judged
(``core.wks.check_request``); one that is not meant for this publication is noted with the
reason and never answered.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from e2email.adapters.imap import ImapSession
from e2email.config import Account
from e2email.core import wks
from e2email.errors import ConfigError, CryptoError, E2emailError, TemporaryFailure
from e2email.model import Address
from e2email.services.imap.session import account_secret, connect
from e2email.services.runtime import Runtime

FOLDER = "INBOX"


@dataclass(frozen=True)
class Expected:
    """What the request must say: our address and key, the submission address."""

    address: Address
    fingerprint: str
    submission: Address


@dataclass
class Watch:
    """What the watch has seen: request UIDs judged already, and why they were refused."""

    seen: set[str] = field(default_factory=set)
    refused: list[dict[str, str]] = field(default_factory=list)


def open_session(rt: Runtime, account: Account) -> ImapSession:
    """An authenticated IMAP connection for the account (verified TLS, its pin)."""
    if not account.imap_host:
        raise ConfigError(
            f"accounts.{account.name}: imap_host is needed to receive the confirmation request"
        )
    return connect(rt, account, account_secret(rt, account))


def judge(rt: Runtime, raw: bytes, want: Expected) -> wks.ConfirmationRequest:
    """The request in ``raw`` if it is meant for us; WksError (or CryptoError) says why not."""
    ciphertext = wks.request_ciphertext(raw)
    plain = rt.gpg.decrypt(ciphertext)
    req = wks.parse_request(plain.data)
    why = wks.check_request(
        req,
        address=want.address,
        fingerprint=want.fingerprint,
        submission=want.submission,
        decrypted_with=plain.key,
    )
    if why is not None:
        raise wks.WksError(f"a confirmation request not meant for this publication: {why}")
    return req


def wait_for_request(
    rt: Runtime,
    account: Account,
    want: Expected,
    watch: Watch,
    deadline: float,
    poll: float = 1.0,
    tick: Callable[[], None] | None = None,
) -> wks.ConfirmationRequest:
    """Wait (until ``deadline``, a monotonic time) for the request; TemporaryFailure after."""
    session = open_session(rt, account)
    try:
        while True:
            found = _scan(rt, session, want, watch)
            if found is not None:
                return found
            if time.monotonic() + poll > deadline:
                raise TemporaryFailure(_timeout_text(want, watch))
            if tick:
                tick()
            time.sleep(poll)
    finally:
        session.logout()


def _scan(
    rt: Runtime, session: ImapSession, want: Expected, watch: Watch
) -> wks.ConfirmationRequest | None:
    inbox = session.examine(FOLDER)  # read-only: the confirmation stays unread for the user
    uids = inbox.search(["FROM", str(want.submission)])
    fresh = [u for u in uids if f"{inbox.selected.uidvalidity}:{u}" not in watch.seen]
    for message in inbox.fetch(fresh):
        key = f"{inbox.selected.uidvalidity}:{message.uid}"
        watch.seen.add(key)
        try:
            return judge(rt, message.raw, want)
        except (wks.WksError, CryptoError) as e:
            watch.refused.append({"uid": key, "reason": str(e)})
        except E2emailError as e:  # a malformed message from that address: not ours
            watch.refused.append({"uid": key, "reason": f"unreadable: {e}"})
    return None


def _timeout_text(want: Expected, watch: Watch) -> str:
    text = f"no confirmation request from {want.submission} in {FOLDER} yet"
    if watch.refused:
        text += f"; {len(watch.refused)} message(s) ignored, last: {watch.refused[-1]['reason']}"
    return text + "; run `e2email keys publish` again to keep waiting"
