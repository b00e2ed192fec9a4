"""Key discovery: the methods of ``discovery.methods`` in order, concurrently, with trust rules.

For each address: ``local`` first (the user's keyring and ``smime.certificates_dir``; cheap,
and when it answers nothing goes on the network). Otherwise a fresh cached answer, else every
network method (``wkd``, ``ldap``, ``dane``) for every address at once, under one time budget
(``discovery.timeout``) for the whole message. The first method in the configured order with
a usable key wins. Keys from the network go to e2email's own store, never the user's keyring.

Trust on first use: the fingerprint a message is first *sent* with is pinned for the address
(``record_use``, after the server accepted the message or the outbox kept it); a lookup
(``keys locate``), a dry run or a refused send pins nothing. A different key later is a *key
change*: ``discovery.key_change = "refuse"`` (default) refuses the recipient until
``e2email keys accept ADDR FPR`` moves the pin; ``"warn"`` uses the new key, and the send that
uses it warns once and moves the pin to it (the old fingerprint is kept as ``previous``), so
the next change, back to the old key included, warns again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING

from e2email.config import Settings
from e2email.errors import ConfigError, E2emailError, UsageError
from e2email.model import Action, Address, Decision, Key, Plan, Protocol, Recipient, Rejection
from e2email.services.discovery import local
from e2email.services.runtime import Runtime

if TYPE_CHECKING:
    import concurrent.futures as cf

    from e2email.adapters.store.keystore import KeyStore
    from e2email.services.discovery.judge import Context, Outcome, Task

# The network methods (discovery.methods: HTTP, LDAP, DNS; the key store) load only when an
# address needs them: with every key in the local keyring, the sendmail path skips them.

KEY_CHANGED = "key-changed"
ENCRYPTED = (Action.OPENPGP, Action.SMIME)
log = logging.getLogger("e2email.discover")


@dataclass(frozen=True)
class KeyChange:
    """A key different from the pinned one was offered for an address."""

    pinned: str
    offered: str
    source: str


@dataclass(frozen=True)
class Found:
    """Discovery's answer for one address: usable keys (best first) and rejections."""

    address: Address
    keys: tuple[Key, ...]
    rejected: tuple[Rejection, ...]
    changed: KeyChange | None = None

    @property
    def key(self) -> Key | None:
        """The key to use, if any."""
        return self.keys[0] if self.keys else None


def store_for(settings: Settings) -> KeyStore:
    """e2email's key store and cache (``discovery.store_dir`` / ``discovery.cache_dir``)."""
    d = settings.discovery
    if d.store_dir is None or d.cache_dir is None:
        raise ConfigError("no HOME or XDG directories: set discovery.store_dir and cache_dir")
    from e2email.adapters.store.keystore import KeyStore

    return KeyStore(d.store_dir, d.cache_dir)


