"""The local method: the user's gpg keyring, and the S/MIME certificates folder (``smime.certificates_dir``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from e2email.adapters.openpgp.gpg import Gpg, PublicKey
from e2email.model import Address, Key, Protocol, Rejection

if TYPE_CHECKING:
    from e2email.services.discovery.judge import Context, Outcome

# The certificates folder needs cryptography and the judging code: loaded only when used.


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


def local_smime(address: Address, ctx: Context) -> Outcome:
    """Certificates in ``smime.certificates_dir`` whose SAN names the address."""
    from e2email.services.discovery.judge import Outcome, judge_certificates

    directory = ctx.settings.smime.certificates_dir
    if directory is None or not directory.is_dir():
        return Outcome()
    blobs = []
    for path in sorted(directory.iterdir()):
        if path.suffix.lower() in (".pem", ".crt", ".cer", ".der", ".p7c", ".p7b"):
            try:
                blobs.append(path.read_bytes())
            except OSError:
                continue
    found = judge_certificates(blobs, address, "local", ctx)
    if found.rejected and found.rejected[-1].reason == "address-mismatch":
        found = Outcome(found.keys, found.rejected[:-1])  # other people's certificates
    return found
