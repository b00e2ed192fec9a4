"""LDAP directories: OpenPGP keys (GnuPG keyserver schema) and S/MIME certificates per domain."""

from __future__ import annotations

from collections.abc import Collection
from functools import partial

from e2email.adapters import ldap as ldap_adapter
from e2email.adapters import secrets
from e2email.config import LdapDirectory, Settings
from e2email.errors import TemporaryFailure
from e2email.model import Address, Protocol
from e2email.services.discovery.judge import (
    Context,
    Outcome,
    Task,
    failed,
    judge_certificates,
    judge_openpgp,
    nothing,
)


def tasks(address: Address, ctx: Context, protocols: Collection[Protocol]) -> list[Task]:
    """One lookup per directory that answers for the address's domain (both protocols)."""
    del protocols  # a directory entry carries OpenPGP keys and certificates alike
    directories = directories_for(ctx.settings, address)
    if directories:
        ldap_adapter.preload()
    return [("ldap", partial(ldap_lookup, address, d, ctx)) for d in directories]


def directories_for(settings: Settings, address: Address) -> list[LdapDirectory]:
    """The configured directories that answer for the address's domain."""
    domain = address.domain.lower()
    return [d for d in settings.discovery.ldap if domain in d.domains]


def ldap_lookup(
    address: Address, directory: LdapDirectory, ctx: Context, timeout: float
) -> Outcome:
    """OpenPGP keys and S/MIME certificates from one directory."""
    try:
        found = ldap_adapter.lookup(
            directory.url,
            directory.base,
            address,
            resolver=ctx.resolver,
            context=ctx.tls_context,
            bind_dn=directory.bind_dn,
            password=_ldap_password(ctx.settings, directory),
            timeout=timeout,
        )
    except ldap_adapter.LdapError as e:
        return failed(
            "ldap", f"{e.kind}-error" if e.kind != "timeout" else "timeout", directory.url
        )
    except TemporaryFailure:
        return failed("ldap", "connect-error", directory.url)
    pgp = [judge_openpgp(k, address, "ldap", ctx) for k in found.pgp_keys]
    smime = judge_certificates([*found.certificates, *found.smime_bundles], address, "ldap", ctx)
    parts = [*pgp, smime]
    keys = tuple(k for p in parts for k in p.keys)
    rejected = tuple(r for p in parts for r in p.rejected)
    candidates = tuple(c for p in parts for c in p.candidates)
    if not keys and not rejected and not candidates:
        return nothing("ldap", directory.url)
    return Outcome(keys, rejected, where=directory.url, candidates=candidates)


def _ldap_password(settings: Settings, directory: LdapDirectory) -> str | None:
    if directory.bind_dn is None:
        return None
    if directory.password_command:
        return secrets.from_command(directory.password_command, "discovery.ldap password_command")
    return secrets.from_keyring(
        f"ldap:{directory.url}", allow_insecure=settings.secrets.allow_insecure_keyring
    )