class Discovery:
    """One discovery run over a set of addresses (one message, or one ``keys locate``)."""

    def __init__(
        self,
        rt: Runtime,
        *,
        protocols: Sequence[Protocol] = (Protocol.OPENPGP, Protocol.SMIME),
        use_cache: bool = True,
        now: datetime | None = None,
    ) -> None:
        self.rt = rt
        self.settings = rt.settings
        self.protocols = tuple(protocols)
        self.use_cache = use_cache
        self.now = now or datetime.now(UTC)
        self._local_rejected: dict[Address, list[Rejection]] = {}

    @cached_property
    def store(self) -> KeyStore:
        """The key store."""
        return store_for(self.settings)

    @cached_property
    def ctx(self) -> Context:
        """What the methods share."""
        from e2email.services.discovery.judge import Context

        return Context(self.settings, self.rt.resolver, self.rt.tls_context, self.now)

    def run(self, addresses: Sequence[Address]) -> dict[Address, Found]:
        """Discover keys for every address (each looked up once)."""
        addresses = list(dict.fromkeys(addresses))
        results: dict[Address, Found] = {}
        pending: list[Address] = []
        for address in addresses:
            found = self._local(address) or self._cached(address)
            if found is None:
                pending.append(address)
            else:
                results[address] = found
        results.update(self._network(pending))
        return {a: self._trust(results[a]) for a in addresses}

    # -- local and cache ---------------------------------------------------------------------

    def _local(self, address: Address) -> Found | None:
        if "local" not in self.settings.discovery.methods:
            return None
        keys: list[Key] = []
        rejected: list[Rejection] = []
        if Protocol.OPENPGP in self.protocols:
            key, why = local.local_openpgp(self.rt.gpg, address)
            keys += [key] if key else []
            rejected += why
        if Protocol.SMIME in self.protocols and self.settings.smime.certificates_dir:
            out = local.local_smime(address, self.ctx)
            keys += out.keys
            rejected += out.rejected
        if keys:
            return Found(address, tuple(keys), tuple(rejected))
        self._local_rejected[address] = rejected
        return None

    def _earlier(self, address: Address) -> list[Rejection]:
        return list(self._local_rejected.get(address, []))

    def _cached(self, address: Address) -> Found | None:
        if not self.use_cache:
            return None
        answer = self.store.cached(str(address))
        if answer is None:
            return None
        d = self.settings.discovery
        ttl = d.positive_ttl if answer.keys else d.negative_ttl
        if self.now - answer.at > timedelta(seconds=ttl):
            return None
        keys = [
            k for k in answer.keys if k.protocol in self.protocols and self._still_ok(k, address)
        ]
        if answer.keys and not keys:
            return None  # what was cached no longer holds: ask again
        rejected = [*self._earlier(address), *answer.rejected]
        return Found(address, tuple(keys), tuple(rejected))

    @cached_property
    def revoked(self) -> frozenset[str]:
        """Keys ``keys refresh`` found revoked: never used again (security.md item 14)."""
        return self.store.revoked()

    def _still_ok(self, key: Key, address: Address) -> bool:
        if key.fingerprint in self.revoked:
            return False
        if key.expires is not None and key.expires <= self.now:
            return False
        if key.protocol is Protocol.SMIME and key.material is not None:
            from e2email.services.discovery.judge import judge_certificates

            out = judge_certificates([key.material], address, "cache", self.ctx)
            return bool(out.keys)
        return True

    # -- the network -------------------------------------------------------------------------

    def _tasks(self, address: Address) -> list[Task]:
        from e2email.services.discovery import methods

        ctx, protocols = self.ctx, self.protocols
        return [
            t
            for m in self.settings.discovery.methods
            for t in methods.tasks(m, address, ctx, protocols)
        ]

    def _network(self, addresses: list[Address]) -> dict[Address, Found]:
        if not addresses:
            return {}
        budget = self.settings.discovery.timeout
        deadline = time.monotonic() + budget
        jobs = [(a, m, fn) for a in addresses for m, fn in self._tasks(a)]
        outcomes: dict[Address, list[tuple[str, Outcome]]] = {a: [] for a in addresses}
        if jobs:
            import concurrent.futures as cf

            pool = cf.ThreadPoolExecutor(max_workers=min(32, len(jobs)))
            futures = {pool.submit(fn, budget): (a, m) for a, m, fn in jobs}
            done, _ = cf.wait(futures, timeout=max(0.0, deadline - time.monotonic()))
            pool.shutdown(wait=False, cancel_futures=True)
            results = [(a, m, _result(f, m, f in done)) for f, (a, m) in futures.items()]
            from e2email.services.discovery.judge import settle

            settled = settle([(a, o) for a, _, o in results], self.ctx)
            for (address, method, _), outcome in zip(results, settled, strict=True):
                outcomes[address].append((method, outcome))
        return {a: self._decide(a, outcomes[a]) for a in addresses}

    def _decide(self, address: Address, outcomes: list[tuple[str, Outcome]]) -> Found:
        order = {m: i for i, m in enumerate(self.settings.discovery.methods)}
        outcomes.sort(key=lambda mo: order.get(mo[0], len(order)))
        keys = [k for _, o in outcomes for k in o.keys if k.protocol in self.protocols]
        rejected = [*self._earlier(address), *(r for _, o in outcomes for r in o.rejected)]
        revoked = [k for k in keys if k.fingerprint in self.revoked]
        keys = [k for k in keys if k not in revoked]
        rejected += [Rejection(k.source, "revoked", k.fingerprint) for k in revoked]
        where = {k.fingerprint: o.where for _, o in outcomes for k in o.keys}
        for key in keys:
            self.store.put(key, str(address), where.get(key.fingerprint, ""), self.now)
        if keys or all(o.definitive for _, o in outcomes):
            network_rejected = tuple(r for _, o in outcomes for r in o.rejected)
            self.store.remember(str(address), tuple(keys), network_rejected, self.now)
        return Found(address, tuple(keys), tuple(rejected))

    # -- trust on first use ------------------------------------------------------------------

    def _trust(self, found: Found) -> Found:
        """Prefer the pinned key; flag a change. Pins nothing: see ``record_use``."""
        if not found.keys or found.keys[0].source == "local":
            return found
        best = found.keys[0]
        pin = self.store.pin(str(found.address), best.protocol)
        if pin is None:
            return found
        same = [k for k in found.keys if k.fingerprint == pin.fingerprint]
        if same:
            return replace(found, keys=(same[0], *(k for k in found.keys if k is not same[0])))
        change = KeyChange(pin.fingerprint, best.fingerprint, best.origin or best.source)
        note = f"{KEY_CHANGED}: pinned {pin.fingerprint}, offered {best.fingerprint}"
        flagged = replace(best, warning=note)
        rejected = (*found.rejected, Rejection(best.source, KEY_CHANGED, best.fingerprint))
        return Found(found.address, (flagged, *found.keys[1:]), rejected, change)


