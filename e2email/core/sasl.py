"""SASL for SMTP AUTH (RFC 4954): choosing a mechanism and building its initial response.

Pure: the strings built here are secrets; only ``adapters/smtp`` puts them on a TLS wire,
and it logs a placeholder instead. ``secret_forms`` lists what a leak would look like, so
replies and errors can be scrubbed and tests can search for every form.
"""

from __future__ import annotations

import base64

from e2email.errors import AuthenticationError, ConfigError

PASSWORD_MECHANISMS = ("PLAIN", "LOGIN")
OAUTH_MECHANISMS = ("OAUTHBEARER", "XOAUTH2")


def choose(offered: set[str], wanted: str, family: tuple[str, ...], host: str) -> str:
    """The mechanism to use (RFC 4954 4): the configured one, else the first of ``family``."""
    listed = " ".join(sorted(offered)) or "none"
    if wanted != "auto":
        mech = wanted.upper()
        if mech not in family:
            raise ConfigError(f"auth_mechanism = {wanted!r} does not fit this kind of secret")
        if mech not in offered:
            raise ConfigError(
                f"{host}: auth_mechanism = {wanted!r} but the server offers: {listed}"
            )
        return mech
    for mech in family:
        if mech in offered:
            return mech
    raise AuthenticationError(
        f"{host}: no usable AUTH mechanism (we speak {', '.join(family)}; offered: {listed})"
    )


def b64(text: str) -> str:
    """base64 of the UTF-8 text, as SASL responses travel in SMTP (RFC 4954 4)."""
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def plain_response(user: str, password: str) -> str:
    """PLAIN: ``\\0user\\0password`` (RFC 4616 2), base64; NUL inside either is refused."""
    if "\0" in user or "\0" in password:
        raise ConfigError("the user name or password contains a NUL character")
    return b64(f"\0{user}\0{password}")


def saslname(user: str) -> str:
    """RFC 5801 4 saslname: ``,`` and ``=`` escaped as ``=2C`` and ``=3D``."""
    return user.replace("=", "=3D").replace(",", "=2C")


def oauthbearer_response(user: str, host: str, port: int, token: str) -> str:
    """OAUTHBEARER client response (RFC 7628 3.1), base64."""
    return b64(
        f"n,a={saslname(user)},\x01host={host}\x01port={port}\x01auth=Bearer {token}\x01\x01"
    )


def xoauth2_response(user: str, token: str) -> str:
    """XOAUTH2 (Google's and Microsoft's pre-standard form), base64."""
    return b64(f"user={user}\x01auth=Bearer {token}\x01\x01")


def secret_forms(user: str, secret: str) -> list[str]:
    """Every form a secret takes on the wire: plain, base64, PLAIN's token."""
    return [secret, b64(secret), b64(f"\0{user}\0{secret}")]


def scrub(text: str, secrets: list[str]) -> str:
    """``text`` with every listed secret replaced by ``<hidden>``."""
    for s in secrets:
        if s:
            text = text.replace(s, "<hidden>")
    return text
