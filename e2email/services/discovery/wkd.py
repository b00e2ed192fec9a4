"""WKD (draft-koch-openpgp-webkey-service 3.1): advanced method first, direct only without it.

security.md item 5: the direct method only when ``openpgpkey.DOMAIN`` does not exist in DNS,
never after a TLS error, a 5xx, a redirect or a timeout; answers cut down to the address.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace
from functools import partial

from e2email.adapters.dns import DnsFailure, Resolver
from e2email.core import wkd
from e2email.errors import MessageError
from e2email.model import Address, Protocol, Rejection
from e2email.services.discovery.fetch import Get, fetch
from e2email.services.discovery.judge import Context, Outcome, Task, failed, judge_openpgp


def tasks(address: Address, ctx: Context, protocols: Collection[Protocol]) -> list[Task]:
    """One lookup, for OpenPGP keys only."""
    return [("wkd", partial(wkd_lookup, address, ctx))] if Protocol.OPENPGP in protocols else []


def wkd_lookup(address: Address, ctx: Context, timeout: float) -> Outcome:
    """WKD: advanced method, direct only if ``openpgpkey.DOMAIN`` does not exist (item 5)."""
    try:
        advanced, direct = wkd.requests(address)
    except MessageError:
        return Outcome((), (Rejection("wkd", "bad-domain"),))
    try:
        exists = has_address(ctx.resolver, advanced.host)
    except DnsFailure:
        return failed(advanced.method, "dns-error", advanced.url)
    req = advanced if exists else direct
    get = Get(req.method, req.host, req.path, req.url)
    resp = fetch(ctx, get, max_bytes=wkd.MAX_BODY, timeout=timeout)
    if isinstance(resp, Outcome):
        return resp
    return replace(_wkd_body(resp.body, address, req.method, ctx), where=req.url)


def _wkd_body(body: bytes, address: Address, source: str, ctx: Context) -> Outcome:
    if not body.strip():
        return Outcome((), (Rejection(source, "empty"),))
    return judge_openpgp(body, address, source, ctx)


def has_address(resolver: Resolver, host: str) -> bool:
    """True if ``host`` has an A or AAAA record; DnsFailure when DNS cannot say."""
    return any(not resolver.query(host, rdtype).empty for rdtype in ("A", "AAAA"))
