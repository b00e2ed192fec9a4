"""Protection: turn a planned draft into the exact bytes each group of recipients receives."""

from __future__ import annotations

import secrets as pysecrets

from e2email.core import compose, pgpmime
from e2email.core.compose import Draft
from e2email.errors import ConfigError
from e2email.model import Action, Address, Decision, Plan, Role
from e2email.services import keys, submit
from e2email.services.runtime import Runtime


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


def _signer(rt: Runtime, sender: Address) -> str | None:
    if not rt.settings.openpgp.sign:
        return None
    key = rt.gpg.secret_key_for(sender)
    if key is None:
        raise ConfigError(
            f"openpgp.sign is true but the keyring has no usable secret key for {sender}; "
            "import your key or set sign = false"
        )
    return key.fingerprint


def _self_key(rt: Runtime, sender: Address) -> list[str]:
    if not rt.settings.openpgp.encrypt_to_self:
        return []
    key, _ = keys.local_openpgp(rt.gpg, sender)
    return [key.fingerprint] if key else []


def build_copies(rt: Runtime, plan: Plan, draft: Draft) -> list[submit.Copy]:
    """Protect the draft once per group of recipients."""
    headers = draft.visible_headers()
    utf8 = compose.needs_utf8(headers) or any(
        not str(d.recipient.address).isascii() for d in plan.decisions
    )
    inner = compose.text_entity(draft.body)
    copies = []
    signer = None
    for action, decisions in _groups(plan):
        envelope = tuple(d.recipient.address for d in decisions)
        if action is Action.OPENPGP:
            signer = signer or _signer(rt, plan.sender)
            fprs = [d.key.fingerprint for d in decisions if d.key] + _self_key(rt, plan.sender)
            armored = rt.gpg.encrypt(inner, list(dict.fromkeys(fprs)), sign_with=signer)
            boundary = "e2email-" + pysecrets.token_hex(12)
            outer = [
                *headers,
                ("MIME-Version", "1.0"),
                ("Content-Type", pgpmime.encrypted_content_type(boundary)),
            ]
            data = pgpmime.encrypted_framing(compose.render_headers(outer), boundary).wrap(armored)
        elif action is Action.CLEARTEXT:
            data = compose.render_headers([*headers, ("MIME-Version", "1.0")])[:-2] + inner
        else:
            raise ConfigError(f"{action.value} is not supported yet for {envelope[0]}")
        copies.append(submit.Copy(envelope, data, utf8))
    return copies
