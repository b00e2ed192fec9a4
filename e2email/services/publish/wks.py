"""``e2email keys publish``: the Web Key Service round trip, resumable (WKS draft 4.2-4.4).

The steps, each recorded in the state file (``adapters/store/publish``) once done:

1. ``found``: the provider's submission address (its WKD ``submission-address`` file, or the
   policy's) and the submission address's key, from WKD. None: NoKeyServiceError (69).
2. ``submitted``: the key, minimal, with only the sender's user ID, encrypted to the
   submission address (and to ourselves), sent through the account's submission server.
3. ``confirmed``: the confirmation request found in the account's inbox (read-only),
   decrypted with our key and checked: for our key, our address, from the submission
   address. Anything else is ignored with its reason.
4. ``responded``: the confirmation response sent back, encrypted to the submission address.
5. ``published``: WKD serves the key (checked over HTTPS, like any recipient would).

Run again after an interruption or a timeout (exit 75), the command continues where it
stopped; when the key changed meanwhile, it starts over. Exit 0 once WKD serves the key.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from io import BytesIO
from typing import Any

from e2email.config import Account
from e2email.core import wks
from e2email.errors import ConfigError, TemporaryFailure, UsageError
from e2email.model import Address, Key
from e2email.services.publish import inbox, provider
from e2email.services.runtime import Runtime

STEPS = ("found", "submitted", "confirmed", "responded", "published")
Report = Callable[[str, str], None]  # (step, what happened)


@dataclass
class Publication:
    """One publication as the state file keeps it."""

    address: str
    fingerprint: str
    submission: str = ""
    source: str = ""
    steps: dict[str, str] = field(default_factory=dict)
    seen: list[str] = field(default_factory=list)
    refused: list[dict[str, str]] = field(default_factory=list)
    request: wks.ConfirmationRequest | None = None  # found in this run; never saved

    @classmethod
    def load(cls, data: dict[str, Any] | None, address: str, fpr: str) -> Publication:
        """The saved publication if it is for this key; else a new one."""
        if not data or data.get("fingerprint") != fpr or data.get("address") != address:
            return cls(address, fpr)
        steps = {
            str(s["step"]): str(s["at"])
            for s in data.get("steps", [])
            if isinstance(s, dict) and s.get("step") in STEPS and "at" in s
        }
        return cls(
            address,
            fpr,
            str(data.get("submission_address", "")),
            str(data.get("source", "")),
            steps,
            [str(x) for x in data.get("seen", [])],
            [r for r in data.get("refused", []) if isinstance(r, dict)],
        )

    def as_json(self) -> dict[str, Any]:
        """The state file's content, and ``--json``'s."""
        done = [s for s in STEPS if s in self.steps]
        return {
            "address": self.address,
            "fingerprint": self.fingerprint,
            "submission_address": self.submission,
            "source": self.source,
            "state": done[-1] if done else "started",
            "steps": [{"step": s, "at": self.steps[s]} for s in done],
            "seen": self.seen,
            "refused": self.refused,
        }


@dataclass(frozen=True)
class Run:
    """What every step needs."""

    rt: Runtime
    account: Account
    address: Address
    deadline: float
    report: Report
    keys: dict[str, Key] = field(default_factory=dict)  # the submission key, fetched once

    @property
    def remaining(self) -> float:
        """Seconds left of the command's time."""
        return max(0.5, self.deadline - time.monotonic())


def sender(rt: Runtime, from_: str | None) -> tuple[Account, Address]:
    """The account and address to publish for (``--from``, else the only one configured)."""
    from e2email.core.addresses import parse_recipient_argument

    if from_ is not None:
        address = parse_recipient_argument(from_)
        return rt.account(None, address), address
    candidates = [(a, f) for a in rt.settings.accounts.values() for f in a.from_]
    if len(candidates) != 1:
        raise UsageError("more than one address (or none) is configured: pass --from ADDR")
    account, text = candidates[0]
    return account, parse_recipient_argument(text)


def _store(rt: Runtime) -> Any:
    from e2email.adapters.store.publish import PublishStore

    outbox = rt.settings.outbox.path
    if outbox is None:
        raise ConfigError("no state directory: set outbox.path (publish state lives beside it)")
    return PublishStore(outbox.parent / "publish")


def publish(
    rt: Runtime, from_: str | None, *, timeout: float = 300.0, report: Report | None = None
) -> Publication:
    """Publish the sender's key; resumes a saved publication (see the module docstring)."""
    account, address = sender(rt, from_)
    own = rt.gpg.secret_key_for(address)
    if own is None:
        raise ConfigError(f"no usable secret key with a user ID for {address} in the keyring")
    store = _store(rt)
    pub = Publication.load(store.load(str(address)), str(address), own.fingerprint)
    run = Run(rt, account, address, time.monotonic() + timeout, report or (lambda _s, _t: None))
    for step in STEPS:
        if step == "published" or step not in pub.steps:
            _STEP[step](run, pub)
            pub.steps[step] = datetime.now(UTC).isoformat(timespec="seconds")
            store.save(str(address), pub.as_json())
    return pub


