"""Verifying keyservers (``kind = "vks"``): ``GET /vks/v1/by-email/ADDR`` over verified HTTPS.

A VKS serves a user ID only after its address confirmed it by mail, so its answers count like
WKD answers, with the same rules (security.md items 5 and 14): the project's resolver and
TLS context, no redirects, a 256 KiB cap, the per-message time budget, user IDs cut down to
the asked address, keys without one dropped, gpg's judgement before use. Source ``vks``;
the store records the URL, so ``keys refresh`` knows which server to ask again.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace
from functools import partial

from e2email.adapters import http
from e2email.config import Keyserver
from e2email.core import keyserver
from e2email.errors import MessageError
from e2email.model import Address, Protocol, Rejection
from e2email.services.discovery.fetch import Get
from e2email.services.discovery.fetch import fetch as fetch_url
from e2email.services.discovery.judge import Context, Outcome, Task, judge_openpgp


def tasks(address: Address, ctx: Context, protocols: Collection[Protocol]) -> list[Task]:
    """One lookup per ``kind = "vks"`` keyserver, for OpenPGP keys only."""
    if Protocol.OPENPGP not in protocols:
        return []
    servers = [s for s in ctx.settings.discovery.keyservers if s.kind == keyserver.VKS]
    return [(keyserver.VKS, partial(vks_lookup, address, s, ctx)) for s in servers]


def fetch(ctx: Context, req: keyserver.Request, timeout: float) -> http.Response | Outcome:
    """The answer to ``req``, or the Outcome that says why there is none."""
    get = Get(req.kind, req.host, req.path, req.url, req.port)
    return fetch_url(ctx, get, max_bytes=keyserver.MAX_BODY, timeout=timeout)


def vks_lookup(address: Address, server: Keyserver, ctx: Context, timeout: float) -> Outcome:
    """Keys a verifying keyserver serves for ``address`` (security.md 14: filtered like WKD)."""
    try:
        req = keyserver.vks_by_email(server.host, server.port, address)
    except MessageError:
        return Outcome((), (Rejection(keyserver.VKS, "bad-address"),))
    answer = fetch(ctx, req, timeout)
    if isinstance(answer, Outcome):
        return answer
    return replace(judged(answer.body, address, keyserver.VKS, ctx), where=req.url)


def judged(
    body: bytes, address: Address, source: str, ctx: Context, hold: str | None = None
) -> Outcome:
    """An answer's keys for ``address`` as candidates for gpg (nothing usable: a rejection)."""
    if not body.strip():
        return Outcome((), (Rejection(source, "empty"),))
    return judge_openpgp(body, address, source, ctx, hold=hold)
