"""The ``check`` use case: the transport report for domains or addresses given by the user."""

from __future__ import annotations

from collections.abc import Sequence

from e2email.core.hostnames import is_hostname, normalise
from e2email.errors import UsageError
from e2email.services.runtime import Runtime
from e2email.services.transport import mxpath
from e2email.services.transport import verdicts as transport
from e2email.services.transport.mxpath import DomainReport


def domains_of(targets: Sequence[str]) -> list[str]:
    """Domains from ``DOMAIN`` or ``ADDR`` arguments, each once, in the order given."""
    found: dict[str, None] = {}
    for target in targets:
        text = target.strip()
        if text.startswith("-"):
            raise UsageError(f"refusing an argument that starts with '-': {target!r}")
        domain = text.rpartition("@")[2] if "@" in text else text
        try:
            name = normalise(domain)
        except UnicodeError:
            raise UsageError(f"not a domain name: {target!r}") from None
        if not is_hostname(name) or "." not in name:
            raise UsageError(f"not a domain name: {target!r}")
        found.setdefault(name)
    return list(found)


def check(rt: Runtime, targets: Sequence[str]) -> list[DomainReport]:
    """Observe every domain's MX path concurrently; remember the verdicts for ``send``."""
    reports = mxpath.observe_many(rt, domains_of(targets))
    for report in reports:
        transport.remember(rt, report)
    return reports
