"""Transport verdicts for ``send``: a recipient without a key gets its domain's MX path verdict.

Verdicts are kept for ``network.verdict_ttl`` seconds, in this process and on disk, so a
burst of messages (one sendmail process each) does not probe the same domain every time.
Probing itself (``transport/mxpath.py``, pyOpenSSL, cryptography) is imported only when a
verdict has to be observed, to keep the sendmail path light.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from e2email.adapters.store.transport_cache import TransportCache
from e2email.services.runtime import Runtime

if TYPE_CHECKING:
    from e2email.services.transport.mxpath import DomainReport

_memo: dict[str, tuple[float, str, str]] = {}


def _fresh(rt: Runtime, domain: str) -> tuple[str, str] | None:
    """A verdict younger than ``network.verdict_ttl`` from memory or disk, if any."""
    ttl = rt.settings.network.verdict_ttl
    now = time.time()
    memo = _memo.get(domain)
    if memo is not None and 0 <= now - memo[0] < ttl:
        return memo[1], memo[2]
    cached = TransportCache(rt.settings.network.transport_cache_dir).verdict(domain, now, ttl)
    if cached is not None:
        _memo[domain] = (now, *cached)
    return cached


def prefetch(rt: Runtime, domains: list[str]) -> None:
    """Observe every domain without a fresh verdict at once (many recipients, one wait)."""
    wanted = list(dict.fromkeys(d.lower().rstrip(".") for d in domains))
    missing = [d for d in wanted if _fresh(rt, d) is None]
    if len(missing) < 2:
        return  # verdict_for handles a single domain just as fast
    from e2email.services.transport import mxpath

    for report in mxpath.observe_many(rt, missing):
        remember(rt, report)


def verdict_for(rt: Runtime, domain: str) -> tuple[str, str]:
    """(verdict, reason) for ``domain``, reusing one younger than ``network.verdict_ttl``."""
    domain = domain.lower().rstrip(".")
    fresh = _fresh(rt, domain)
    if fresh is not None:
        return fresh
    from e2email.services.transport import mxpath

    report = mxpath.observe(rt, domain)
    remember(rt, report)
    return report.verdict, report.reason


def remember(rt: Runtime, report: DomainReport) -> None:
    """Keep a fresh verdict for ``send`` (memory and disk)."""
    now = time.time()
    _memo[report.domain] = (now, report.verdict, report.reason)
    cache = TransportCache(rt.settings.network.transport_cache_dir)
    cache.store_verdict(report.domain, report.verdict, report.reason, now)
