"""GnuPG through python-gnupg, behind typed results.

python-gnupg reports outcomes as free-text status strings and keeps whatever gpg printed in
``result.data`` even when decryption failed. This adapter reads gpg's machine-readable
status lines itself and turns them into values and exceptions:

* integrity (security.md item 3): plaintext is returned only with ``DECRYPTION_OKAY`` and
  ``GOODMDC`` (or an AEAD mode) and without ``BADMDC``/``DECRYPTION_FAILED``; otherwise the
  buffer is dropped and ``IntegrityError`` raised. ``--ignore-mdc-error`` is never passed.
* gpg never reaches the network on our behalf (no auto-key-retrieve / auto-key-locate).
* OpenPGP compression is off unless asked for (it costs 17x throughput, see performance.md).
* No process is started before one is needed: python-gnupg's constructor runs
  ``gpg --list-config`` to learn the version; ours assumes GnuPG 2.1 or later (what cv25519
  keys need anyway) and asks gpg for its version only when ``version()`` is called.
"""

from __future__ import annotations

import fcntl
import logging
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from e2email.core.addresses import parse_mailbox
from e2email.errors import ConfigError, CryptoError, IntegrityError, MessageError
from e2email.model import Address

logging.getLogger("gnupg").setLevel(logging.ERROR)

OFFLINE = ["--no-auto-key-retrieve", "--auto-key-locate", "clear,nodefault"]
ASSUMED_VERSION = (2, 1)  # python-gnupg's switches for 2.1+ (--with-keygrip, import-show)
PIPE_BUFFER = 1 << 20  # python-gnupg's pump reads and writes this much at a time
VALIDITY_REASONS = {"r": "revoked", "e": "expired", "i": "invalid", "d": "disabled"}


@dataclass(frozen=True)
class PublicKey:
    """One OpenPGP key as gpg sees it, with what matters for choosing it."""

    fingerprint: str
    user_ids: tuple[str, ...]
    created: datetime | None
    expires: datetime | None
    validity: str
    capabilities: str
    secret: bool = False
    encryption_subkeys: tuple[str, ...] = ()  # validity field of each subkey with usage e

    @property
    def can_encrypt(self) -> bool:
        """gpg marks the usable capabilities of the whole key in upper case (DETAILS)."""
        return "E" in self.capabilities

    def problem(self) -> str | None:
        """Why the key cannot encrypt (``revoked``, ``expired``, ``no-encryption-subkey``).

        A key whose encryption subkeys all expired (or were revoked) says so: the owner can
        extend it, which is not true of a key that never had one.
        """
        if self.validity in VALIDITY_REASONS:
            return VALIDITY_REASONS[self.validity]
        if not self.can_encrypt:
            return subkey_problem(self.encryption_subkeys)
        return None

    def matches(self, address: Address) -> bool:
        """True if one user ID's address equals ``address`` (local part exact)."""
        for uid in self.user_ids:
            found = uid_address(uid)
            if found is not None and address.matches(found):
                return True
        return False


def subkey_problem(validities: Sequence[str]) -> str:
    """The reason for a key without a usable encryption subkey, from those it has (DETAILS)."""
    for code in ("e", "r"):
        if code in validities:
            return VALIDITY_REASONS[code]
    return "no-encryption-subkey"


@dataclass(frozen=True)
class Signature:
    """What a signature check found: ``good``, ``bad``, ``unknown-key``, ``expired-key``..."""

    status: str
    fingerprint: str | None = None
    user_id: str | None = None

    @property
    def good(self) -> bool:
        """A valid signature by a key that is known and not expired or revoked."""
        return self.status == "good"


NO_SIGNATURE = Signature("none")


@dataclass(frozen=True)
class Decrypted:
    """Plaintext that passed the integrity checks, and the signature status."""

    data: bytes
    signature: Signature
    key: str | None = None  # primary fingerprint of the key that decrypted (DECRYPTION_KEY)


def uid_address(uid: str) -> Address | None:
    """The mail address inside a user ID like ``Name <a@b>``, if it parses strictly."""
    try:
        return parse_mailbox(uid)[1]
    except MessageError:
        return None


def _timestamp(text: str) -> datetime | None:
    return datetime.fromtimestamp(int(text), tz=UTC) if text and text.isdigit() else None


