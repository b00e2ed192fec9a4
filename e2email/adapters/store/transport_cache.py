"""On-disk caches for the transport check: MTA-STS policies and recent verdicts.

``$XDG_CACHE_HOME/e2email/transport`` (``network.transport_cache_dir``), 0700, one small JSON
file per domain, written atomically (temporary file + rename), so concurrent runs (one
sendmail process per message) never see half a file. A file that cannot be read or parsed
counts as absent: a cache never decides anything on its own.

* ``mta-sts/DOMAIN.json``: the last valid policy, its TXT ``id`` and when it was fetched.
  RFC 8461 5.1 keeps using it until ``max_age`` runs out, even when a refresh fails.
* ``verdicts/DOMAIN.json``: the last verdict and reason, reused for ``network.verdict_ttl``
  seconds by ``send`` so that a burst of messages does not probe the same MX path each time.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from e2email.core.hostnames import is_hostname
from e2email.core.mtasts import MODES, CachedPolicy, Policy


class TransportCache:
    """The cache directory; every method tolerates a missing or unwritable directory."""

    def __init__(self, directory: Path | None) -> None:
        self.dir = directory

    def _file(self, kind: str, domain: str) -> Path | None:
        if self.dir is None or not is_hostname(domain):
            return None
        return self.dir / kind / f"{domain}.json"

    def _read(self, kind: str, domain: str) -> dict[str, Any] | None:
        path = self._file(kind, domain)
        if path is None:
            return None
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def _write(self, kind: str, domain: str, data: dict[str, Any]) -> None:
        path = self._file(kind, domain)
        if path is None:
            return
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            with os.fdopen(fd, "w") as out:
                json.dump(data, out)
            os.replace(tmp, path)
        except OSError:
            return  # a cache that cannot be written only costs a later re-fetch

    def policy(self, domain: str) -> CachedPolicy | None:
        """The cached MTA-STS policy of ``domain``, if a well-formed one is stored."""
        data = self._read("mta-sts", domain)
        if data is None:
            return None
        try:
            mode, mx = data["mode"], tuple(str(m) for m in data["mx"])
            if mode not in MODES:
                return None
            policy = Policy(mode, int(data["max_age"]), mx)
            return CachedPolicy(str(data["id"]), policy, float(data["fetched_at"]))
        except (KeyError, TypeError, ValueError):
            return None

    def store_policy(self, domain: str, cached: CachedPolicy) -> None:
        """Remember a freshly fetched, valid policy."""
        p = cached.policy
        data = {"id": cached.id, "fetched_at": cached.fetched_at, "mode": p.mode}
        data.update(max_age=p.max_age, mx=list(p.mx))
        self._write("mta-sts", domain, data)

    def verdict(self, domain: str, now: float, ttl: float) -> tuple[str, str] | None:
        """A verdict stored less than ``ttl`` seconds ago, as (verdict, reason)."""
        data = self._read("verdicts", domain)
        if data is None or ttl <= 0:
            return None
        try:
            at, verdict, reason = float(data["at"]), str(data["verdict"]), str(data["reason"])
        except (KeyError, TypeError, ValueError):
            return None
        if not 0 <= now - at < ttl:
            return None
        return verdict, reason

    def store_verdict(self, domain: str, verdict: str, reason: str, now: float) -> None:
        """Remember a domain's verdict."""
        self._write("verdicts", domain, {"at": now, "verdict": verdict, "reason": reason})
