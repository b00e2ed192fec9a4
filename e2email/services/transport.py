"""Transport verdicts for recipients without a key (the MX path of their domain)."""

from __future__ import annotations

from e2email.services.runtime import Runtime


def verdict_for(rt: Runtime, domain: str) -> tuple[str, str]:
    """(verdict, reason) for ``domain`` on the ladder of contract.md.

    Until the MX probes exist this answers ``unknown``: with the default floor
    (verified-tls) a recipient without a key is then refused, never sent in clear.
    """
    del rt, domain
    return "unknown", "transport checks are not available yet"