def statuses(stderr: str) -> list[tuple[str, str]]:
    """The ``[GNUPG:] KEYWORD args`` lines of gpg's status output."""
    out = []
    for line in stderr.splitlines():
        if line.startswith("[GNUPG:] "):
            key, _, value = line[9:].partition(" ")
            out.append((key, value))
    return out


_SIG_STATUS = {
    "GOODSIG": "good",
    "BADSIG": "bad",
    "EXPSIG": "expired-signature",
    "EXPKEYSIG": "expired-key",
    "REVKEYSIG": "revoked-key",
    "ERRSIG": "unknown-key",
}


def signature_from(status: list[tuple[str, str]]) -> Signature:
    """Summarise the signature status lines (worst wins)."""
    found = NO_SIGNATURE
    fpr = None
    for key, value in status:
        if key == "VALIDSIG":
            fpr = value.split(" ")[-1] if len(value.split(" ")) >= 10 else value.split(" ")[0]
        elif key in _SIG_STATUS:
            parts = value.split(" ", 1)
            uid = parts[1] if key != "ERRSIG" and len(parts) > 1 else None
            sig = Signature(_SIG_STATUS[key], None, uid)
            if found.status in ("none", "good"):
                found = sig
    if found.status == "good" and fpr:
        found = Signature("good", fpr, found.user_id)
    return found


def decryption_key(status: list[tuple[str, str]]) -> str | None:
    """The primary fingerprint from ``DECRYPTION_KEY <fpr> <fpr2> <otrust>`` (DETAILS)."""
    for key, value in status:
        parts = value.split()
        if key == "DECRYPTION_KEY" and len(parts) >= 2:
            return parts[1].upper()
    return None


def check_integrity(status: list[tuple[str, str]]) -> None:
    """Raise IntegrityError unless gpg confirmed an intact, integrity-protected decryption."""
    keys = {k for k, _ in status}
    if "BADMDC" in keys or "DECRYPTION_FAILED" in keys:
        raise IntegrityError("decryption failed integrity check; no plaintext released")
    if "NO_SECKEY" in keys and "DECRYPTION_OKAY" not in keys:
        raise CryptoError("no secret key to decrypt this message")
    aead = any(
        k == "DECRYPTION_INFO" and len(v.split()) > 2 and v.split()[2] != "0" for k, v in status
    )
    if "DECRYPTION_OKAY" not in keys:
        raise IntegrityError("decryption did not complete; no plaintext released")
    if "GOODMDC" not in keys and not aead:
        raise IntegrityError("message is not integrity protected (no MDC); no plaintext released")