def change_refusal(
    settings: Settings, recipient: Recipient, found: Found | None
) -> Decision | None:
    """The refusal of a recipient whose key changed, when ``discovery.key_change`` is refuse."""
    if found is None or found.changed is None or settings.discovery.key_change != "refuse":
        return None
    c = found.changed
    why = (
        f"{KEY_CHANGED}: {recipient.address} was pinned to {c.pinned}, {c.source} now offers "
        f"{c.offered}; if that is right: e2email keys accept {recipient.address} {c.offered}"
    )
    return Decision(recipient, Action.REFUSE, None, why, found.rejected)


def record_use(rt: Runtime, plan: Plan, *, now: datetime | None = None) -> None:
    """Pin the keys a message was just sent with (trust on first use).

    Call it once the server accepted the message or the outbox kept it. Keys from the user's
    own keyring or ``certificates_dir`` (source ``local``) are the user's to trust: not pinned.
    A key that differs from the pin was only used under ``key_change = "warn"``: the pin moves
    to it with one warning, so later sends with the same key stay quiet.
    """
    used = [
        (d.recipient.address, d.key)
        for d in plan.decisions
        if d.key is not None and d.key.source != "local" and d.action in ENCRYPTED
    ]
    when = now or datetime.now(UTC)
    for address, key in used:
        try:
            _pin_used(rt, address, key, when)
        except (E2emailError, OSError) as e:  # the message is gone: this must not fail it
            log.warning("%s: could not record the key it was sent with: %s", address, e)


def _pin_used(rt: Runtime, address: Address, key: Key, when: datetime) -> None:
    store = store_for(rt.settings)
    origin = key.origin or key.source
    held = store.pin_first(str(address), key.protocol, key.fingerprint, origin, when)
    if held.fingerprint == key.fingerprint:
        return
    if rt.settings.discovery.key_change != "warn":  # pinned meanwhile by another send
        return
    store.set_pin(
        str(address), key.protocol, key.fingerprint, origin, when, previous=held.fingerprint
    )
    log.warning(
        "%s: %s: the key was %s, %s now offers %s; sent with the new key, which is pinned "
        "from now on (discovery.key_change = \"warn\")",
        address, KEY_CHANGED, held.fingerprint, origin, key.fingerprint,
    )  # fmt: skip


def _result(future: cf.Future[Outcome], method: str, finished: bool) -> Outcome:
    from e2email.services.discovery.judge import failed

    if not finished:
        future.cancel()
        return failed(method, "timeout")
    try:
        return future.result()
    except ConfigError:
        raise
    except Exception as e:  # a method's bug must not sink the others: report it as a reason
        return failed(method, f"error: {type(e).__name__}")


def discover(
    rt: Runtime,
    addresses: Sequence[Address],
    *,
    protocols: Sequence[Protocol] = (Protocol.OPENPGP, Protocol.SMIME),
    use_cache: bool = True,
    now: datetime | None = None,
) -> dict[Address, Found]:
    """Discover keys for ``addresses`` (see the module docstring)."""
    return Discovery(rt, protocols=protocols, use_cache=use_cache, now=now).run(addresses)


def accept(rt: Runtime, address: Address, fingerprint: str, *, now: datetime | None = None) -> Key:
    """Pin ``fingerprint`` for ``address`` (``keys accept``): it must be a key already seen."""
    store = store_for(rt.settings)
    wanted = fingerprint.replace(" ", "").replace(":", "")
    for stored in store.stored():
        if stored.fingerprint.lower() == wanted.lower():
            seen = [s for s in stored.sightings if Address(*_split(s.address)).matches(address)]
            if not seen:
                break
            before = store.pin(str(address), stored.protocol)
            store.set_pin(
                str(address),
                stored.protocol,
                stored.fingerprint,
                "accepted",
                now or datetime.now(UTC),
                previous=before.fingerprint if before else None,
            )
            return Key(stored.protocol, stored.fingerprint, seen[0].source, stored.user_ids)
    raise UsageError(
        f"no key {fingerprint} was found for {address}; run `e2email keys locate {address}` first"
    )


def _split(text: str) -> tuple[str, str]:
    local, _, domain = text.rpartition("@")
    return local, domain
