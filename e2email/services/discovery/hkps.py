"""HKP keyservers over HTTPS (``kind = "hkps"``): ``/pks/lookup?op=get&options=mr&search=ADDR``.

An HKP server stores whatever anyone uploads: its user IDs were never checked against the
addresses they name (security.md item 14). Its keys are fetched and judged like any other
(same transport rules, same filtering), but unless the keyserver entry says
``trust = "unverified"`` they end as rejections with the reason ``unverified-keyserver``:
``keys locate`` shows them, nothing is ever encrypted to them.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace
from functools import partial

from e2email.config import Keyserver
from e2email.core import keyserver
from e2email.errors import MessageError
from e2email.model import Address, Protocol, Rejection
from e2email.services.discovery.judge import Context, Outcome, Task
from e2email.services.discovery.vks import fetch, judged

UNVERIFIED = "unverified-keyserver"


def tasks(address: Address, ctx: Context, protocols: Collection[Protocol]) -> list[Task]:
    """One lookup per ``kind = "hkps"`` keyserver (run under the method name ``vks``)."""
    if Protocol.OPENPGP not in protocols:
        return []
    servers = [s for s in ctx.settings.discovery.keyservers if s.kind == keyserver.HKPS]
    return [(keyserver.VKS, partial(hkps_lookup, address, s, ctx)) for s in servers]


def hkps_lookup(address: Address, server: Keyserver, ctx: Context, timeout: float) -> Outcome:
    """Keys an HKPS server has under ``address``; held back unless the user trusts it."""
    try:
        req = keyserver.hkp_by_email(server.host, server.port, address)
    except MessageError:
        return Outcome((), (Rejection(keyserver.HKPS, "bad-address"),))
    answer = fetch(ctx, req, timeout)
    if isinstance(answer, Outcome):
        return answer
    hold = None if server.usable else UNVERIFIED
    return replace(judged(answer.body, address, keyserver.HKPS, ctx, hold), where=req.url)