class Gpg:
    """A GnuPG home. Methods raise E2emailError subclasses, never python-gnupg's types."""

    def __init__(self, home: Path | None, binary: str = "gpg") -> None:
        self.home = home
        self.binary = binary
        self._gpg: Any = None

    def _impl(self) -> Any:
        if self._gpg is None:
            if self.home is not None and not self.home.is_dir():
                raise ConfigError(f"cannot run gpg ({self.binary}): no GnuPG home {self.home}")
            self._gpg = client(self.binary, self.home)
        return self._gpg

    def version(self) -> str:
        """gpg's version as a dotted string (runs ``gpg --version``)."""
        import subprocess

        try:
            out = subprocess.run(
                [self.binary, "--version"], capture_output=True, check=True, timeout=30
            ).stdout.decode("utf-8", "replace")
        except (OSError, subprocess.SubprocessError) as e:
            raise ConfigError(f"cannot run gpg ({self.binary}): {e}") from None
        words = out.split("\n", 1)[0].split()
        if not words or not words[-1][:1].isdigit():
            raise ConfigError(f"cannot run gpg ({self.binary}): unexpected --version output")
        return words[-1]

    def keys(
        self, pattern: str | list[str] | None = None, *, secret: bool = False
    ) -> list[PublicKey]:
        """Keys matching a gpg search pattern (``<addr>`` matches the mail address exactly)."""
        raw = self._impl().list_keys(secret=secret, keys=pattern)
        return [self._key(k, secret) for k in raw]

    @staticmethod
    def _key(k: dict[str, Any], secret: bool) -> PublicKey:
        return PublicKey(
            fingerprint=k["fingerprint"],
            user_ids=tuple(k.get("uids", ())),
            created=_timestamp(k.get("date", "")),
            expires=_timestamp(k.get("expires", "")),
            validity=k.get("trust", "") or "",
            capabilities=k.get("cap", "") or "",
            secret=secret,
            encryption_subkeys=_encryption_subkeys(k),
        )

    def keys_for(self, address: Address) -> list[PublicKey]:
        """Keys with a user ID for exactly ``address``, usable or not."""
        return [k for k in self.keys(f"<{address}>") if k.matches(address)]

    def secret_key_for(self, address: Address) -> PublicKey | None:
        """The newest usable signing key with a user ID for ``address``."""
        usable = [
            k
            for k in self.keys(f"<{address}>", secret=True)
            if k.matches(address) and k.validity not in VALIDITY_REASONS
        ]
        usable.sort(key=lambda k: k.created or datetime.min.replace(tzinfo=UTC), reverse=True)
        return usable[0] if usable else None

    def encrypt(
        self,
        data: bytes,
        recipients: list[str],
        *,
        sign_with: str | None = None,
        hidden: bool = False,
    ) -> bytes:
        """Encrypt (and sign, in one pass) to the given fingerprints; armored output."""
        args = [*OFFLINE, "--compress-algo", "none"]
        if hidden:
            args.append("--throw-keyids")
        result = self._impl().encrypt(
            data, recipients, armor=True, always_trust=True, sign=sign_with, extra_args=args
        )
        status = statuses(getattr(result, "stderr", "") or "")
        if not result.ok or not any(k == "END_ENCRYPTION" for k, _ in status):
            raise CryptoError(f"gpg could not encrypt: {_reason(result, status)}")
        if sign_with and not any(k == "SIG_CREATED" for k, _ in status):
            raise CryptoError(f"gpg could not sign with {sign_with}: {_reason(result, status)}")
        return bytes(result.data)

    def encrypt_stream(
        self,
        source: BinaryIO,
        recipients: list[str],
        output: Callable[[bytes], object],
        *,
        sign_with: str | None = None,
        extra_keys: Sequence[bytes] = (),
        armor: bool = True,
    ) -> None:
        """Encrypt (and sign) a stream, handing the output to ``output`` chunk by chunk.

        Neither side is ever whole in memory: the source is pumped into gpg while its output
        is read and passed on. ``armor`` False gives the binary packets (the caller armors:
        gpg's own armor costs it three times its encryption). ``extra_keys`` (OpenPGP key
        material found by discovery) are usable as recipients for this call only: they go
        into a throwaway keyring, never the user's.
        """
        args = [*OFFLINE, "--compress-algo", "none"]
        impl = self._impl()
        with tempfile.TemporaryDirectory(prefix="e2email-keys-") as tmp:
            if extra_keys:
                args += self._throwaway_keyring(Path(tmp), extra_keys)
            impl.on_data = _passing_on(output)
            try:
                result = impl.encrypt_file(
                    source, recipients, armor=armor, always_trust=True, sign=sign_with,
                    extra_args=args,
                )  # fmt: skip
            finally:
                impl.on_data = None
        failure = getattr(result, "on_data_failure", None)
        if failure is not None:
            raise failure
        status = statuses(getattr(result, "stderr", "") or "")
        if not any(k == "END_ENCRYPTION" for k, _ in status):
            raise CryptoError(f"gpg could not encrypt: {_reason(result, status)}")
        if sign_with and not any(k == "SIG_CREATED" for k, _ in status):
            raise CryptoError(f"gpg could not sign with {sign_with}: {_reason(result, status)}")

    def _throwaway_keyring(self, directory: Path, keys: Sequence[bytes]) -> list[str]:
        ring = directory / "recipients.kbx"
        scope = ["--no-default-keyring", "--keyring", str(ring)]
        for data in keys:
            if not self._impl().import_keys(data, extra_args=scope).fingerprints:
                raise CryptoError("gpg could not read a recipient key found by discovery")
        return ["--keyring", str(ring)]

    def sign_detached_stream(self, source: BinaryIO, signer: str) -> bytes:
        """An armored detached signature over a stream (RFC 3156 5), SHA-256."""
        result = self._impl().sign_file(
            source,
            keyid=signer,
            detach=True,
            clearsign=False,
            binary=False,
            extra_args=[*OFFLINE, "--digest-algo", "SHA256"],
        )
        status = statuses(getattr(result, "stderr", "") or "")
        if not any(k == "SIG_CREATED" for k, _ in status):
            raise CryptoError(f"gpg could not sign with {signer}: {_reason(result, status)}")
        return bytes(result.data)

    def decrypt(self, data: bytes) -> Decrypted:
        """Decrypt and verify; release plaintext only if integrity holds (security.md 3)."""
        result = self._impl().decrypt(data, extra_args=OFFLINE)
        status = statuses(getattr(result, "stderr", "") or "")
        try:
            check_integrity(status)
        except CryptoError:
            result.data = b""
            raise
        return Decrypted(bytes(result.data), signature_from(status), decryption_key(status))

    def export_minimal(self, fingerprint: str, address: Address) -> bytes:
        """The key ``fingerprint``, armored, minimal, with only ``address``'s user IDs.

        What a Web Key Service is sent (``export-minimal`` keeps the newest self-signature
        of each user ID; ``keep-uid`` drops the others, as gpg-wks-client does).
        """
        import subprocess

        cmd = [self.binary, *(["--homedir", str(self.home)] if self.home else [])]
        cmd += ["--batch", "--no-tty", "--armor", "--export-options", "export-minimal"]
        cmd += ["--export-filter", f"keep-uid=mbox = {address}", "--export", fingerprint]
        try:
            done = subprocess.run(cmd, capture_output=True, timeout=60, check=False)
        except (OSError, subprocess.SubprocessError) as e:
            raise ConfigError(f"cannot run gpg ({self.binary}): {e}") from None
        if done.returncode != 0 or b"BEGIN PGP PUBLIC KEY BLOCK" not in done.stdout:
            why = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no key"]
            raise CryptoError(f"gpg could not export {fingerprint} for {address}: {why[0]}")
        return done.stdout

    def import_keys(self, data: bytes) -> list[str]:
        """Import keys; return the fingerprints gpg reported."""
        result = self._impl().import_keys(data)
        return [f for f in (result.fingerprints or []) if f]


