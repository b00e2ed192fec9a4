"""``e2email keys refresh``: ask again for every stored OpenPGP key, from where it was found.

Each key in e2email's store is fetched again from the source of its latest sighting: a
keyserver by fingerprint (VKS ``/vks/v1/by-fingerprint/``, HKP ``search=0xFPR``), WKD, LDAP
or DANE by the address it was found for. Only blocks of that very key are taken
(``keyserver.same_key``): a refresh never replaces a key by a different one; that is a key
change, which discovery handles with its pins. What comes back is merged with the stored copy
by gpg in a scratch home (new subkeys, new expiry, revocations), cut down to the addresses the
key was found for, and stored. A key gpg now finds revoked is marked so in the store and is
never used again, whatever serves it later; the cached answers that offered a refreshed key
are dropped, so the next message looks again.

Without ``spread``, the keys are fetched concurrently and judged by one gpg; with it, each
key is fetched at a random moment of the span, the servers interleaved, and applied at once.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from e2email.adapters.openpgp import inspect as pgpinspect
from e2email.adapters.store.keystore import KeyStore, StoredKey
from e2email.core import keyserver, pgpkeys
from e2email.core import refresh as plan
from e2email.model import Address, Key, Protocol
from e2email.services.discovery.discover import store_for
from e2email.services.discovery.judge import Context, Outcome
from e2email.services.runtime import Runtime

WORKERS = 50  # without --spread: the burst is what the user asked for


@dataclass(frozen=True)
class Item:
    """One stored key and where to ask for it again."""

    key: StoredKey
    target: plan.Target
    material: bytes


@dataclass(frozen=True)
class Fetched:
    """What a source gave back for one key: its blocks, and why others (or none) came."""

    item: Item
    blocks: tuple[pgpkeys.KeyBlock, ...] = ()
    dropped: tuple[str, ...] = ()
    failure: str | None = None  # not-found, timeout, tls-error... (nothing to merge)
    where: str = ""


@dataclass(frozen=True)
class Result:
    """One key's refresh: ``unchanged``, ``updated``, a problem (``revoked``, ``expired``...),
    ``not-found`` or ``failed``; ``reason`` says more (and names a different key offered)."""

    fingerprint: str
    address: str
    source: str
    where: str
    status: str
    reason: str | None = None


@dataclass
class Report:
    """Every key's result, and the time the refresh took."""

    results: list[Result] = field(default_factory=list)
    skipped: list[Result] = field(default_factory=list)
    seconds: float = 0.0


Progress = Callable[[int, int, Result], None]  # done, total, the latest result


def _split(text: str) -> Address:
    local, _, domain = text.rpartition("@")
    return Address(local, domain)


def items(store: KeyStore) -> tuple[list[Item], list[Result]]:
    """The stored OpenPGP keys to refresh, and those that cannot be (no source to ask)."""
    todo: list[Item] = []
    skipped: list[Result] = []
    for k in store.stored():
        if k.protocol is not Protocol.OPENPGP or not k.sightings:
            continue
        latest = max(k.sightings, key=lambda s: s.last_seen)
        t = plan.target(latest.source, latest.where, latest.address)
        material = store.material(k.protocol, k.fingerprint)
        if t is None or material is None:
            why = "no stored material" if material is None else "its source cannot be asked"
            skipped.append(
                Result(k.fingerprint, latest.address, latest.source, latest.where, "skipped", why)
            )
            continue
        todo.append(Item(k, t, material))
    return todo, skipped


def fetch(item: Item, ctx: Context, timeout: float) -> Fetched:
    """Ask the item's source for its key again; only that key's blocks are kept."""
    fpr = item.key.fingerprint
    if item.target.method in (keyserver.VKS, keyserver.HKPS):
        from e2email.services.discovery import vks

        req = plan.by_fingerprint(item.target, fpr)
        answer = vks.fetch(ctx, req, timeout)
        if isinstance(answer, Outcome):
            return Fetched(item, failure=_reason(answer), where=req.url)
        blocks, dropped = keyserver.same_key(answer.body, fpr)
        failure = None if blocks else ("other-key" if "other-key" in dropped else "empty")
        failure = failure if blocks or not dropped or failure == "other-key" else dropped[0]
        return Fetched(item, tuple(blocks), tuple(dropped), failure, req.url)
    return _by_address(item, ctx, timeout)


def _reason(o: Outcome) -> str:
    return o.rejected[0].reason if o.rejected else "failed"


def _by_address(item: Item, ctx: Context, timeout: float) -> Fetched:
    """WKD, LDAP, DANE: the method's answer for the address, that key's blocks only."""
    from e2email.services.discovery import methods

    address = _split(item.target.address)
    fpr = item.key.fingerprint
    tasks = methods.tasks(item.target.method, address, ctx, [Protocol.OPENPGP])
    outcomes = [fn(timeout) for _, fn in tasks]
    found = [c.block for o in outcomes for c in o.candidates]
    blocks = tuple(b for b in found if b.fingerprint == fpr)
    dropped = tuple("other-key" for b in found if b.fingerprint != fpr)
    where = next((o.where for o in outcomes if o.where), item.target.method)
    if blocks:
        return Fetched(item, blocks, dropped, where=where)
    failure = "other-key" if dropped else (_reason(outcomes[0]) if outcomes else "not-found")
    return Fetched(item, (), dropped, failure=failure, where=where)


