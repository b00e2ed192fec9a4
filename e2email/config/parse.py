"""Configuration text -> ``Settings``. Pure: text, the file's path and the environment in.

Every mistake becomes a ``ConfigError`` that names the file and the key (with a "did you
mean" for unknown keys); relative paths are taken relative to the file's directory.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from e2email.config.schema import (
    AUTH_MECHANISMS,
    DEFAULT_KEYSERVER,
    DISCOVERY_METHODS,
    RESERVED_ACCOUNT,
    TRANSPORT_LADDER,
    Account,
    DiscoverySettings,
    Keyserver,
    LdapDirectory,
    NetworkSettings,
    OpenPGPSettings,
    OutboxSettings,
    PolicySettings,
    ProtectionSettings,
    RecipientPolicy,
    SecretsSettings,
    Settings,
    SmimeSettings,
    SmtpSecurity,
)
from e2email.errors import ConfigError

T = TypeVar("T")
Table = Mapping[str, Any]


class _Reader:
    """Walks one TOML table, converting values and naming the key on any mistake."""

    def __init__(self, ctx: _Context, table: Table, prefix: str) -> None:
        self.ctx, self.table, self.prefix = ctx, table, prefix
        self.seen: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name

    def fail(self, name: str, problem: str) -> ConfigError:
        return self.ctx.fail(self.key(name), problem)

    def get(self, name: str, conv: Callable[[_Reader, str, Any], T], default: T) -> T:
        self.seen.add(name)
        if name not in self.table:
            return default
        return conv(self, name, self.table[name])

    def require(self, name: str, conv: Callable[[_Reader, str, Any], T]) -> T:
        if name not in self.table:
            raise self.fail(name, "is required")
        self.seen.add(name)
        return conv(self, name, self.table[name])

    def finish(self) -> None:
        """Refuse keys that nothing read: a typo must not silently become a default."""
        for name in self.table:
            if name not in self.seen:
                import difflib  # only for the 'did you mean' of an unknown key

                close = difflib.get_close_matches(name, sorted(self.seen), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise self.fail(name, f"unknown key{hint}")


@dataclass(frozen=True)
class _Context:
    source: Path | None
    env: Mapping[str, str]

    def fail(self, key: str, problem: str) -> ConfigError:
        where = str(self.source) if self.source else "configuration"
        return ConfigError(f"{where}: {key}: {problem}")

    def path(self, text: str) -> Path:
        """Expand ~ and make relative paths relative to the configuration file's directory."""
        if text == "~" or text.startswith("~/"):
            home = self.env.get("HOME")
            if not home:
                raise ValueError("~ used but HOME is not set")
            text = home + text[1:]
        p = Path(text)
        if not p.is_absolute() and self.source is not None:
            p = self.source.parent / p
        return p


def _str(r: _Reader, name: str, v: Any) -> str:
    if not isinstance(v, str) or not v:
        raise r.fail(name, f"expected a non-empty string, got {v!r}")
    return v


def _opt_str(r: _Reader, name: str, v: Any) -> str | None:
    return _str(r, name, v)


def _bool(r: _Reader, name: str, v: Any) -> bool:
    if not isinstance(v, bool):
        raise r.fail(name, f"expected true or false, got {v!r}")
    return v


