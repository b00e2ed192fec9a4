"""e2email's own store of keys found on the network, its pins (TOFU) and its answer cache.

Keys found through WKD, LDAP or DNS never go into the user's keyring. They live here:

``STORE/openpgp/FPR.pgp``, ``STORE/smime/SHA256.pem``
    the key material, as validated (binary OpenPGP packets; the certificate in PEM followed
    by the intermediates of its path; ``SHA256.der`` from earlier versions is still read)
``STORE/index.json``
    per key: protocol, user IDs, expiry, and every sighting (address, source, where, first
    and last seen); per address and protocol: the pinned fingerprint (the first one used)
``CACHE/answers.json``
    per address: the last discovery answer and when it was made, for the TTLs

STORE is ``$XDG_DATA_HOME/e2email/keys`` (pins must survive cache cleaning), CACHE is
``$XDG_CACHE_HOME/e2email/discovery``. Both 0700. Writers take an exclusive ``flock`` and
replace files atomically, so concurrent e2email processes never see half a file.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from e2email.errors import ConfigError
from e2email.model import Key, Protocol, Rejection

_SUFFIX = {Protocol.OPENPGP: ".pgp", Protocol.SMIME: ".pem"}
_LEGACY_SUFFIX = {Protocol.SMIME: ".der"}  # a lone DER certificate, before chains were kept


@dataclass(frozen=True)
class Pin:
    """The fingerprint used for an address (trust on first use), since when, and the one it
    replaced (``keys accept``, or a key change sent under ``key_change = "warn"``)."""

    address: str
    protocol: Protocol
    fingerprint: str
    since: str
    source: str
    previous: str | None = None


@dataclass(frozen=True)
class Sighting:
    """One time a key was found for an address: where from, and when first and last."""

    address: str
    source: str
    where: str
    first_seen: str
    last_seen: str


@dataclass(frozen=True)
class StoredKey:
    """A key in the store with everything known about where it came from."""

    protocol: Protocol
    fingerprint: str
    user_ids: tuple[str, ...]
    expires: str | None
    sightings: tuple[Sighting, ...]
    problem: str | None = None  # what the last refresh found wrong (``revoked``...)
    refreshed: str | None = None  # when a refresh last fetched it


@dataclass(frozen=True)
class Answer:
    """A cached discovery answer for one address."""

    at: datetime
    keys: tuple[Key, ...]
    rejected: tuple[Rejection, ...]


def _key(address: str) -> str:
    local, _, domain = address.rpartition("@")
    return f"{local}@{domain.lower()}"


class KeyStore:
    """The store (``store_dir``) and the cache (``cache_dir``)."""

    def __init__(self, store_dir: Path, cache_dir: Path) -> None:
        self.store_dir = store_dir
        self.cache_dir = cache_dir

    # -- files -------------------------------------------------------------------------------

    def _dir(self, path: Path) -> Path:
        try:
            path.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as e:
            raise ConfigError(f"cannot create {path}: {e.strerror}") from None
        return path

    @contextlib.contextmanager
    def _locked(self, directory: Path) -> Iterator[None]:
        with (self._dir(directory) / ".lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    @staticmethod
    def _read(path: Path) -> dict[str, Any]:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as e:
            raise ConfigError(f"{path}: unreadable ({e}); move it away to start afresh") from None
        return data if isinstance(data, dict) else {}

    def _write(self, path: Path, data: bytes) -> None:
        fd, tmp = tempfile.mkstemp(dir=self._dir(path.parent), prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def _write_json(self, path: Path, data: dict[str, Any]) -> None:
        self._write(path, json.dumps(data, indent=1, sort_keys=True).encode())

    @property
    def _index(self) -> Path:
        return self.store_dir / "index.json"

    @property
    def _answers(self) -> Path:
        return self.cache_dir / "answers.json"

    # -- key material ------------------------------------------------------------------------

    def path(self, protocol: Protocol, fingerprint: str) -> Path:
        """Where a key's material is (or would be) kept."""
        return self.store_dir / protocol.value / (fingerprint + _SUFFIX[protocol])

    def material(self, protocol: Protocol, fingerprint: str) -> bytes | None:
        """The stored bytes of a key, or None."""
        for path in self._paths(protocol, fingerprint):
            try:
                return path.read_bytes()
            except FileNotFoundError:
                continue
        return None

    def _paths(self, protocol: Protocol, fingerprint: str) -> list[Path]:
        path = self.path(protocol, fingerprint)
        legacy = _LEGACY_SUFFIX.get(protocol)
        return [path, path.with_suffix(legacy)] if legacy else [path]

    def put(self, key: Key, address: str, where: str, now: datetime) -> None:
        """Keep a key found on the network, with this sighting of it."""
        if key.material is None:
            raise ValueError("a stored key needs its material")
        stamp = now.isoformat()
        with self._locked(self.store_dir):
            self._write(self.path(key.protocol, key.fingerprint), key.material)
            index = self._read(self._index)
            entry = index.setdefault("keys", {}).setdefault(
                f"{key.protocol.value}:{key.fingerprint}", {"sightings": []}
            )
            entry.update(
                protocol=key.protocol.value,
                fingerprint=key.fingerprint,
                user_ids=list(key.user_ids),
                expires=key.expires.isoformat() if key.expires else None,
            )
            _sighting(entry["sightings"], _key(address), key.origin or key.source, where, stamp)
            self._write_json(self._index, index)

    def stored(self) -> list[StoredKey]:
        """Every key in the store."""
        out = []
        for entry in self._read(self._index).get("keys", {}).values():
            out.append(
                StoredKey(
                    Protocol(entry["protocol"]),
                    entry["fingerprint"],
                    tuple(entry.get("user_ids", ())),
                    entry.get("expires"),
                    tuple(Sighting(**s) for s in entry.get("sightings", ())),
                    "revoked" if entry.get("revoked") else entry.get("problem"),
                    entry.get("refreshed"),
                )
            )
        return sorted(out, key=lambda k: k.sightings[0].address if k.sightings else "")

    # -- refresh (``keys refresh``) -----------------------------------------------------------

    def refreshed(self, updates: Sequence[tuple[Key, str | None]], now: datetime) -> None:
        """Replace stored keys' material by their refreshed copies (the same keys, merged).

        Each update is a key and why it can no longer be used (``revoked``, ``expired``...,
        or None). A revocation sticks: once a refresh saw the key revoked, no later answer (a
        stale WKD copy without the revocation) makes it usable again (see :meth:`revoked`).
        One lock and one index write for the whole batch.
        """
        if not updates:
            return
        with self._locked(self.store_dir):
            index = self._read(self._index)
            for key, problem in updates:
                self._refresh_entry(index, key, problem, now)
            self._write_json(self._index, index)
        self.drop_answers_with({k.fingerprint for k, _ in updates})

    def _refresh_entry(
        self, index: dict[str, Any], key: Key, problem: str | None, now: datetime
    ) -> None:
        entry = index.get("keys", {}).get(f"{key.protocol.value}:{key.fingerprint}")
        if entry is None or key.material is None:
            return
        self._write(self.path(key.protocol, key.fingerprint), key.material)
        entry.update(
            user_ids=list(key.user_ids),
            expires=key.expires.isoformat() if key.expires else None,
            refreshed=now.isoformat(),
            problem=problem,
        )
        if problem == "revoked" or entry.get("revoked"):
            entry["revoked"] = entry.get("revoked") or now.isoformat()

    def revoked(self) -> frozenset[str]:
        """Fingerprints a refresh found revoked: never used again, whatever serves them."""
        keys = self._read(self._index).get("keys", {}).values()
        return frozenset(e["fingerprint"] for e in keys if e.get("revoked"))

    def drop_answers_with(self, fingerprints: Collection[str]) -> int:
        """Drop the cached answers that offered one of ``fingerprints`` (asked again)."""
        with self._locked(self.cache_dir):
            answers = self._read(self._answers)
            stale = [
                a
                for a, raw in answers.items()
                if any(k.get("fingerprint") in fingerprints for k in raw.get("keys", ()))
            ]
            for a in stale:
                del answers[a]
            if stale:
                self._write_json(self._answers, answers)
        return len(stale)

    # -- pins (TOFU) -------------------------------------------------------------------------

    def pin(self, address: str, protocol: Protocol) -> Pin | None:
        """The pinned fingerprint for ``address``, if any."""
        raw = self._read(self._index).get("pins", {}).get(_key(address), {}).get(protocol.value)
        return Pin(_key(address), protocol, **raw) if raw else None

    def pins(self) -> list[Pin]:
        """Every pin."""
        out = []
        for address, by_protocol in self._read(self._index).get("pins", {}).items():
            out += [Pin(address, Protocol(p), **raw) for p, raw in by_protocol.items()]
        return sorted(out, key=lambda p: (p.address, p.protocol.value))

    def set_pin(
        self,
        address: str,
        protocol: Protocol,
        fingerprint: str,
        source: str,
        now: datetime,
        *,
        previous: str | None = None,
    ) -> None:
        """Pin ``fingerprint`` for ``address`` (``keys accept``, or a warned key change)."""
        with self._locked(self.store_dir):
            index = self._read(self._index)
            entry = {"fingerprint": fingerprint, "since": now.isoformat(), "source": source}
            if previous is not None and previous != fingerprint:
                entry["previous"] = previous
            index.setdefault("pins", {}).setdefault(_key(address), {})[protocol.value] = entry
            self._write_json(self._index, index)

    def pin_first(
        self, address: str, protocol: Protocol, fingerprint: str, source: str, now: datetime
    ) -> Pin:
        """Pin ``fingerprint`` unless a pin exists; return the pin in force (atomically)."""
        with self._locked(self.store_dir):
            index = self._read(self._index)
            by_protocol = index.setdefault("pins", {}).setdefault(_key(address), {})
            if protocol.value not in by_protocol:
                by_protocol[protocol.value] = {
                    "fingerprint": fingerprint,
                    "since": now.isoformat(),
                    "source": source,
                }
                self._write_json(self._index, index)
            return Pin(_key(address), protocol, **by_protocol[protocol.value])

    # -- the answer cache --------------------------------------------------------------------

    def cached(self, address: str) -> Answer | None:
        """The last answer for ``address`` (the caller judges its age)."""
        raw = self._read(self._answers).get(_key(address))
        if not raw:
            return None
        keys = []
        for k in raw.get("keys", ()):
            protocol = Protocol(k["protocol"])
            material = self.material(protocol, k["fingerprint"]) if k.get("stored") else None
            if k.get("stored") and material is None:
                return None  # the store lost it: ask again
            keys.append(_cached_key(k, protocol, material))
        rejected = tuple(Rejection(**r) for r in raw.get("rejected", ()))
        return Answer(datetime.fromisoformat(raw["at"]), tuple(keys), rejected)

    def remember(
        self, address: str, keys: tuple[Key, ...], rejected: tuple[Rejection, ...], now: datetime
    ) -> None:
        """Cache an answer made now."""
        with self._locked(self.cache_dir):
            answers = self._read(self._answers)
            answers[_key(address)] = {
                "at": now.isoformat(),
                "keys": [_key_json(k) for k in keys],
                "rejected": [r.__dict__ for r in rejected],
            }
            self._write_json(self._answers, answers)

    def forget(self, address: str) -> int:
        """Drop the pins, cached answers and sightings of ``address``; how many were found."""
        wanted = _key(address)
        count = 0
        with self._locked(self.cache_dir):
            answers = self._read(self._answers)
            if answers.pop(wanted, None) is not None:
                count += 1
                self._write_json(self._answers, answers)
        with self._locked(self.store_dir):
            index = self._read(self._index)
            count += len(index.get("pins", {}).pop(wanted, {}))
            count += self._drop_sightings(index, wanted)
            self._write_json(self._index, index)
        return count

    def _drop_sightings(self, index: dict[str, Any], address: str) -> int:
        count = 0
        keys: dict[str, Any] = index.get("keys", {})
        for name, entry in list(keys.items()):
            before = entry.get("sightings", [])
            entry["sightings"] = [s for s in before if s["address"] != address]
            count += len(before) - len(entry["sightings"])
            if not entry["sightings"]:
                del keys[name]
                for path in self._paths(Protocol(entry["protocol"]), entry["fingerprint"]):
                    with contextlib.suppress(OSError):
                        path.unlink()
        return count


def _sighting(
    sightings: list[dict[str, str]], address: str, source: str, where: str, stamp: str
) -> None:
    for s in sightings:
        if s["address"] == address and s["source"] == source and s["where"] == where:
            s["last_seen"] = stamp
            return
    sightings.append(
        {
            "address": address,
            "source": source,
            "where": where,
            "first_seen": stamp,
            "last_seen": stamp,
        }
    )


def _key_json(k: Key) -> dict[str, Any]:
    return {
        "protocol": k.protocol.value,
        "fingerprint": k.fingerprint,
        "source": k.origin or k.source,
        "user_ids": list(k.user_ids),
        "expires": k.expires.isoformat() if k.expires else None,
        "found_at": k.found_at.isoformat() if k.found_at else None,
        "stored": k.material is not None,
    }


def _cached_key(k: dict[str, Any], protocol: Protocol, material: bytes | None) -> Key:
    return Key(
        protocol=protocol,
        fingerprint=k["fingerprint"],
        source="cache",
        user_ids=tuple(k.get("user_ids", ())),
        expires=datetime.fromisoformat(k["expires"]) if k.get("expires") else None,
        found_at=datetime.fromisoformat(k["found_at"]) if k.get("found_at") else None,
        origin=k["source"],
        material=material,
    )
