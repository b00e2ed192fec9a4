"""The job of protecting one message: what all its copies share, computed once.

A ``Job`` holds the message, its attachment files and a private work dir, and knows (lazily)
the signing key, our own keys for encrypt-to-self, our S/MIME identity and the entities
every copy is built from (RFC 9788 header protection applied or not). The protocol modules
(``openpgp``, ``smime``) take a Job; ``copies`` decides which copies a plan needs.
"""

from __future__ import annotations

import secrets as pysecrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from e2email.adapters.spool import GrowingSpool
from e2email.core import headers, mime
from e2email.core.compose import Outgoing
from e2email.core.mime import Entity
from e2email.errors import ConfigError
from e2email.model import Address
from e2email.services.discovery.local import local_openpgp
from e2email.services.protect import payload
from e2email.services.runtime import Runtime

if TYPE_CHECKING:
    from e2email.adapters.cms.identity import Identity

# S/MIME (cryptography's x509 and CMS, ~30 ms of imports) loads only when a copy needs it:
# the sendmail path starts once per message (performance.md).

Fields = list[tuple[str, str]]


def boundary() -> str:
    """A fresh multipart boundary (RFC 2046 5.1.1): no base64 or QP line can contain it."""
    return "=_e2email_" + pysecrets.token_hex(12)


@dataclass
class Job:
    """Everything one message's copies share: the message, its files, a private work dir."""

    rt: Runtime
    out: Outgoing
    sender: Address
    files: Mapping[str, Path]
    workdir: Path
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    live: GrowingSpool | None = None  # the one copy goes here, sent while it is written

    def assembly(self) -> payload.Assembly:
        """Where a copy is written: the live spool, or a new one in the work dir."""
        return payload.Assembly(self.live if self.live is not None else GrowingSpool(self.workdir))

    @property
    def protect_headers(self) -> bool:
        """RFC 9788 applies (configured, and the entity is ours to change)."""
        return self.rt.settings.protection.header_protection and self.out.mua is None

    @cached_property
    def openpgp_signer(self) -> str | None:
        """The fingerprint that signs OpenPGP copies (``openpgp.sign``), or None."""
        if not self.rt.settings.openpgp.sign:
            return None
        key = self.rt.gpg.secret_key_for(self.sender)
        if key is None:
            raise ConfigError(
                f"openpgp.sign is true but the keyring has no usable secret key for "
                f"{self.sender}; import your key or set sign = false"
            )
        return key.fingerprint

    @cached_property
    def self_keys(self) -> list[str]:
        """Our own OpenPGP key, when ``openpgp.encrypt_to_self``."""
        if not self.rt.settings.openpgp.encrypt_to_self:
            return []
        key, _ = local_openpgp(self.rt.gpg, self.sender)
        return [key.fingerprint] if key else []

    @cached_property
    def identity(self) -> Identity | None:
        """Our S/MIME identity from ``[smime]``, or None when not configured."""
        from e2email.services.protect import identity

        return identity.identity(self.rt)

    def encrypted_payload(self) -> Entity:
        """The cryptographic payload of encrypted copies (RFC 9788 2.1)."""
        entity = self.out.entity
        if not self.protect_headers:
            return entity
        if self.rt.settings.protection.legacy_display:
            entity = headers.with_legacy_display(entity, self.out.headers)
        return headers.payload(entity, self.out.headers, encrypted=True)

    def outer_fields(self) -> Fields:
        """What every encrypted copy shows outside (identical across protocols)."""
        if self.protect_headers:
            return headers.outer_fields(self.out.headers)
        return headers.message_fields(self.out.headers)

    def signed_outer_fields(self) -> Fields:
        """What a signed-only copy shows: the real fields (never Bcc)."""
        return headers.message_fields(self.out.headers)

    def signed_payload(self) -> Entity:
        """What a cleartext signature covers: 7-bit, CRLF, ``hp="clear"`` (RFC 9788 2.1)."""
        entity = mime.seven_bit(self.out.entity)
        if not self.protect_headers:
            return entity
        return headers.payload(entity, self.out.headers, encrypted=False)
