"""One long-lived gpg that decrypts message after message, for folder decryption.

Starting gpg costs more than decrypting a 4 KB message (performance.md), so a folder is not
decrypted one process per message: ``gpg --decrypt-files`` runs once per worker and reads
file names on stdin, one per line, reporting each file between ``FILE_START`` and ``FILE_DONE``
on the status channel. The ciphertext goes into a file of a private 0700 directory (in RAM
when ``$XDG_RUNTIME_DIR`` or /dev/shm exists, which is cheaper); the plaintext comes back
through a FIFO at the output name gpg derives (the name minus ``.asc``), so no plaintext is
ever written to a file system, and a decryption that fails its integrity check (security.md
item 3: ``BADMDC``, ``DECRYPTION_FAILED``, no MDC) is dropped from memory exactly like
``Gpg.decrypt`` drops it. Each stream is used by one thread at a time.

Workers decrypt concurrently through the same gpg-agent. When the agent fails for a reason
that is not the user's answer (out of secure memory, a dropped IPC connection, not running
yet), the message is tried again after a short pause rather than reported as failed; a
cancelled pinentry or a wrong passphrase is final at once.
"""

from __future__ import annotations

import os
import selectors
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import IO

from e2email.adapters.openpgp.gpg import (
    OFFLINE,
    Decrypted,
    Signature,
    check_integrity,
    signature_from,
    statuses,
)
from e2email.errors import ConfigError, CryptoError

TIMEOUT = 600.0  # gpg may be waiting for the user's pinentry
CHUNK = 1 << 16
RETRY_PAUSES = (0.1, 0.5)  # seconds before the second and third attempt
# libgpg-error codes (the low 16 bits of the status line's number) of agent failures that are
# not the user's answer: Timeout, No agent running, the IPC errors, and the system errors
# ECONNREFUSED, ECONNRESET, ENOMEM, EPIPE, ETIMEDOUT.
TRANSIENT = frozenset({62, 77, *range(257, 282), 32793, 32794, 32854, 32877, 32900})


