"""Judge OpenPGP keys found on the network with gpg, in a throwaway home.

A key from WKD, LDAP or DNS is never imported into the user's keyring. gpg checks its
signatures, expiry, revocation and subkeys in a fresh ``GNUPGHOME`` that is removed right
after; gpg is run with ``--no-autostart`` so no agent is left behind. What gpg keeps after
import (it drops user IDs without a valid self-signature) is exported again: those bytes are
what e2email stores and later encrypts to (``--recipient-file``).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from e2email.adapters.openpgp.gpg import VALIDITY_REASONS, PublicKey
from e2email.core import pgpkeys
from e2email.errors import ConfigError
from e2email.model import Address

_BASE = ["--batch", "--no-tty", "--no-options", "--no-autostart", "--no-auto-key-retrieve"]


@dataclass(frozen=True)
class Inspected:
    """One key as gpg judged it, with the validity of each user ID and its exported bytes."""

    key: PublicKey
    uid_validity: tuple[str, ...]
    material: bytes

    def problem(self, address: Address | None = None) -> str | None:
        """Why the key cannot be encrypted to (for ``address``), or None (security.md 12)."""
        problem = self.key.problem()
        if problem is not None:
            return problem
        pairs = zip(self.uid_validity, self.key.user_ids, strict=False)
        mine = pgpkeys.address_filter(address) if address else None
        validity = [v for v, u in pairs if mine is None or mine(u)]
        if not validity:
            return "uid-mismatch"
        if all(v in VALIDITY_REASONS for v in validity):
            return "uid-revoked"
        return None


def inspect(data: bytes, *, gpg_binary: str = "gpg", timeout: float = 10.0) -> list[Inspected]:
    """Import ``data`` into a throwaway home; every key gpg accepted, as gpg sees it."""
    home = Path(tempfile.mkdtemp(prefix="e2d-", dir="/tmp"))
    try:
        home.chmod(0o700)
        run = _Scratch(gpg_binary, home, timeout)
        run("--import", data=data)
        keys = parse_colons(run("--with-colons", "--fixed-list-mode", "--list-keys").decode())
        exported = {b.fingerprint: b.to_bytes() for b in pgpkeys.key_blocks(run("--export"))}
        return [Inspected(key, uids, exported.get(key.fingerprint, b"")) for key, uids in keys]
    finally:
        shutil.rmtree(home, ignore_errors=True)


@dataclass(frozen=True)
class _Scratch:
    binary: str
    home: Path
    timeout: float

    def __call__(self, *args: str, data: bytes | None = None) -> bytes:
        cmd = [self.binary, "--homedir", str(self.home), *_BASE, *args]
        try:
            done = subprocess.run(
                cmd, input=data, capture_output=True, timeout=self.timeout, check=False
            )
        except FileNotFoundError:
            raise ConfigError(f"cannot run gpg ({self.binary}): not found") from None
        except subprocess.TimeoutExpired:
            raise ConfigError(f"gpg did not finish within {self.timeout:g} s") from None
        return done.stdout


def parse_colons(text: str) -> list[tuple[PublicKey, tuple[str, ...]]]:
    """Keys from ``gpg --with-colons --fixed-list-mode`` output (GnuPG doc/DETAILS)."""
    out: list[tuple[PublicKey, tuple[str, ...]]] = []
    pub: list[str] | None = None
    fpr = ""
    uids: list[tuple[str, str]] = []
    subs: list[str] = []  # validity of each encryption subkey

    def flush() -> None:
        if pub is not None and fpr:
            out.append((_key(pub, fpr, uids, subs), tuple(v for v, _ in uids)))

    for line in text.splitlines():
        f = line.split(":")
        f += [""] * (12 - len(f))  # short records: fields gpg did not print are empty
        if f[0] == "pub":
            flush()
            pub, fpr, uids, subs = f, "", [], []
        elif f[0] == "fpr" and pub is not None and not fpr:
            fpr = f[9]
        elif f[0] == "uid" and pub is not None:
            uids.append((f[1], _unescape(f[9])))
        elif f[0] == "sub" and pub is not None and len(f) > 11 and "e" in f[11].lower():
            subs.append(f[1])
    flush()
    return out


def _key(pub: list[str], fpr: str, uids: list[tuple[str, str]], subs: list[str]) -> PublicKey:
    return PublicKey(
        fingerprint=fpr,
        user_ids=tuple(u for _, u in uids),
        created=_time(pub[5]),
        expires=_time(pub[6]),
        validity=pub[1],
        capabilities=pub[11],
        encryption_subkeys=tuple(subs),
    )


def _time(text: str) -> datetime | None:
    if not (text.isascii() and text.isdigit()):
        return None
    try:
        return datetime.fromtimestamp(int(text), tz=UTC)
    except (OverflowError, ValueError, OSError):  # beyond what the platform's time_t holds
        return None


def _unescape(text: str) -> str:
    """Colon listings escape ``:`` and control bytes as ``\\xNN`` (DETAILS, field 10)."""
    raw = text.encode("utf-8", errors="surrogateescape")
    out = bytearray()
    i = 0
    while i < len(raw):
        if raw[i : i + 2] == b"\\x" and i + 4 <= len(raw):
            try:
                out.append(int(raw[i + 2 : i + 4], 16))
                i += 4
                continue
            except ValueError:
                pass
        out.append(raw[i])
        i += 1
    return out.decode("utf-8", errors="replace")
