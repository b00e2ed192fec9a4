"""DANE OPENPGPKEY (RFC 7929): keys published in DNS, used only from DNSSEC-secure answers."""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from dataclasses import replace
from functools import partial

from e2email.adapters.dns import DnsFailure
from e2email.core import wkd
from e2email.errors import MessageError
from e2email.model import Address, Protocol, Rejection
from e2email.services.discovery.judge import Context, Outcome, Task, failed, judge_openpgp, nothing


def dane_name(address: Address) -> str:
    """The OPENPGPKEY owner name (RFC 7929 section 3): SHA2-256 of the local part, 28 octets."""
    digest = hashlib.sha256(address.local.encode("utf-8")).digest()[:28].hex()
    return f"{digest}._openpgpkey.{wkd.wkd_domain(address.domain)}"


def tasks(address: Address, ctx: Context, protocols: Collection[Protocol]) -> list[Task]:
    """One lookup, for OpenPGP keys only."""
    return [("dane", partial(dane_lookup, address, ctx))] if Protocol.OPENPGP in protocols else []


def dane_lookup(address: Address, ctx: Context, timeout: float) -> Outcome:
    """OPENPGPKEY records, used only from a DNSSEC-secure answer (RFC 7929 7)."""
    del timeout  # the resolver has its own (network.timeout)
    try:
        name = dane_name(address)
        answer = ctx.resolver.query(name, "OPENPGPKEY")
    except MessageError:
        return Outcome((), (Rejection("dane", "bad-domain"),))
    except DnsFailure:
        return failed("dane", "dns-error", name)
    if answer.empty:
        return nothing("dane", name)
    if answer.security != "secure":
        return Outcome((), (Rejection("dane", "dnssec-insecure"),), where=name)
    data = b"".join(bytes(r.key) for r in answer.records)
    return replace(judge_openpgp(data, address, "dane", ctx), where=name)
