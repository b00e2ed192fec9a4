"""A local Maildir (the maildir(5) layout Dovecot, mutt and notmuch read) as a write target.

Each message is written to ``tmp/``, fsynced, renamed into ``cur/`` with its flags in the
``:2,`` info suffix, and the directory fsynced: a crash leaves either no message or a whole
one (never a partial file in ``cur/``). The file name carries the original's SHA-256, which is
how a second run finds the copies e2email made (and reads their headers). The file's mtime is the original's
INTERNALDATE (Dovecot reads it as the received date). Files and directories are private (0600,
0700): they hold decrypted mail.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from e2email.errors import ConfigError, TemporaryFailure

_FLAGS = {"\\draft": "D", "\\flagged": "F", "\\answered": "R", "\\seen": "S", "\\deleted": "T"}
_NAME = re.compile(r"\.e2email-([0-9a-f]{64})\.")


def info_suffix(flags: Sequence[str]) -> str:
    """The maildir info for IMAP system flags (keywords have no place in a plain Maildir)."""
    letters = sorted({_FLAGS[f.lower()] for f in flags if f.lower() in _FLAGS})
    return ":2," + "".join(letters)


class Maildir:
    """A Maildir at ``path``, created (0700) when missing."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
            for sub in ("tmp", "new", "cur"):
                (path / sub).mkdir(mode=0o700, exist_ok=True)
        except OSError as e:
            raise ConfigError(f"--to-maildir: cannot create {path}: {e.strerror}") from None
        self._host = re.sub(r"[^A-Za-z0-9.-]", "_", socket.gethostname()) or "localhost"

    def deliver(self, raw: bytes, sha256: str, flags: Sequence[str], date: datetime | None) -> Path:
        """Write one message durably; return its path in ``cur/``."""
        stamp = int(date.timestamp()) if date else 0
        base = f"{stamp}.e2email-{sha256}.{self._host}"
        tmp = self.path / "tmp" / base
        final = self.path / "cur" / (base + info_suffix(flags))
        data = raw.replace(b"\r\n", b"\n")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
            if date is not None:
                os.utime(tmp, (date.timestamp(), date.timestamp()))
            os.rename(tmp, final)
            _fsync_dir(self.path / "cur")
        except OSError as e:
            raise TemporaryFailure(
                f"cannot write to the Maildir {self.path}: {e.strerror}"
            ) from None
        return final


def delivered_headers(path: Path) -> list[bytes]:
    """The header sections of the copies e2email delivered to the Maildir at ``path`` (found
    by file name); none when it does not exist yet. Creates nothing."""
    found: list[bytes] = []
    for sub in ("new", "cur"):
        try:
            names = os.listdir(path / sub)
        except FileNotFoundError:
            continue
        except OSError as e:
            raise ConfigError(f"--to-maildir: cannot read {path / sub}: {e.strerror}") from None
        for name in names:
            if _NAME.search(name):
                with contextlib.suppress(FileNotFoundError):  # removed since the listing
                    found.append(_head(path / sub / name))
    return found


def _head(path: Path) -> bytes:
    """The header section of a message file (LF or CRLF), in CRLF form."""
    with path.open("rb") as f:
        data = f.read(65536)
    head = data.replace(b"\r\n", b"\n").split(b"\n\n", 1)[0]
    return head.replace(b"\n", b"\r\n")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
