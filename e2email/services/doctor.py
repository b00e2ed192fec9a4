"""The checks behind ``e2email doctor``; each returns a value, none raises."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from e2email.adapters import secrets
from e2email.errors import E2emailError
from e2email.services.runtime import Runtime


@dataclass(frozen=True)
class Check:
    """One line of the report: ``ok``, ``warn`` or ``fail``, and what was seen or what to do."""

    name: str
    status: str
    detail: str


def _config(rt: Runtime) -> Check:
    src = rt.settings.source
    if src is None:
        return Check(
            "config", "warn", "no configuration file; defaults in use (see docs/configuration.md)"
        )
    n = len(rt.settings.accounts)
    return Check("config", "ok", f"{src} is valid ({n} account{'s' if n != 1 else ''})")


def _gpg(rt: Runtime) -> Check:
    version = rt.gpg.version()
    home = rt.settings.openpgp.gnupghome or "gpg's default home"
    return Check("gpg", "ok", f"gpg {version}, home {home}")


def _keyring(rt: Runtime) -> Check:
    needs = [a.name for a in rt.settings.accounts.values() if a.username and not a.password_command]
    try:
        backend = secrets.keyring_backend(allow_insecure=rt.settings.secrets.allow_insecure_keyring)
    except E2emailError as e:
        return Check("keyring", "fail" if needs else "warn", str(e))
    return Check("keyring", "ok", f"backend {secrets.backend_name(backend)}")


def _resolver(rt: Runtime) -> Check:
    r = rt.resolver
    hosts = [a.smtp_host for a in rt.settings.accounts.values()] or ["localhost"]
    for host in hosts:
        r.addresses(host, 0)
    return Check("resolver", "ok", f"{r.describe()} resolves {', '.join(hosts)}")


def _dnssec(rt: Runtime) -> Check:
    """Does the resolver validate, and is its AD bit trusted (DANE and OPENPGPKEY need both)?"""
    r = rt.resolver
    if not r.trust_ad:
        return Check(
            "dnssec",
            "warn",
            "the resolver's AD bit is not trusted (network.trust_ad); DANE and OPENPGPKEY "
            "answers count as insecure. Use a validating resolver on loopback.",
        )
    domains = [f.rpartition("@")[2] for a in rt.settings.accounts.values() for f in a.from_]
    for name in [*dict.fromkeys(domains), "."]:
        answer = r.query(name, "SOA")
        if answer.security == "secure":
            return Check("dnssec", "ok", f"{r.describe()} validates ({name} is DNSSEC-secure)")
    return Check(
        "dnssec",
        "warn",
        f"{r.describe()} set no AD bit for {', '.join(dict.fromkeys([*domains, '.']))}: "
        "it may not validate DNSSEC, so no verdict can be 'dane'",
    )


def _openpgp(rt: Runtime) -> Check | None:
    """A secret key for every sender address when OpenPGP copies are signed (else sending
    stops with 78 at the first message)."""
    from e2email.core.addresses import parse_addr_spec

    o = rt.settings.openpgp
    senders = [f for a in rt.settings.accounts.values() for f in a.from_]
    if not (o.sign and senders):
        return None
    found, missing = [], []
    for text in dict.fromkeys(senders):
        key = rt.gpg.secret_key_for(parse_addr_spec(text))
        if key is None:
            missing.append(text)
        else:
            found.append(f"{text} {key.fingerprint[-16:]}")
    if missing:
        # Only OpenPGP copies need the key: with an S/MIME identity, S/MIME mail still goes.
        smime = rt.settings.smime.certificate is not None
        return Check(
            "openpgp",
            "warn" if smime else "fail",
            f"openpgp.sign is true but there is no usable secret key for {', '.join(missing)}: "
            "messages to OpenPGP recipients will be refused; import it (gpg --import) or set "
            "openpgp.sign = false",
        )
    return Check("openpgp", "ok", f"signing keys: {', '.join(found)}")


SOON = timedelta(days=30)


def _smime(rt: Runtime) -> Check | None:
    """Our S/MIME certificate and key load (passphrase included) and can sign if asked to."""
    from e2email.adapters.cms.identity import check_signer, describe_key
    from e2email.services.protect.identity import identity

    s = rt.settings.smime
    if s.certificate is None and s.private_key is None:
        return None
    me = identity(rt)
    if me is None:
        return None
    if s.sign:
        check_signer(me.certificate)
    until = me.certificate.not_valid_after_utc
    kind = describe_key(me.key)
    detail = f"{s.certificate}: {kind}, valid until {until:%Y-%m-%d}, private key opened"
    if until - datetime.now(UTC) < SOON:
        return Check("smime", "warn", f"{detail}; it expires within {SOON.days} days: renew it")
    return Check("smime", "ok", detail)


def _account_tls(rt: Runtime, name: str) -> Check:
    from e2email.adapters.smtp import SmtpSession

    a = rt.settings.accounts[name]
    session = SmtpSession.open(
        a.smtp_host,
        a.smtp_port,
        security=a.smtp_security,
        context=rt.tls_context,
        resolver=rt.resolver,
        timeout=min(rt.settings.network.timeout, 10.0),
        pin=a.tls_fingerprint,
    )
    version = session.tls_version
    auth = " ".join(sorted(session.capabilities.auth_mechanisms())) or "none"
    session.quit()
    return Check(
        f"account {name}",
        "ok",
        f"{a.smtp_host}:{a.smtp_port} {version}, certificate verified, AUTH {auth}",
    )


def _guard(name: str, fn: Callable[[], Check]) -> Check:
    try:
        return fn()
    except E2emailError as e:
        return Check(name, "fail", str(e))


def run_checks(rt: Runtime) -> list[Check]:
    """Every check, in order; failures are reported, never raised."""
    checks = [
        _config(rt),
        _guard("gpg", lambda: _gpg(rt)),
        _guard("keyring", lambda: _keyring(rt)),
        _guard("resolver", lambda: _resolver(rt)),
        _guard("dnssec", lambda: _dnssec(rt)),
    ]
    for name, optional in (("openpgp", _openpgp), ("smime", _smime)):
        try:
            check = optional(rt)
        except E2emailError as e:
            check = Check(name, "fail", str(e))
        if check is not None:
            checks.append(check)
    for name in rt.settings.accounts:
        checks.append(_guard(f"account {name}", lambda n=name: _account_tls(rt, n)))  # type: ignore[misc]
    return checks
