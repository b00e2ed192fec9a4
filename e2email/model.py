"""Values that flow between the layers: addresses, keys with their provenance, plans.

All frozen: a decision, once made, is not edited on the way to the network.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, order=True)
class Address:
    """An RFC 5321 mailbox, split at the last '@'. The local part is kept exactly as given."""

    local: str
    domain: str

    def __str__(self) -> str:
        return f"{self.local}@{self.domain}"

    def matches(self, other: Address) -> bool:
        """Same mailbox: local part compared exactly, domain case-insensitively (RFC 5321 2.4)."""
        return self.local == other.local and self.domain.lower() == other.domain.lower()


class Protocol(enum.StrEnum):
    """End-to-end protection a copy of the message gets."""

    OPENPGP = "openpgp"
    SMIME = "smime"


class Role(enum.StrEnum):
    """Where a recipient came from; Bcc recipients are kept out of every other copy."""

    TO = "to"
    CC = "cc"
    BCC = "bcc"


class Action(enum.StrEnum):
    """What the plan does for one recipient."""

    OPENPGP = "openpgp"
    SMIME = "smime"
    CLEARTEXT = "cleartext"
    REFUSE = "refuse"
    PASSTHROUGH = "passthrough"  # already encrypted by the sender's mail program: sent as is


@dataclass(frozen=True)
class Key:
    """A usable public key or certificate and where it came from.

    ``source`` is where this answer came from (``local``, ``cache``, ``wkd-advanced``...);
    ``origin`` is where the key was first found when that differs (a cached WKD key has
    source ``cache`` and origin ``wkd-advanced``). ``material`` holds the key itself when it
    is not in the user's keyring: binary OpenPGP packets, or a certificate (DER, or a PEM
    bundle: the certificate first, then the intermediates of its path to an anchor).
    """

    protocol: Protocol
    fingerprint: str
    source: str
    user_ids: tuple[str, ...] = ()
    expires: datetime | None = None
    found_at: datetime | None = None
    origin: str | None = None
    material: bytes | None = field(default=None, repr=False, compare=False)
    warning: str | None = None


@dataclass(frozen=True)
class Rejection:
    """A candidate key that was found and not used, and why (e.g. ``expired``)."""

    source: str
    reason: str
    fingerprint: str | None = None


@dataclass(frozen=True)
class Recipient:
    """An envelope recipient and the header it came from."""

    address: Address
    role: Role


@dataclass(frozen=True)
class Decision:
    """The plan for one recipient: the action, the key used, or the refusal reason."""

    recipient: Recipient
    action: Action
    key: Key | None = None
    reason: str | None = None
    rejected: tuple[Rejection, ...] = ()


@dataclass(frozen=True)
class Plan:
    """Every recipient's decision for one message. Sending happens only if none refuses."""

    sender: Address
    decisions: tuple[Decision, ...]

    @property
    def refused(self) -> tuple[Decision, ...]:
        """The decisions that stop the message from being sent."""
        return tuple(d for d in self.decisions if d.action is Action.REFUSE)


@dataclass(frozen=True)
class SubmitResult:
    """What the submission server said: accepted and refused recipients with their replies."""

    accepted: tuple[Address, ...]
    refused: tuple[tuple[Address, str], ...] = ()
    queue_id: str | None = None
    replies: tuple[str, ...] = field(default=())
    queued: tuple[str, ...] = ()  # outbox IDs of copies that wait for a later flush
    deferred: str | None = None  # why they could not be submitted now
