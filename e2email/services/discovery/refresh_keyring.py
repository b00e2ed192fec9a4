"""``keys refresh --keyring``: the recipient keys of the user's own gpg keyring, refreshed.

The keyring records no source, so each public key without a secret part is asked for by
fingerprint at the first ``kind = "vks"`` keyserver configured (a verifying keyserver; an
HKPS server is never asked to update the user's keyring). Only blocks of that very key are
taken, cut down to the user IDs the keyring already has (a keyserver adds no address to the
user's keyring), and imported: gpg merges revocations, new subkeys and expiry changes. The
user asked for this write with ``--keyring``; without it the keyring is only read.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from e2email.adapters.openpgp.gpg import PublicKey
from e2email.core import keyserver, pgpkeys
from e2email.core import refresh as plan
from e2email.services.discovery.judge import Context, Outcome
from e2email.services.discovery.refresh import Result
from e2email.services.runtime import Runtime

SOURCE = "keyring"


def _recipients(rt: Runtime) -> list[PublicKey]:
    secret = {k.fingerprint for k in rt.gpg.keys(secret=True)}
    return [k for k in rt.gpg.keys(None) if k.fingerprint not in secret]


def _one(rt: Runtime, ctx: Context, t: plan.Target, key: PublicKey) -> Result:
    from e2email.services.discovery import vks

    req = plan.by_fingerprint(t, key.fingerprint)
    address = key.user_ids[0] if key.user_ids else ""
    base = Result(key.fingerprint, address, SOURCE, req.url, "unchanged")
    answer = vks.fetch(ctx, req, rt.settings.network.timeout)
    if isinstance(answer, Outcome):
        reason = answer.rejected[0].reason if answer.rejected else "failed"
        return replace(base, status="not-found" if reason == "not-found" else "failed",
                       reason=None if reason == "not-found" else reason)  # fmt: skip
    blocks, dropped = keyserver.same_key(answer.body, key.fingerprint)
    other = "a different key was offered and ignored" if "other-key" in dropped else None
    known = set(key.user_ids)
    cut = [b for b in (pgpkeys.keep_user_ids(b, known.__contains__) for b in blocks) if b]
    if not cut:
        return replace(base, status="failed", reason=other or "no known user ID in the answer")
    rt.gpg.import_keys(b"".join(b.to_bytes() for b in cut))
    after = rt.gpg.keys(key.fingerprint)
    status = _status(key, after[0] if after else key)
    return replace(base, status=status, reason=other)


def _status(before: PublicKey, after: PublicKey) -> str:
    problem = after.problem()
    if problem is not None and problem != before.problem():
        return problem
    same = (before.expires, before.encryption_subkeys, before.validity) == (
        after.expires,
        after.encryption_subkeys,
        after.validity,
    )
    return "unchanged" if same else "updated"


def refresh_keyring(rt: Runtime) -> list[Result]:
    """Refresh the keyring's recipient keys; none when no VKS keyserver is configured."""
    servers = [s for s in rt.settings.discovery.keyservers if s.kind == keyserver.VKS]
    if not servers:
        return []
    t = plan.Target(keyserver.VKS, "", servers[0].host, servers[0].port)
    ctx = Context(rt.settings, rt.resolver, rt.tls_context, datetime.now(UTC))
    # one at a time: every answer is imported into the same keyring
    return [_one(rt, ctx, t, k) for k in _recipients(rt)]