def _judge(fetched: Sequence[Fetched], ctx: Context) -> dict[str, pgpinspect.Inspected]:
    """The stored copies merged with what came back, judged by one scratch gpg (only the
    keys whose answer brought something new)."""
    data = b"".join(
        f.item.material + b"".join(b.to_bytes() for b in f.blocks)
        for f in fetched
        if f.blocks and novel(f)
    )
    if not data:
        return {}
    binary = ctx.settings.openpgp.gpg_binary
    return {i.key.fingerprint: i for i in pgpinspect.inspect(data, gpg_binary=binary)}


def _addresses(k: StoredKey) -> list[Address]:
    return [_split(a) for a in dict.fromkeys(s.address for s in k.sightings)]


def _problem(inspected: pgpinspect.Inspected, addresses: Sequence[Address]) -> str | None:
    """None if the key can still be used for one of its addresses, else the first reason."""
    problems = [inspected.problem(a) for a in addresses]
    return None if None in problems else problems[0]


Update = tuple[Key, str | None]  # a refreshed key for the store, and its problem


def novel(f: Fetched) -> bool:
    """True if the answer holds a packet for the key's addresses the stored copy lacks.

    Nothing new (the usual case): the stored copy and its judgement stand, gpg is not run.
    """
    keep = _any_of(_addresses(f.item.key))
    stored = {p.raw for b in pgpkeys.key_blocks(f.item.material) for p in b.packets}
    cut = [pgpkeys.keep_user_ids(b, keep) for b in f.blocks]
    return any(p.raw not in stored for b in cut if b is not None for p in b.packets)


def apply(f: Fetched, judged: dict[str, pgpinspect.Inspected]) -> tuple[Result, Update | None]:
    """What changed for one key, and the merged key to store (never another key)."""
    k = f.item.key
    where = f.where or f.item.target.name

    def result(status: str, reason: str | None = None) -> Result:
        return Result(k.fingerprint, f.item.target.address, f.item.target.method, where, status,
                      reason)  # fmt: skip

    other = "a different key was offered and ignored" if "other-key" in f.dropped else None
    if f.failure is not None:
        failed = "not-found" if f.failure == "not-found" else "failed"
        return result(failed, other or f.failure), None
    inspected = judged.get(k.fingerprint)
    if inspected is None and novel(f):
        return result("failed", "gpg did not accept the refreshed key"), None
    if inspected is None:  # nothing new: the stored copy and its judgement stand
        return result(k.problem or "unchanged", other), None
    return _merged(f, inspected, result, other)


def _merged(
    f: Fetched,
    inspected: pgpinspect.Inspected,
    result: Callable[..., Result],
    other: str | None,
) -> tuple[Result, Update | None]:
    k = f.item.key
    addresses = _addresses(k)
    keep = _any_of(addresses)
    blocks, _ = pgpkeys.filter_for(inspected.material, keep)
    if not blocks:
        return result("failed", "no user ID for its addresses is left"), None
    material = b"".join(b.to_bytes() for b in blocks)
    problem = _problem(inspected, addresses)
    uids = tuple(u for u in inspected.key.user_ids if keep(u))
    key = Key(Protocol.OPENPGP, k.fingerprint, f.item.target.method, uids,
              inspected.key.expires, material=material)  # fmt: skip
    changed = material != f.item.material or problem != k.problem
    status = problem or ("updated" if changed else "unchanged")
    return result(status, other), (key, problem)


def _any_of(addresses: Sequence[Address]) -> pgpkeys.KeyFilter:
    filters = [pgpkeys.address_filter(a) for a in addresses]
    return lambda uid: any(f(uid) for f in filters)


def refresh(
    rt: Runtime,
    *,
    spread: float = 0.0,
    progress: Progress | None = None,
    rng: random.Random | None = None,
) -> Report:
    """Refresh every stored OpenPGP key (see the module docstring)."""
    started = time.monotonic()
    store = store_for(rt.settings)
    todo, skipped = items(store)
    ctx = Context(rt.settings, rt.resolver, rt.tls_context, datetime.now(UTC))
    timeout = rt.settings.network.timeout
    report = Report(skipped=skipped)
    tick = _ticker(report, len(todo), progress)
    if spread > 0:
        _spread(todo, ctx, store, timeout, spread, rng or random.SystemRandom(), tick)
    else:
        _at_once(todo, ctx, store, timeout, tick)
    report.seconds = time.monotonic() - started
    return report


def _ticker(report: Report, total: int, progress: Progress | None) -> Callable[[Result], None]:
    def tick(r: Result) -> None:
        report.results.append(r)
        if progress is not None:
            progress(len(report.results), total, r)

    return tick


def _at_once(
    todo: list[Item], ctx: Context, store: KeyStore, timeout: float, tick: Callable[[Result], None]
) -> None:
    if not todo:
        return
    import concurrent.futures as cf

    with cf.ThreadPoolExecutor(max_workers=min(WORKERS, len(todo))) as pool:
        fetched = list(pool.map(lambda i: fetch(i, ctx, timeout), todo))
    judged = _judge(fetched, ctx)
    applied = [apply(f, judged) for f in fetched]
    store.refreshed([u for _, u in applied if u is not None], datetime.now(UTC))
    for r, _ in applied:
        tick(r)


def _spread(
    todo: list[Item],
    ctx: Context,
    store: KeyStore,
    timeout: float,
    spread: float,
    rng: random.Random,
    tick: Callable[[Result], None],
) -> None:
    start = time.monotonic()
    for offset, item in plan.schedule([(i.target.name, i) for i in todo], spread, rng):
        wait = start + offset - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        f = fetch(item, ctx, timeout)
        r, update = apply(f, _judge([f], ctx))
        store.refreshed([update] if update else [], datetime.now(UTC))  # at once
        tick(r)
