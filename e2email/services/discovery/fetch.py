"""One HTTPS GET for the key servers of discovery (WKD, VKS, HKPS), with their shared rules.

The project's resolver and verified TLS, no redirects, a size cap, the caller's time budget;
the answer, or the Outcome that says why there is none (security.md items 5 and 14).
"""

from __future__ import annotations

from dataclasses import dataclass

from e2email.adapters import http
from e2email.core import wkd
from e2email.services.discovery.judge import Context, Outcome, failed, nothing

HTTP_REASONS = {
    "tls": "tls-error",
    "timeout": "timeout",
    "dns": "dns-error",
    "connect": "connect-error",
    "http": "http-error",
    "size": "too-large",
}


@dataclass(frozen=True)
class Get:
    """Where to ask: the source named in outcomes, host, port, path and the URL shown."""

    source: str
    host: str
    path: str
    url: str
    port: int = 443


def fetch(ctx: Context, get: Get, *, max_bytes: int, timeout: float) -> http.Response | Outcome:
    """The 200 answer to ``get``; 404/410 is "nothing", anything else a failure with its reason."""
    try:
        resp = http.get(ctx.resolver, ctx.tls_context, get.host, get.path,
                        max_bytes=max_bytes, timeout=timeout, port=get.port)  # fmt: skip
    except http.HttpError as e:
        return failed(get.source, HTTP_REASONS.get(e.kind, "http-error"), get.url)
    problem = wkd.status_problem(resp.status)
    if problem == "not-found":
        return nothing(get.source, get.url)
    if problem is not None:
        return failed(get.source, problem, get.url)
    return resp