def _submission_key(run: Run, pub: Publication) -> Key:
    if pub.submission not in run.keys:
        svc = provider.service(run.rt, run.address, run.remaining)
        run.keys[pub.submission] = provider.submission_key(run.rt, svc, run.remaining)
    return run.keys[pub.submission]


def _found(run: Run, pub: Publication) -> None:
    svc = provider.service(run.rt, run.address, run.remaining)
    key = provider.submission_key(run.rt, svc, run.remaining)
    pub.submission, pub.source = str(svc.submission), svc.url
    run.keys[pub.submission] = key
    run.report("found", f"{run.address.domain} takes keys at {svc.submission} ({svc.url})")


def _submission(pub: Publication) -> Address:
    from e2email.core.addresses import parse_mailbox

    return parse_mailbox(pub.submission)[1]


def _encrypted(run: Run, pub: Publication, body: bytes) -> bytes:
    """``body`` encrypted to the submission address's key and to our own (as gpg-wks-client)."""
    to = _submission_key(run, pub)
    out: list[bytes] = []
    run.rt.gpg.encrypt_stream(
        BytesIO(body),
        [to.fingerprint, pub.fingerprint],
        out.append,
        extra_keys=[to.material or b""],
    )
    return b"".join(out)


def _send(run: Run, to: Address, subject: str, ciphertext: bytes) -> str:
    from e2email.services import submit

    domain = run.address.domain
    env = wks.Envelope(
        sender=run.address,
        to=to,
        subject=subject,
        date=format_datetime(datetime.now(UTC)),
        message_id=f"<{uuid.uuid4()}@{domain}>",
        boundary=f"=-wks-{uuid.uuid4().hex}",
    )
    copy = submit.Copy((to,), wks.mail(env, ciphertext))
    result = submit.submit(run.rt, run.account, run.address, [copy], message_id=env.message_id)
    if result.queued:
        return f"queued in the outbox ({result.deferred}); it goes out with `e2email queue flush`"
    return f"accepted by {run.account.smtp_host}"


def _submitted(run: Run, pub: Publication) -> None:
    submission = _submission(pub)
    armored = run.rt.gpg.export_minimal(pub.fingerprint, run.address)
    ciphertext = _encrypted(run, pub, wks.submission_body(armored))
    sent = _send(run, submission, "Key publishing request", ciphertext)
    run.report("submitted", f"key {pub.fingerprint} sent to {submission}: {sent}")


def _confirmed(run: Run, pub: Publication) -> None:
    want = inbox.Expected(run.address, pub.fingerprint, _submission(pub))
    watch = inbox.Watch(set(pub.seen), list(pub.refused))
    run.report("waiting", f"for the confirmation request in {inbox.FOLDER} (read-only)")
    try:
        req = inbox.wait_for_request(run.rt, run.account, want, watch, run.deadline)
    finally:
        pub.seen, pub.refused = sorted(watch.seen), watch.refused
    pub.request = req
    run.report("confirmed", f"confirmation request from {req.sender} for {req.address}")


def _responded(run: Run, pub: Publication) -> None:
    if pub.request is None:  # interrupted after the request was found: find it again
        pub.seen = []
        _confirmed(run, pub)
    req = pub.request
    if req is None:
        raise TemporaryFailure("the confirmation request went missing; run the command again")
    ciphertext = _encrypted(run, pub, wks.response_body(req))
    sent = _send(run, req.sender, "Key publication confirmation", ciphertext)
    run.report("responded", f"confirmation sent to {req.sender}: {sent}")


def _published(run: Run, pub: Publication, poll: float = 1.0) -> None:
    while True:
        served = [k.fingerprint for k in provider.wkd_keys(run.rt, run.address, run.remaining)]
        if pub.fingerprint in served:
            run.report("published", f"WKD serves {pub.fingerprint} for {run.address}")
            return
        if time.monotonic() + poll > run.deadline:
            raise TemporaryFailure(
                f"WKD does not serve {pub.fingerprint} for {run.address} yet"
                + (f" (it serves {', '.join(served)})" if served else "")
                + "; run `e2email keys publish` again to check later"
            )
        time.sleep(poll)


_STEP: dict[str, Callable[[Run, Publication], None]] = {
    "found": _found,
    "submitted": _submitted,
    "confirmed": _confirmed,
    "responded": _responded,
    "published": _published,
}