def _passing_on(output: Callable[[bytes], object]) -> Callable[[bytes], bool]:
    """python-gnupg's ``on_data``: pass each chunk on and keep none (False)."""

    def on_data(chunk: bytes) -> bool:
        if chunk:
            output(chunk)
        return False

    return on_data


def _widen(*pipes: Any) -> None:
    """Grow pipes to PIPE_BUFFER (Linux): fewer wake-ups per megabyte between us and gpg."""
    setsize = getattr(fcntl, "F_SETPIPE_SZ", None)
    for pipe in pipes:
        if setsize is None or pipe is None:
            return
        try:
            fcntl.fcntl(pipe.fileno(), setsize, PIPE_BUFFER)
        except OSError:  # above /proc/sys/fs/pipe-max-size: keep the default
            return


def client(binary: str, home: Path | None) -> Any:
    """A python-gnupg ``GPG`` built without running gpg (see the module docstring)."""
    import gnupg

    class Client(gnupg.GPG):  # type: ignore[misc]
        def __init__(self) -> None:  # the attributes GPG.__init__ sets, minus its gpg run
            self.gpgbinary = binary
            self.gnupghome = str(home) if home else None
            self.env = None
            self.keyring = self.secret_keyring = self.options = None
            self.verbose = self.use_agent = False
            self.on_data = None
            self.encoding = "utf-8"
            self.version = ASSUMED_VERSION
            self.check_fingerprint_collisions = False
            self.buffer_size = PIPE_BUFFER

        def _open_subprocess(self, args: Any, passphrase: bool = False) -> Any:
            try:
                proc = super()._open_subprocess(args, passphrase)
            except OSError as e:
                raise ConfigError(f"cannot run gpg ({binary}): {e.strerror or e}") from None
            _widen(proc.stdin, proc.stdout)
            return proc

    return Client()


def _reason(result: Any, status: list[tuple[str, str]]) -> str:
    for key, value in status:
        if key in ("INV_RECP", "INV_SGNR", "FAILURE", "KEYEXPIRED", "NO_PUBKEY", "NO_SECKEY"):
            return f"{key} {value}".strip()
    return str(getattr(result, "status", "") or "unknown error")


def _encryption_subkeys(k: dict[str, Any]) -> tuple[str, ...]:
    """The validity of each subkey python-gnupg listed with the encrypt usage."""
    info = k.get("subkey_info") or {}
    return tuple(
        str(info.get(sub[0], {}).get("trust", "") or "")
        for sub in k.get("subkeys") or ()
        if len(sub) > 1 and "e" in str(sub[1]).lower()
    )
