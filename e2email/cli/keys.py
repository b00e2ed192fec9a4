"""``e2email keys``: locate, list, forget, accept: key discovery and e2email's own key store."""

from __future__ import annotations

import sys
from typing import Any

import click

from e2email.cli.common import runtime
from e2email.cli.output import STATE, print_json
from e2email.core.addresses import parse_recipient_argument
from e2email.errors import EX_NOUSER
from e2email.model import Address, Key, Protocol, Rejection
from e2email.services.discovery.discover import Found


@click.group("keys")
def keys_group() -> None:
    """Find recipients' keys and manage the keys e2email found on the network.

    Keys found through WKD, LDAP or DNS are kept in e2email's own store (never imported into
    your keyring), with where and when they were found. The key a message is first SENT with
    is pinned for the address (looking keys up pins nothing); a different key later stops
    sending to that address until you run `e2email keys accept` (or, with
    discovery.key_change = "warn", is used with one warning and pinned). See
    docs/discovery.md.
    """


@keys_group.command("locate")
@click.argument("addresses", nargs=-1, required=True, metavar="ADDR...")
@click.option(
    "--protocol",
    type=click.Choice(["openpgp", "smime"]),
    help="Only this kind of key [default: both].",
)
@click.option("--no-cache", is_flag=True, help="Ask the network again even if an answer is cached.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per address (contract.md).")
@click.pass_context
def locate_command(
    ctx: click.Context,
    addresses: tuple[str, ...],
    protocol: str | None,
    no_cache: bool,
    as_json: bool,
) -> None:
    """Run key discovery for ADDR... and show what was found, where, and what was rejected.

    The methods run in the order of `discovery.methods` (default: local, wkd, ldap). Nothing
    is pinned by a lookup: a key that differs from the pinned one is shown with
    "key-changed". Exit status 67 when some address has no usable key.

    \b
    Examples:
      e2email keys locate bob@example.org
      e2email keys locate --json --protocol openpgp bob@example.org carol@example.net
    """
    from e2email.services.discovery import discover

    wanted = [parse_recipient_argument(a) for a in addresses]
    protocols = [Protocol(protocol)] if protocol else [Protocol.OPENPGP, Protocol.SMIME]
    found = discover.discover(runtime(ctx), wanted, protocols=protocols, use_cache=not no_cache)
    results = [found[a] for a in dict.fromkeys(wanted)]
    if as_json:
        print_json([found_json(f) for f in results])
    else:
        for f in results:
            _print_found(f)
    if any(f.key is None for f in results):
        sys.exit(EX_NOUSER)


def key_json(k: Key) -> dict[str, Any]:
    """A key as contract.md's ``keys locate --json`` shows it (plus origin and warning)."""
    return {
        "protocol": k.protocol.value,
        "fingerprint": k.fingerprint,
        "source": k.source,
        "origin": k.origin or k.source,
        "user_ids": list(k.user_ids),
        "expires": k.expires.isoformat() if k.expires else None,
        "found_at": k.found_at.isoformat() if k.found_at else None,
        "warning": k.warning,
    }


def rejection_json(r: Rejection) -> dict[str, Any]:
    """A rejected candidate: where it came from and why."""
    return {"source": r.source, "reason": r.reason, "fingerprint": r.fingerprint}


def found_json(f: Found) -> dict[str, Any]:
    """One address's answer: ``{address, keys, rejected}``."""
    return {
        "address": str(f.address),
        "keys": [key_json(k) for k in f.keys],
        "rejected": [rejection_json(r) for r in f.rejected],
    }


def _print_found(f: Found) -> None:
    STATE.info(f"{f.address}:")
    for k in f.keys:
        origin = f" (from {k.origin})" if k.origin and k.origin != k.source else ""
        expires = f", expires {k.expires:%Y-%m-%d}" if k.expires else ""
        STATE.info(f"  {k.protocol.value} {k.fingerprint}  {k.source}{origin}{expires}")
        for uid in k.user_ids:
            STATE.info(f"      {uid}")
        if k.warning:
            STATE.info(f"      WARNING {k.warning}")
    if not f.keys:
        STATE.info("  no usable key")
    for r in f.rejected:
        which = f" {r.fingerprint}" if r.fingerprint else ""
        STATE.info(f"  rejected{which} from {r.source}: {r.reason}{_why(r.reason)}")


_WHY = {
    "unverified-keyserver": " (an HKPS keyserver serves any user ID anyone uploaded; to "
    'encrypt to its keys anyway, set trust = "unverified" on that [[discovery.keyserver]])',
}


def _why(reason: str) -> str:
    return _WHY.get(reason, "")


@keys_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the store as JSON.")
@click.pass_context
def list_command(ctx: click.Context, as_json: bool) -> None:
    """List the keys in e2email's own store, where each was found, and the pinned keys."""
    from e2email.services.discovery import discover

    store = discover.store_for(runtime(ctx).settings)
    stored, pins = store.stored(), store.pins()
    if as_json:
        print_json(
            {
                "keys": [
                    {
                        "protocol": k.protocol.value,
                        "fingerprint": k.fingerprint,
                        "user_ids": list(k.user_ids),
                        "expires": k.expires,
                        "problem": k.problem,  # what `keys refresh` found: revoked...
                        "sightings": [s.__dict__ for s in k.sightings],
                    }
                    for k in stored
                ],
                "pins": [{**p.__dict__, "protocol": p.protocol.value} for p in pins],
            }
        )
        return
    for k in stored:
        problem = f"  {k.problem.upper()} (keys refresh)" if k.problem else ""
        STATE.info(f"{k.protocol.value} {k.fingerprint}{problem}")
        for s in k.sightings:
            STATE.info(f"    {s.address} via {s.source} {s.where} (first {s.first_seen})")
    for p in pins:
        was = f" (replacing {p.previous})" if p.previous else ""
        STATE.info(f"pinned {p.address} {p.protocol.value} {p.fingerprint} since {p.since}{was}")
    if not stored and not pins:
        STATE.info(f"the store is empty ({store.store_dir})")


@keys_group.command("forget")
@click.argument("addresses", nargs=-1, required=True, metavar="ADDR...")
@click.pass_context
def forget_command(ctx: click.Context, addresses: tuple[str, ...]) -> None:
    """Forget what e2email learnt about ADDR...: cached answers, pins and stored sightings.

    The next lookup asks the network again and pins whatever key it then finds.
    """
    from e2email.services.discovery import discover

    store = discover.store_for(runtime(ctx).settings)
    for text in addresses:
        address = parse_recipient_argument(text)
        count = store.forget(str(address))
        STATE.info(f"{address}: forgot {count} entr{'y' if count == 1 else 'ies'}")


@keys_group.command("accept")
@click.argument("address", metavar="ADDR")
@click.argument("fingerprint", metavar="FINGERPRINT")
@click.pass_context
def accept_command(ctx: click.Context, address: str, fingerprint: str) -> None:
    """Trust FINGERPRINT for ADDR from now on (after a key change, or before a first send).

    The key must be one discovery has already found for ADDR (see `e2email keys locate`).
    Check it with the recipient over another channel first.
    """
    from e2email.services.discovery import discover

    addr: Address = parse_recipient_argument(address)
    key = discover.accept(runtime(ctx), addr, fingerprint)
    STATE.info(f"{addr}: now pinned to {key.protocol.value} {key.fingerprint}")


# keys refresh, keys publish (cli/keys_remote.py)
from e2email.cli.keys_remote import refresh_command  # noqa: E402

keys_group.add_command(refresh_command)
from e2email.cli.keys_remote import publish_command  # noqa: E402

keys_group.add_command(publish_command)
