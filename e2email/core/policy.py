"""Per-recipient decisions: OpenPGP, S/MIME, cleartext allowed, or refuse.

Pure. The caller supplies the key found (if any), the rejected candidates and, for a
recipient without a key, the transport verdict of its domain.
"""

from __future__ import annotations

from e2email.config import TRANSPORT_LADDER, PolicySettings
from e2email.errors import EX_NOPERM, EX_NOUSER
from e2email.model import Action, Decision, Key, Protocol, Recipient, Rejection

NO_KEY = "no-usable-key"
BELOW_FLOOR = "below-transport-floor"


def effective(policy: PolicySettings, recipient: Recipient) -> tuple[str, str]:
    """(encrypt, transport_floor) for a recipient: address override, then domain, then default."""
    encrypt, floor = policy.encrypt, policy.transport_floor
    address = str(recipient.address).lower()
    for key in (recipient.address.domain.lower(), address):
        override = policy.recipients.get(key)
        if override is not None:
            encrypt = override.encrypt or encrypt
            floor = override.transport_floor or floor
    return encrypt, floor


def meets_floor(verdict: str, floor: str) -> bool:
    """True if ``verdict`` is at or above ``floor`` on the ladder of contract.md."""
    return TRANSPORT_LADDER.index(verdict) >= TRANSPORT_LADDER.index(floor)


def decide(
    recipient: Recipient,
    key: Key | None,
    rejected: tuple[Rejection, ...],
    *,
    encrypt: str,
    floor: str,
    verdict: str | None,
    verdict_reason: str = "",
) -> Decision:
    """The decision for one recipient (contract.md: policy and the transport ladder)."""
    if key is not None and encrypt != "never":
        action = Action.OPENPGP if key.protocol is Protocol.OPENPGP else Action.SMIME
        return Decision(recipient, action, key, None, rejected)
    if encrypt == "required":
        return Decision(recipient, Action.REFUSE, None, NO_KEY, rejected)
    seen = verdict or "unknown"
    if meets_floor(seen, floor):
        return Decision(recipient, Action.CLEARTEXT, None, f"transport {seen}", rejected)
    why = f"{BELOW_FLOOR}: no key, and the MX path of {recipient.address.domain} is {seen}"
    why += f" (floor {floor})" + (f": {verdict_reason}" if verdict_reason else "")
    return Decision(recipient, Action.REFUSE, None, why, rejected)


def refusal_exit_code(decisions: tuple[Decision, ...]) -> int:
    """67 when a required key is missing, else 77 (policy)."""
    if any(d.reason == NO_KEY for d in decisions):
        return EX_NOUSER
    return EX_NOPERM
