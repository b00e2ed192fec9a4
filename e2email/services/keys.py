"""Finding a recipient's key. For now the local gpg keyring; discovery methods plug in here."""

from __future__ import annotations

from datetime import UTC, datetime

from e2email.adapters.gpg import Gpg, PublicKey
from e2email.model import Address, Key, Protocol, Rejection


def _as_key(k: PublicKey, source: str) -> Key:
    return Key(Protocol.OPENPGP, k.fingerprint, source, k.user_ids, k.expires)


def local_openpgp(gpg: Gpg, address: Address) -> tuple[Key | None, tuple[Rejection, ...]]:
    """The newest usable key in the keyring with a user ID for exactly ``address``."""
    usable: list[PublicKey] = []
    rejected: list[Rejection] = []
    for k in gpg.keys_for(address):
        problem = k.problem()
        if problem is None:
            usable.append(k)
        else:
            rejected.append(Rejection("local", problem, k.fingerprint))
    if not usable:
        return None, tuple(rejected)
    usable.sort(key=lambda k: k.created or datetime.min.replace(tzinfo=UTC), reverse=True)
    return _as_key(usable[0], "local"), tuple(rejected)
