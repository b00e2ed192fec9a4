"""The adapters one command needs, built once from the settings and shared by services."""

from __future__ import annotations

import ssl
from functools import cached_property

from e2email.adapters import secrets, tls
from e2email.adapters.dns import Resolver
from e2email.adapters.openpgp.gpg import Gpg
from e2email.config import Account, Settings
from e2email.errors import ConfigError, UsageError
from e2email.model import Address


class Runtime:
    """Lazily built adapters: nothing is imported or started that the command does not use."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @cached_property
    def resolver(self) -> Resolver:
        """The one resolver (``network.nameservers``, ``network.trust_ad``)."""
        net = self.settings.network
        return Resolver(net.nameservers, net.trust_ad, timeout=min(net.timeout, 15.0))

    @cached_property
    def tls_context(self) -> ssl.SSLContext:
        """The verifying client context with ``network.ca_file``."""
        return tls.client_context(self.settings.network.ca_file)

    @cached_property
    def gpg(self) -> Gpg:
        """The user's GnuPG home."""
        o = self.settings.openpgp
        return Gpg(o.gnupghome, o.gpg_binary)

    def account(self, name: str | None, sender: Address | None) -> Account:
        """The named account, else the one whose ``from`` lists the sender (case-insensitive)."""
        accounts = self.settings.accounts
        if name is not None:
            if name not in accounts:
                known = ", ".join(sorted(accounts)) or "none configured"
                raise ConfigError(f"no account named {name!r} (known: {known})")
            return accounts[name]
        if sender is not None:
            for account in accounts.values():
                if any(Address(*_split(f)).matches(sender) for f in account.from_):
                    return account
        if not accounts:
            where = self.settings.source or "no configuration file found"
            raise ConfigError(f"no account configured ({where}); see docs/configuration.md")
        raise UsageError(
            f"no account sends as {sender}; pass --account or add it to an account's from"
        )

    def password(self, account: Account) -> str:
        """The account's password: password_command, else the keyring."""
        if account.password_command:
            return secrets.from_command(
                account.password_command, f"accounts.{account.name}.password_command"
            )
        return secrets.from_keyring(
            account.name, allow_insecure=self.settings.secrets.allow_insecure_keyring
        )


def _split(text: str) -> tuple[str, str]:
    local, _, domain = text.rpartition("@")
    return local, domain
