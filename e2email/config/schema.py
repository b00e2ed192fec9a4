"""The configuration's schema: the keys of contract.md as frozen settings, with their defaults.

Nothing here reads text, files or the environment: ``parse.py`` turns TOML text into these
values, ``load.py`` finds and reads the file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

SmtpSecurity = Literal["starttls", "tls"]
ImapSecurity = Literal["tls", "starttls"]
AuthMechanism = Literal["auto", "plain", "login", "oauthbearer", "xoauth2"]
AUTH_MECHANISMS = ("auto", "plain", "login", "oauthbearer", "xoauth2")
EncryptPolicy = Literal["required", "opportunistic", "never"]
SignCleartext = Literal["auto", "openpgp", "smime", "never"]
SmimeEncryption = Literal["aes256-cbc", "aes256-gcm"]
KeyChangePolicy = Literal["refuse", "warn"]
RequireTls = Literal["auto", "always", "never"]
TRANSPORT_LADDER = ("unknown", "plaintext", "unverified-tls", "verified-tls", "mta-sts", "dane")
DISCOVERY_METHODS = ("local", "wkd", "ldap", "dane", "vks")
KeyserverKind = Literal["vks", "hkps"]
KeyserverTrust = Literal["verified", "unverified"]
DEFAULT_KEYSERVER = "https://keys.openpgp.org"


@dataclass(frozen=True)
class Account:
    """One submission (and optionally IMAP) account."""

    name: str
    from_: tuple[str, ...]
    smtp_host: str
    smtp_port: int
    smtp_security: SmtpSecurity
    username: str | None
    password_command: str | None
    tls_fingerprint: str | None
    imap_host: str | None
    imap_port: int
    imap_security: ImapSecurity
    oauth_token_command: str | None = None
    auth_mechanism: AuthMechanism = "auto"
    imap_tls_fingerprint: str | None = None  # IMAP's own pin; default: tls_fingerprint

    @property
    def imap_pin(self) -> str | None:
        """The pin the IMAP server's certificate must match, if any."""
        return self.imap_tls_fingerprint or self.tls_fingerprint


@dataclass(frozen=True)
class OpenPGPSettings:
    """How gpg is used."""

    gnupghome: Path | None = None
    gpg_binary: str = "gpg"
    sign: bool = True
    encrypt_to_self: bool = True


@dataclass(frozen=True)
class SmimeSettings:
    """Own S/MIME identity and the anchors recipients' certificates must chain to."""

    certificate: Path | None = None
    private_key: Path | None = None
    trust_anchors: Path | None = None
    passphrase_command: str | None = None
    certificates_dir: Path | None = None
    sign: bool = True
    encrypt_to_self: bool = True
    encryption: SmimeEncryption = "aes256-cbc"
    rsa_oaep: bool = False  # RSA recipients: RSAES-OAEP (SHA-256) instead of PKCS#1 v1.5


@dataclass(frozen=True)
class LdapDirectory:
    """A directory that answers for some recipient domains."""

    url: str
    base: str
    domains: tuple[str, ...]
    bind_dn: str | None = None
    password_command: str | None = None


@dataclass(frozen=True)
class Keyserver:
    """A keyserver ``discovery.methods = [..., "vks"]`` asks (``[[discovery.keyserver]]``).

    ``kind``: ``vks`` (verifying: serves a user ID only after its address confirmed it) or
    ``hkps`` (serves what anyone uploaded). ``trust = "unverified"`` lets keys from an HKPS
    server be used to encrypt; otherwise they are only shown (security.md item 14).
    """

    url: str
    host: str
    port: int = 443
    kind: KeyserverKind = "vks"
    trust: KeyserverTrust = "verified"

    @property
    def usable(self) -> bool:
        """True if keys from this server may be encrypted to."""
        return self.kind == "vks" or self.trust == "unverified"


@dataclass(frozen=True)
class DiscoverySettings:
    """Key discovery: which methods, in which order."""

    methods: tuple[str, ...] = ("local", "wkd", "ldap")
    ldap: tuple[LdapDirectory, ...] = ()
    keyservers: tuple[Keyserver, ...] = ()  # [[discovery.keyserver]]; "vks" alone: keys.openpgp.org
    timeout: float = 10.0
    positive_ttl: float = 86400.0
    negative_ttl: float = 3600.0
    key_change: KeyChangePolicy = "refuse"
    store_dir: Path | None = None
    cache_dir: Path | None = None


@dataclass(frozen=True)
class NetworkSettings:
    """Resolver, trust anchors and timeouts for every network client."""

    nameservers: tuple[str, ...] = ()
    trust_ad: Literal["auto"] | bool = "auto"
    ca_file: Path | None = None
    smtp_probe_port: int = 25
    timeout: float = 30.0
    probe_timeout: float = 10.0
    verdict_ttl: float = 300.0
    transport_cache_dir: Path | None = None


@dataclass(frozen=True)
class RecipientPolicy:
    """A per-domain or per-address override of the policy."""

    encrypt: EncryptPolicy | None = None
    transport_floor: str | None = None


@dataclass(frozen=True)
class PolicySettings:
    """When to encrypt and what transport is good enough without a key."""

    encrypt: EncryptPolicy = "opportunistic"
    transport_floor: str = "verified-tls"
    recipients: Mapping[str, RecipientPolicy] = field(default_factory=dict)
    require_tls: RequireTls = "auto"  # RFC 8689 REQUIRETLS: see services/send.py


@dataclass(frozen=True)
class SecretsSettings:
    """Where passwords come from."""

    allow_insecure_keyring: bool = False


@dataclass(frozen=True)
class OutboxSettings:
    """Where messages wait when the server cannot take them now (docs/accounts.md)."""

    enabled: bool = True
    path: Path | None = None


@dataclass(frozen=True)
class ProtectionSettings:
    """How messages are wrapped: header protection (RFC 9788) and signing of cleartext."""

    header_protection: bool = True
    legacy_display: bool = False
    sign_cleartext: SignCleartext = "auto"


@dataclass(frozen=True)
class Settings:
    """The whole configuration. ``source`` is the file it came from, if any."""

    source: Path | None = None
    accounts: Mapping[str, Account] = field(default_factory=dict)
    openpgp: OpenPGPSettings = field(default_factory=OpenPGPSettings)
    smime: SmimeSettings = field(default_factory=SmimeSettings)
    discovery: DiscoverySettings = field(default_factory=DiscoverySettings)
    network: NetworkSettings = field(default_factory=NetworkSettings)
    policy: PolicySettings = field(default_factory=PolicySettings)
    secrets: SecretsSettings = field(default_factory=SecretsSettings)
    outbox: OutboxSettings = field(default_factory=OutboxSettings)
    protection: ProtectionSettings = field(default_factory=ProtectionSettings)


# The keyring entry (service "e2email") of the S/MIME key's passphrase; accounts' passwords
# are kept under their names, so no account may take this one.
RESERVED_ACCOUNT = "smime"
