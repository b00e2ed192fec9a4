"""MTA-STS discovery for one domain (RFC 8461 3, 5.1) and the TLS-RPT record (RFC 8460 3).

TXT through the project's resolver; the policy over HTTPS from ``mta-sts.DOMAIN`` with a
certificate verified for that name (``network.ca_file`` added to the system anchors), no
redirects, 64 KiB cap. A valid policy is cached for ``max_age`` and reused while the TXT
``id`` is unchanged; when a refresh fails, the cached policy stays in force until it
expires (RFC 8461 5.1), and the report says so.
"""

from __future__ import annotations

import logging
import time

from e2email.adapters import http
from e2email.adapters.dns import DnsFailure
from e2email.adapters.store.transport_cache import TransportCache
from e2email.core import mtasts, tlsrpt
from e2email.core.verdict import Sts
from e2email.services.runtime import Runtime

log = logging.getLogger("e2email.transport")


def txt_strings(rt: Runtime, name: str) -> list[str]:
    """The TXT records at ``name``, each one's strings joined (RFC 7208 3.3 style)."""
    answer = rt.resolver.query(name, "TXT")
    return [b"".join(rd.strings).decode("ascii", "replace") for rd in answer.records]


def discover(rt: Runtime, domain: str, cache: TransportCache, timeout: float) -> Sts:
    """The domain's MTA-STS state: live when possible, cached when RFC 8461 5.1 says so."""
    now = time.time()
    cached = cache.policy(domain)
    usable = cached if cached is not None and not cached.expired(now) else None
    try:
        txt = mtasts.select_txt(txt_strings(rt, mtasts.TXT_PREFIX + domain))
    except (DnsFailure, mtasts.MtaStsError) as e:
        kind = "TXT lookup failed" if isinstance(e, DnsFailure) else "bad TXT record"
        return _fallback(usable, f"{kind}: {e}")
    if txt is None:
        return Sts("none") if usable is None else _fallback(usable, "no TXT record any more")
    if usable is not None and not mtasts.needs_fetch(usable, txt, now):
        return Sts(usable.policy.mode, usable.policy, cached=True)
    try:
        policy = fetch(rt, domain, timeout)
    except (http.HttpError, mtasts.MtaStsError) as e:
        return _fallback(usable, str(e))
    cache.store_policy(domain, mtasts.CachedPolicy(txt.id, policy, now))
    return Sts(policy.mode, policy)


def _fallback(usable: mtasts.CachedPolicy | None, problem: str) -> Sts:
    if usable is None:
        return Sts("invalid", error=problem)
    note = f"{problem}; using the cached policy (id {usable.id}) until it expires"
    return Sts(usable.policy.mode, usable.policy, error=note, cached=True)


def fetch(rt: Runtime, domain: str, timeout: float) -> mtasts.Policy:
    """GET ``https://mta-sts.DOMAIN/.well-known/mta-sts.txt`` and parse it strictly."""
    host = mtasts.POLICY_HOST_PREFIX + domain
    try:
        resp = http.get(
            rt.resolver,
            rt.tls_context,
            host,
            mtasts.POLICY_PATH,
            max_bytes=mtasts.MAX_POLICY_BYTES,
            timeout=timeout,
        )
    except http.TooLarge:
        raise mtasts.MtaStsError(f"policy exceeds {mtasts.MAX_POLICY_BYTES} bytes") from None
    mtasts.check_response(resp.status, resp.header("Content-Type"), len(resp.body))
    return mtasts.parse_policy(resp.body)


def tls_rpt(rt: Runtime, domain: str) -> tuple[tuple[str, ...] | None, str | None]:
    """(rua list or None, problem or None) for ``_smtp._tls.DOMAIN``."""
    try:
        return tlsrpt.select_rua(txt_strings(rt, tlsrpt.TXT_PREFIX + domain)), None
    except DnsFailure as e:
        return None, f"TXT lookup failed: {e}"
    except tlsrpt.TlsRptError as e:
        return None, str(e)
