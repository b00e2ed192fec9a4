"""A second Dovecot that accepts OAuth 2.0 bearer tokens (OAUTHBEARER, XOAUTH2) for IMAP tests.

Dovecot 2.3.11+ validates JWT access tokens locally (``introspection_mode = local``): the
token's HS256 signature is checked with a key from a dictionary, its ``exp``/``nbf``/``iat``
are checked, and ``sub`` names the user. So no OAuth provider is needed and the test talks to
a real server that really refuses a forged or expired token. Users also have a password in
the passwd-file, so the tests can put mail in with plain imaplib.

It runs on an address of the stack's block under ``imap-oauth.example.test`` (A record added
to the signed zone), with a certificate from the stack's CA.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from pathlib import Path
from typing import Any

from tests.stack.clients import Endpoint
from tests.stack.dovecot import Dovecot

HOST = "imap-oauth.example.test"


class OAuthDovecot(Dovecot):
    """The stack's Dovecot configuration plus an ``oauth2`` passdb with local JWT validation."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.jwt_key = secrets.token_bytes(32)

    def _config(self) -> str:
        base = (
            super()
            ._config()
            .replace(
                "auth_mechanisms = plain login", "auth_mechanisms = plain login oauthbearer xoauth2"
            )
        )
        oauth = (
            "passdb {\n  driver = oauth2\n  mechanisms = oauthbearer xoauth2\n"
            f"  args = {self.dir / 'oauth2.conf.ext'}\n}}\n"
        )
        return base.replace("passdb {", oauth + "passdb {", 1)

    def prepare(self) -> None:
        """The stack's preparation, plus the oauth2 settings and the HS256 key."""
        super().prepare()
        keys = self.dir / "keys"
        # looked up as /shared/<azp or "default">/<ALG>/<kid or "default"> (Dovecot docs)
        path = keys / "default" / "HS256" / "default"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(base64.b64encode(self.jwt_key).decode())
        for p in (keys, keys / "default", path.parent):
            p.chmod(0o755)
        path.chmod(0o644)
        (self.dir / "oauth2.conf.ext").write_text(
            "introspection_mode = local\n"
            f"local_validation_key_dict = fs:posix:prefix={keys}/\n"
            "username_attribute = sub\n"
        )

    def token(self, user: str, *, lifetime: int = 600, key: bytes | None = None) -> str:
        """An HS256 JWT for ``user`` (RFC 7519); ``key`` other than ours makes a forgery."""
        now = int(time.time())
        head = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        claims = {"sub": user, "iat": now - 5, "nbf": now - 5, "exp": now + lifetime}
        body = _b64url(json.dumps(claims).encode())
        mac = hmac.new(key or self.jwt_key, f"{head}.{body}".encode(), hashlib.sha256).digest()
        return f"{head}.{body}.{_b64url(mac)}"

    def log_text(self) -> str:
        """The whole log (auth and login lines name the user and the SASL method)."""
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def start(stack: Any, users: dict[str, str]) -> tuple[OAuthDovecot, Endpoint, Endpoint]:
    """Start one on a fresh address; (server, implicit-TLS endpoint, STARTTLS endpoint)."""
    ip = stack.alloc_ip()
    cert = stack.pki.issue([HOST])
    server = OAuthDovecot(
        Path(stack.dir) / f"dovecot-oauth-{ip}", stack.procs, ip=ip, cert=cert, users=users
    )
    stack.dns.add_records("example.test", [f"{HOST.removesuffix('.example.test')} A {ip}"])
    server.prepare()
    server.start()
    server.wait_ready()
    return server, Endpoint(HOST, ip, 993), Endpoint(HOST, ip, 143)


def stop(stack: Any, server: OAuthDovecot) -> None:
    """Stop exactly the daemon :func:`start` started."""
    if server.daemon is not None:
        stack.procs.stop([server.daemon])