class GpgStream:
    """A ``gpg --decrypt-files`` process fed one file name at a time."""

    def __init__(self, home: Path | None, binary: str = "gpg") -> None:
        self.home, self.binary = home, binary
        self._dir = Path(tempfile.mkdtemp(prefix="e2email-gpg-", dir=_memory_dir()))
        self._dir.chmod(0o700)
        self._proc: subprocess.Popen[bytes] | None = None
        self._status = b""
        self._count = 0
        self._lock = threading.Lock()

    def _argv(self, *command: str) -> list[str]:
        home = ["--homedir", str(self.home)] if self.home else []
        return [self.binary, *home, "--batch", "--no-tty", "--yes", "--status-fd", "1",
                *OFFLINE, *command]  # fmt: skip

    def _process(self) -> subprocess.Popen[bytes]:
        if self._proc is None or self._proc.poll() is not None:
            try:
                self._proc = subprocess.Popen(
                    self._argv("--decrypt-files"),
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.DEVNULL,
                )
            except OSError as e:
                raise ConfigError(f"cannot run gpg ({self.binary}): {e.strerror}") from None
            self._status = b""
        return self._proc

    def decrypt(self, data: bytes) -> Decrypted:
        """Decrypt and verify one message; plaintext only if integrity holds (security.md 3)."""
        plaintext, status = self._attempt(data)
        for pause in RETRY_PAUSES:
            if not transient_failure(status):
                break
            time.sleep(pause)
            plaintext, status = self._attempt(data)
        try:
            _check_key(status)
            check_integrity(status)
        except CryptoError:
            plaintext = b""
            raise
        return Decrypted(plaintext, signature_from(status))

    def _attempt(self, data: bytes) -> tuple[bytes, list[tuple[str, str]]]:
        with self._lock:
            self._count += 1
            source = self._dir / f"{self._count}.asc"
            fifo = self._dir / str(self._count)
            source.write_bytes(data)
            os.mkfifo(fifo, 0o600)
            try:
                plaintext, lines = self._run(source, fifo)
            finally:
                source.unlink(missing_ok=True)
                fifo.unlink(missing_ok=True)
        return plaintext, statuses(lines)

    def _run(self, source: Path, fifo: Path) -> tuple[bytes, str]:
        proc = self._process()
        if proc.stdin is None or proc.stdout is None:
            raise CryptoError("gpg started without its pipes")
        reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        try:
            try:
                proc.stdin.write(str(source).encode() + b"\n")
                proc.stdin.flush()
            except OSError:
                raise CryptoError("gpg exited unexpectedly") from None
            return self._collect(reader, proc.stdout)
        finally:
            os.close(reader)

    def _collect(self, reader: int, status: IO[bytes]) -> tuple[bytes, str]:
        """Read plaintext and status lines until gpg reports FILE_DONE for this file."""
        out = bytearray()
        with selectors.DefaultSelector() as sel:
            sel.register(reader, selectors.EVENT_READ, "data")
            sel.register(status, selectors.EVENT_READ, "status")
            while b"[GNUPG:] FILE_DONE" not in self._status:
                events = sel.select(TIMEOUT)
                if not events:
                    self._kill()
                    raise CryptoError("gpg did not finish decrypting in time")
                for key, _ in events:
                    if key.data == "data":
                        if not _read_into(reader, out):
                            sel.unregister(reader)
                    else:
                        self._read_status(status)
            _drain(reader, out)
        head, _, rest = self._status.partition(b"[GNUPG:] FILE_DONE")
        self._status = rest.partition(b"\n")[2]
        return bytes(out), head.decode("utf-8", "replace")

    def _read_status(self, status: IO[bytes]) -> None:
        chunk = os.read(status.fileno(), CHUNK)
        if not chunk:
            self._kill()
            raise CryptoError("gpg exited unexpectedly while decrypting")
        self._status += chunk

    def verify_detached(self, data: bytes, signature: bytes) -> Signature:
        """Check a detached signature (RFC 3156 5) over ``data``; the verdict as a value."""
        with self._lock:
            self._count += 1
            sig = self._dir / f"{self._count}.sig"
            sig.write_bytes(signature)
            try:
                proc = subprocess.run(
                    self._argv("--verify", str(sig), "-"),
                    input=data,
                    capture_output=True,
                    timeout=TIMEOUT,
                    check=False,
                )
            except (OSError, subprocess.TimeoutExpired) as e:
                raise CryptoError(f"gpg could not verify a signature: {e}") from None
            finally:
                sig.unlink(missing_ok=True)
        return signature_from(statuses(proc.stdout.decode("utf-8", "replace")))

    def _kill(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._proc = None

    def close(self) -> None:
        """Stop gpg and remove the private directory."""
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.stdin is not None:
                proc.stdin.close()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> GpgStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def pkdecrypt_code(status: list[tuple[str, str]]) -> str | None:
    """The libgpg-error code of a failed secret-key step ('gpg-error CODE' explains it)."""
    for k, v in status:
        if k == "ERROR" and v.startswith("pkdecrypt_failed"):
            return v.split()[-1]
    return None


def transient_failure(status: list[tuple[str, str]]) -> bool:
    """True if the secret-key step failed for a reason worth another try (see TRANSIENT)."""
    code = pkdecrypt_code(status)
    return code is not None and code.isdigit() and int(code) & 0xFFFF in TRANSIENT


def _check_key(status: list[tuple[str, str]]) -> None:
    """Say "not encrypted to you" rather than gpg's generic DECRYPTION_FAILED."""
    keys = {k for k, _ in status}
    if "DECRYPTION_OKAY" in keys or "DECRYPTION_KEY" in keys:
        return  # a key of ours opened it: whatever failed after that is gpg.check_integrity's
    if "NO_SECKEY" in keys:
        raise CryptoError("not encrypted to any secret key in your GnuPG home")
    code = pkdecrypt_code(status)
    if code is not None:
        raise CryptoError(
            f"gpg could not use your secret key (gpg error {code}; passphrase not given?)"
        )


def _memory_dir() -> str | None:
    """A RAM-backed directory for the (non-secret) ciphertext files, if there is one."""
    shm = "/dev/shm"  # noqa: S108 - only the parent of a mkdtemp (0700, unique) directory
    for candidate in (os.environ.get("XDG_RUNTIME_DIR"), shm):
        if candidate and os.path.isdir(candidate) and os.access(candidate, os.W_OK | os.X_OK):
            return candidate
    return None


def _drain(fd: int, out: bytearray) -> None:
    """Whatever gpg left in the FIFO before it reported FILE_DONE."""
    while True:
        try:
            chunk = os.read(fd, CHUNK)
        except BlockingIOError:
            return
        if not chunk:
            return
        out += chunk


def _read_into(fd: int, out: bytearray) -> bool:
    """Append what the FIFO holds; False once the writer closed (or never opened) it."""
    try:
        chunk = os.read(fd, CHUNK)
    except BlockingIOError:
        return True
    out += chunk
    return bool(chunk)
