"""``keys refresh``, the pure part: where to ask for a stored key again, and when.

A stored key is asked for again from the source it was last seen at, by fingerprint where
the source allows it (VKS ``by-fingerprint``, HKP ``search=0xFPR``); WKD, LDAP and DANE are
asked by the address it was found for, and only the very same key is taken from their
answer (``keyserver.same_key``). :func:`schedule` spreads the requests of a refresh over a
time span (``--spread``) and interleaves the sources, so that no server sees the whole
address book in one burst.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import urlsplit

from e2email.core import keyserver, wkd
from e2email.errors import UsageError

T = TypeVar("T")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd]?)")
_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_SPREAD = 7 * 86400.0
# the discovery method that answers again for a stored sighting's source
METHOD = {
    wkd.ADVANCED: "wkd",
    wkd.DIRECT: "wkd",
    "wkd": "wkd",
    "ldap": "ldap",
    "dane": "dane",
    keyserver.VKS: keyserver.VKS,
    keyserver.HKPS: keyserver.HKPS,
}


@dataclass(frozen=True)
class Target:
    """What to ask for one stored key: the method, and for keyservers the host and port."""

    method: str
    address: str
    host: str = ""
    port: int = 443

    @property
    def name(self) -> str:
        """The server (or method) asked: what spreading interleaves."""
        return self.host or self.method


def parse_duration(text: str) -> float:
    """Seconds from ``90``, ``30s``, ``15m``, ``2h`` or ``1d`` (UsageError otherwise)."""
    m = _DURATION.fullmatch(text.strip().lower())
    if m is None:
        raise UsageError(f"--spread {text!r}: give a duration such as 90s, 15m, 2h or 1d")
    seconds = float(m.group(1)) * _UNIT[m.group(2)]
    if seconds > MAX_SPREAD:
        raise UsageError(f"--spread {text!r}: at most 7 days")
    return seconds


def target(source: str, where: str, address: str) -> Target | None:
    """What to ask again for a key seen at ``source`` (``where``: the URL it came from)."""
    method = METHOD.get(source)
    if method is None:
        return None
    if method not in (keyserver.VKS, keyserver.HKPS):
        return Target(method, address)
    parts = urlsplit(where)
    if parts.scheme != "https" or not parts.hostname:
        return None
    try:
        port = parts.port or 443
    except ValueError:
        return None
    return Target(method, address, parts.hostname.lower(), port)


def by_fingerprint(t: Target, fpr: str) -> keyserver.Request:
    """The keyserver request for ``fpr`` at the target's server."""
    if t.method == keyserver.VKS:
        return keyserver.vks_by_fingerprint(t.host, t.port, fpr)
    return keyserver.hkp_by_fingerprint(t.host, t.port, fpr)


def interleave(items: Sequence[tuple[str, T]], rng: random.Random) -> list[T]:
    """The items shuffled, then taken round-robin by server name (first element)."""
    groups: dict[str, list[T]] = {}
    for name, item in items:
        groups.setdefault(name, []).append(item)
    queues = list(groups.values())
    rng.shuffle(queues)
    for q in queues:
        rng.shuffle(q)
    out: list[T] = []
    while any(queues):
        for q in queues:
            if q:
                out.append(q.pop())
    return out


def schedule(
    items: Sequence[tuple[str, T]], spread: float, rng: random.Random
) -> list[tuple[float, T]]:
    """Each item with the offset (seconds from the start) at which to ask for it.

    Offsets are drawn uniformly over ``[0, spread)`` and sorted, so the requests come at
    random moments over the whole span; the order interleaves the servers.
    """
    ordered = interleave(items, rng)
    offsets = sorted(rng.uniform(0.0, spread) for _ in ordered) if spread > 0 else []
    return list(zip(offsets or [0.0] * len(ordered), ordered, strict=True))