def _port(r: _Reader, name: str, v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 65535:
        raise r.fail(name, f"expected a port number from 1 to 65535, got {v!r}")
    return v


def _positive(r: _Reader, name: str, v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or v <= 0:
        raise r.fail(name, f"expected a positive number of seconds, got {v!r}")
    return float(v)


def _path(r: _Reader, name: str, v: Any) -> Path | None:
    try:
        return r.ctx.path(_str(r, name, v))
    except ValueError as e:
        raise r.fail(name, str(e)) from None


def _str_list(r: _Reader, name: str, v: Any) -> tuple[str, ...]:
    if isinstance(v, str):
        v = [v]
    if not isinstance(v, list) or not all(isinstance(x, str) and x for x in v):
        raise r.fail(name, f"expected a list of strings, got {v!r}")
    return tuple(v)


def _choice(*allowed: str) -> Callable[[_Reader, str, Any], Any]:
    def conv(r: _Reader, name: str, v: Any) -> Any:
        if v not in allowed:
            raise r.fail(name, f"expected one of {', '.join(allowed)}; got {v!r}")
        return v

    return conv


def _table(r: _Reader, name: str, v: Any) -> Table:
    if not isinstance(v, dict):
        raise r.fail(name, f"expected a table, got {v!r}")
    return v


def _account(ctx: _Context, name: str, table: Table) -> Account:
    if name == RESERVED_ACCOUNT:
        raise ctx.fail(
            f"accounts.{name}",
            f"the account name {name!r} is reserved (the keyring keeps the S/MIME key's "
            "passphrase under it); choose another name",
        )
    r = _Reader(ctx, table, f"accounts.{name}")
    security: SmtpSecurity = r.get("smtp_security", _choice("starttls", "tls"), "starttls")
    fingerprint = r.get("tls_fingerprint", _fingerprint, None)
    account = Account(
        name=name,
        from_=r.require("from", _str_list),
        smtp_host=r.require("smtp_host", _str),
        smtp_port=r.get("smtp_port", _port, 587 if security == "starttls" else 465),
        smtp_security=security,
        username=r.get("username", _opt_str, None),
        password_command=r.get("password_command", _opt_str, None),
        tls_fingerprint=fingerprint,
        imap_host=r.get("imap_host", _opt_str, None),
        imap_port=r.get("imap_port", _port, 993),
        imap_security=r.get("imap_security", _choice("tls", "starttls"), "tls"),
        oauth_token_command=r.get("oauth_token_command", _opt_str, None),
        auth_mechanism=r.get("auth_mechanism", _choice(*AUTH_MECHANISMS), "auto"),
        imap_tls_fingerprint=r.get("imap_tls_fingerprint", _fingerprint, None),
    )
    _check_auth(r, account)
    r.finish()
    return account


def _check_auth(r: _Reader, a: Account) -> None:
    oauth = a.auth_mechanism in ("oauthbearer", "xoauth2")
    if (a.oauth_token_command or a.auth_mechanism != "auto") and not a.username:
        raise r.fail("username", "is required with oauth_token_command or auth_mechanism")
    if oauth and not a.oauth_token_command:
        raise r.fail(
            "oauth_token_command", f"is required with auth_mechanism = {a.auth_mechanism!r}"
        )
    if a.oauth_token_command and a.auth_mechanism in ("plain", "login"):
        raise r.fail("auth_mechanism", "plain/login use a password, not oauth_token_command")


def _fingerprint(r: _Reader, name: str, v: Any) -> str:
    text = _str(r, name, v).lower()
    algo, _, digest = text.partition(":")
    digest = digest.replace(":", "")
    if algo != "sha256" or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise r.fail(name, "expected 'sha256:' followed by 64 hex digits")
    return f"sha256:{digest}"


def _openpgp(ctx: _Context, table: Table) -> OpenPGPSettings:
    r = _Reader(ctx, table, "openpgp")
    default_home = ctx.path(ctx.env["GNUPGHOME"]) if ctx.env.get("GNUPGHOME") else None
    s = OpenPGPSettings(
        gnupghome=r.get("gnupghome", _path, default_home),
        gpg_binary=r.get("gpg_binary", _str, "gpg"),
        sign=r.get("sign", _bool, True),
        encrypt_to_self=r.get("encrypt_to_self", _bool, True),
    )
    r.finish()
    return s


def _smime(ctx: _Context, table: Table) -> SmimeSettings:
    r = _Reader(ctx, table, "smime")
    s = SmimeSettings(
        certificate=r.get("certificate", _path, None),
        private_key=r.get("private_key", _path, None),
        trust_anchors=r.get("trust_anchors", _path, None),
        passphrase_command=r.get("passphrase_command", _opt_str, None),
        certificates_dir=r.get("certificates_dir", _path, None),
        sign=r.get("sign", _bool, True),
        encrypt_to_self=r.get("encrypt_to_self", _bool, True),
        encryption=r.get("encryption", _choice("aes256-cbc", "aes256-gcm"), "aes256-cbc"),
        rsa_oaep=r.get("rsa_oaep", _bool, False),
    )
    r.finish()
    return s


def _ldap(ctx: _Context, index: int, table: Any) -> LdapDirectory:
    if not isinstance(table, dict):
        raise ctx.fail(f"discovery.ldap[{index}]", "expected a table")
    r = _Reader(ctx, table, f"discovery.ldap[{index}]")
    url = r.require("url", _str)
    if not url.startswith(("ldap://", "ldaps://")):
        raise r.fail("url", f"expected ldap:// or ldaps://, got {url!r}")
    d = LdapDirectory(
        url=url,
        base=r.require("base", _str),
        domains=tuple(x.lower() for x in r.require("domains", _str_list)),
        bind_dn=r.get("bind_dn", _opt_str, None),
        password_command=r.get("password_command", _opt_str, None),
    )
    r.finish()
    return d


_HOST_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


def keyserver_endpoint(url: str) -> tuple[str, int]:
    """Host and port of ``https://HOST[:PORT]`` (``hkps://`` too); ValueError otherwise."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        port = parts.port or 443
    except ValueError as e:
        raise ValueError(f"not a URL: {e}") from None
    if parts.scheme not in ("https", "hkps"):
        raise ValueError(f"expected https://HOST, got {url!r} (only verified HTTPS is used)")
    host = (parts.hostname or "").rstrip(".").lower()
    labels = host.split(".")
    if len(labels) < 2 or not all(_HOST_LABEL.fullmatch(x) for x in labels):
        raise ValueError(f"expected a host name in {url!r}")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        raise ValueError(f"expected only scheme, host and port in {url!r}")
    return host, port


def _keyserver(ctx: _Context, index: int, table: Any) -> Keyserver:
    if not isinstance(table, dict):
        raise ctx.fail(f"discovery.keyserver[{index}]", "expected a table")
    r = _Reader(ctx, table, f"discovery.keyserver[{index}]")
    url = r.require("url", _str)
    try:
        host, port = keyserver_endpoint(url)
    except ValueError as e:
        raise r.fail("url", str(e)) from None
    k = Keyserver(
        url=url,
        host=host,
        port=port,
        kind=r.get("kind", _choice("vks", "hkps"), "vks"),
        trust=r.get("trust", _choice("verified", "unverified"), "verified"),
    )
    r.finish()
    return k


def _keyservers(r: _Reader, methods: tuple[str, ...]) -> tuple[Keyserver, ...]:
    raw: Any = r.get("keyserver", lambda _r, _n, v: v, [])
    if not isinstance(raw, list):
        raise r.fail("keyserver", "expected an array of tables ([[discovery.keyserver]])")
    servers = tuple(_keyserver(r.ctx, i, t) for i, t in enumerate(raw))
    if not servers and "vks" in methods:
        host, port = keyserver_endpoint(DEFAULT_KEYSERVER)
        servers = (Keyserver(DEFAULT_KEYSERVER, host, port),)
    return servers


def _discovery(ctx: _Context, table: Table) -> DiscoverySettings:
    r = _Reader(ctx, table, "discovery")
    methods = r.get("methods", _str_list, DiscoverySettings.methods)
    for m in methods:
        if m not in DISCOVERY_METHODS:
            raise r.fail("methods", f"unknown method {m!r}; known: {', '.join(DISCOVERY_METHODS)}")
    raw_ldap: Any = r.get("ldap", lambda _r, _n, v: v, [])
    if not isinstance(raw_ldap, list):
        raise r.fail("ldap", "expected an array of tables ([[discovery.ldap]])")
    s = DiscoverySettings(
        methods=methods,
        ldap=tuple(_ldap(ctx, i, t) for i, t in enumerate(raw_ldap)),
        keyservers=_keyservers(r, methods),
        timeout=r.get("timeout", _positive, 10.0),
        positive_ttl=r.get("positive_ttl", _seconds, 86400.0),
        negative_ttl=r.get("negative_ttl", _seconds, 3600.0),
        key_change=r.get("key_change", _choice("refuse", "warn"), "refuse"),
        store_dir=r.get("store_dir", _path, _xdg(ctx, "XDG_DATA_HOME", ".local/share", "keys")),
        cache_dir=r.get("cache_dir", _path, _xdg(ctx, "XDG_CACHE_HOME", ".cache", "discovery")),
    )
    r.finish()
    return s


def _seconds(r: _Reader, name: str, v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or v < 0:
        raise r.fail(name, f"expected a number of seconds (0 or more), got {v!r}")
    return float(v)


def _xdg(ctx: _Context, var: str, fallback: str, leaf: str) -> Path | None:
    """$VAR/e2email/LEAF, else ~/FALLBACK/e2email/LEAF (XDG Base Directory spec)."""
    base = ctx.env.get(var) or (f"{ctx.env['HOME']}/{fallback}" if ctx.env.get("HOME") else None)
    return Path(base) / "e2email" / leaf if base else None


def _nameserver(r: _Reader, name: str, v: Any) -> tuple[str, ...]:
    from e2email.core.hostport import parse_hostport

    servers = _str_list(r, name, v)
    for s in servers:
        try:
            parse_hostport(s, default_port=53)
        except ValueError as e:
            raise r.fail(name, str(e)) from None
    return servers


def _trust_ad(r: _Reader, name: str, v: Any) -> Literal["auto"] | bool:
    if v == "auto" or isinstance(v, bool):
        return v  # type: ignore[no-any-return]
    raise r.fail(name, f'expected "auto", true or false; got {v!r}')


def _network(ctx: _Context, table: Table) -> NetworkSettings:
    r = _Reader(ctx, table, "network")
    s = NetworkSettings(
        nameservers=r.get("nameservers", _nameserver, ()),
        trust_ad=r.get("trust_ad", _trust_ad, "auto"),
        ca_file=r.get("ca_file", _path, None),
        smtp_probe_port=r.get("smtp_probe_port", _port, 25),
        timeout=r.get("timeout", _positive, 30.0),
        probe_timeout=r.get("probe_timeout", _positive, 10.0),
        verdict_ttl=r.get("verdict_ttl", _seconds, 300.0),
        transport_cache_dir=r.get(
            "transport_cache_dir", _path, _xdg(ctx, "XDG_CACHE_HOME", ".cache", "transport")
        ),
    )
    r.finish()
    return s


_encrypt = _choice("required", "opportunistic", "never")
_floor = _choice(*TRANSPORT_LADDER)


def _recipient_policy(ctx: _Context, name: str, table: Any) -> RecipientPolicy:
    r = _Reader(ctx, table if isinstance(table, dict) else {}, f"policy.recipients.{name!r}")
    if not isinstance(table, dict):
        raise ctx.fail(r.prefix, "expected a table")
    p = RecipientPolicy(
        encrypt=r.get("encrypt", _encrypt, None),
        transport_floor=r.get("transport_floor", _floor, None),
    )
    r.finish()
    return p


def _policy(ctx: _Context, table: Table) -> PolicySettings:
    r = _Reader(ctx, table, "policy")
    recipients: Table = r.get("recipients", _table, {})
    s = PolicySettings(
        encrypt=r.get("encrypt", _encrypt, "opportunistic"),
        transport_floor=r.get("transport_floor", _floor, "verified-tls"),
        recipients={k.lower(): _recipient_policy(ctx, k, v) for k, v in recipients.items()},
        require_tls=r.get("require_tls", _choice("auto", "always", "never"), "auto"),
    )
    r.finish()
    return s


def _secrets(ctx: _Context, table: Table) -> SecretsSettings:
    r = _Reader(ctx, table, "secrets")
    s = SecretsSettings(allow_insecure_keyring=r.get("allow_insecure_keyring", _bool, False))
    r.finish()
    return s


def _outbox(ctx: _Context, table: Table) -> OutboxSettings:
    r = _Reader(ctx, table, "outbox")
    state = ctx.env.get("XDG_STATE_HOME") or (
        ctx.env["HOME"] + "/.local/state" if ctx.env.get("HOME") else None
    )
    default = Path(state) / "e2email" / "outbox" if state else None
    s = OutboxSettings(enabled=r.get("enabled", _bool, True), path=r.get("path", _path, default))
    r.finish()
    return s


def parse(
    text: str, *, source: Path | None = None, env: Mapping[str, str] | None = None
) -> Settings:
    """Parse configuration text into Settings. Pure: reads no file and no process state."""
    ctx = _Context(source, env if env is not None else {})
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ctx.fail("(syntax)", f"not valid TOML: {e}") from None
    r = _Reader(ctx, data, "")
    accounts: Table = r.get("accounts", _table, {})
    settings = Settings(
        source=source,
        accounts={n: _account(ctx, n, _table(r, f"accounts.{n}", t)) for n, t in accounts.items()},
        openpgp=_openpgp(ctx, r.get("openpgp", _table, {})),
        smime=_smime(ctx, r.get("smime", _table, {})),
        discovery=_discovery(ctx, r.get("discovery", _table, {})),
        network=_network(ctx, r.get("network", _table, {})),
        policy=_policy(ctx, r.get("policy", _table, {})),
        secrets=_secrets(ctx, r.get("secrets", _table, {})),
        outbox=_outbox(ctx, r.get("outbox", _table, {})),
        protection=_protection(ctx, r.get("protection", _table, {})),
    )
    r.finish()
    return settings


_SIGN_CLEARTEXT = _choice("auto", "openpgp", "smime", "never")


def _protection(ctx: _Context, table: Table) -> ProtectionSettings:
    r = _Reader(ctx, table, "protection")
    s = ProtectionSettings(
        header_protection=r.get("header_protection", _bool, True),
        legacy_display=r.get("legacy_display", _bool, False),
        sign_cleartext=r.get("sign_cleartext", _SIGN_CLEARTEXT, "auto"),
    )
    r.finish()
    return s
