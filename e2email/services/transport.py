"""Transport verdicts for ``send``: a recipient without a key gets its domain's MX path verdict.

Verdicts are kept for ``network.verdict_ttl`` seconds, in this process and on disk, so a
burst of messages (one sendmail process each) does not probe the same domain every time.
Probing itself (``services/mxpath.py``, pyOpenSSL, cryptography) is imported only when a
verdict has to be observed, to keep the sendmail path light.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from e2email.adapters.transport_cache import TransportCache
from e2email.services.runtime import Runtime

if TYPE_CHECKING:
    from e2email.services.mxpath import DomainReport

_memo: dict[str, tuple[float, str, str]] = {}


def verdict_for(rt: Runtime, domain: str) -> tuple[str, str]:
    """(verdict, reason) for ``domain``, reusing one younger than ``network.verdict_ttl``."""
    domain = domain.lower().rstrip(".")
    ttl = rt.settings.network.verdict_ttl
    now = time.time()
    memo = _memo.get(domain)
    if memo is not None and 0 <= now - memo[0] < ttl:
        return memo[1], memo[2]
    cached = TransportCache(rt.settings.network.transport_cache_dir).verdict(domain, now, ttl)
    if cached is not None:
        _memo[domain] = (now, *cached)
        return cached
    from e2email.services import mxpath

    report = mxpath.observe(rt, domain)
    remember(rt, report)
    return report.verdict, report.reason


def remember(rt: Runtime, report: DomainReport) -> None:
    """Keep a fresh verdict for ``send`` (memory and disk)."""
    now = time.time()
    _memo[report.domain] = (now, report.verdict, report.reason)
    cache = TransportCache(rt.settings.network.transport_cache_dir)
    cache.store_verdict(report.domain, report.verdict, report.reason, now)
