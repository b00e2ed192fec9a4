"""The outbox: transactions that could not be submitted yet, stored so that none is lost.

Layout under the outbox directory (0700, files 0600)::

    tmp/ID.tmp        being written; a writer holds flock(2) on it until it is renamed
    queue/ID.msg      ready: one SMTP transaction, envelope record + the exact bytes to send
    queue/ID.status   attempts and the last error (advisory; losing it loses nothing)
    failed/ID.msg     refused for good (5xx); kept until ``queue drop``, with ID.status

An entry file is ``E2EMAIL-OUTBOX 1\\n``, one line of JSON (the envelope, the size and SHA-256
of the data), then the data: the message exactly as it will be sent, already encrypted.

Durability (security.md item 8): the file is written in ``tmp/``, fsync'ed, renamed into
``queue/`` and the directory fsync'ed before ``add()`` returns, so a kill -9 at any moment
leaves either no entry or a complete one. Exactly once: a sender takes ``flock`` on the entry
(``claim()``), checks it is still the file at that path, and unlinks it only after the server
accepted it, still holding the lock; a second flusher skips a locked or vanished entry. A crash
between the server's "250" and the unlink can send that one message twice (SMTP offers no way
to ask); it can never drop one.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from e2email.adapters.spool import Spool
from e2email.errors import ConfigError, InternalError, TemporaryFailure, UsageError

MAGIC = b"E2EMAIL-OUTBOX 1\n"
ID_RE = re.compile(r"[0-9]{8}-[0-9]{6}-[0-9a-f]{8}")
MAX_HEADER = 1 << 20
STALE_STATUS = 3600.0


@dataclass(frozen=True)
class Envelope:
    """Everything needed to replay one transaction: account, MAIL FROM, RCPT TO, flags."""

    account: str
    sender: str
    recipients: tuple[str, ...]
    utf8: bool = False
    require_tls: bool = False
    prefer_require_tls: bool = False
    message_id: str | None = None
    created: float = 0.0


@dataclass(frozen=True)
class Status:
    """What happened on earlier attempts."""

    attempts: int = 0
    last_attempt: float | None = None
    last_error: str | None = None


@dataclass(frozen=True)
class Entry:
    """One stored transaction as ``queue list`` shows it."""

    id: str
    envelope: Envelope
    size: int
    status: Status
    failed: bool = False


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _new_id(now: float) -> str:
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime(now)) + "-" + secrets.token_hex(4)


def check_id(entry_id: str) -> str:
    """Refuse anything that is not an outbox ID (it becomes part of a path)."""
    if not ID_RE.fullmatch(entry_id):
        raise UsageError(f"not an outbox ID: {entry_id!r} (see 'e2email queue list')")
    return entry_id


def header(envelope: Envelope, size: int, sha256: str) -> bytes:
    """The entry file's magic line and envelope record; the data follows."""
    record = asdict(envelope) | {"size": size, "sha256": sha256}
    return MAGIC + json.dumps(record, sort_keys=True).encode() + b"\n"


def encode(envelope: Envelope, data: bytes) -> bytes:
    """The entry file's bytes."""
    return header(envelope, len(data), hashlib.sha256(data).hexdigest()) + data


def _parse_header(head: bytes, where: str) -> tuple[Envelope, int, str, int]:
    """(envelope, data size, data SHA-256, offset of the data) from an entry's first bytes."""
    if not head.startswith(MAGIC):
        raise InternalError(f"{where}: not an outbox entry")
    end = head.find(b"\n", len(MAGIC), len(MAGIC) + MAX_HEADER)
    if end < 0:
        raise InternalError(f"{where}: truncated envelope record")
    try:
        record: dict[str, Any] = json.loads(head[len(MAGIC) : end])
        size, digest = int(record.pop("size")), str(record.pop("sha256"))
        record["recipients"] = tuple(record["recipients"])
        envelope = Envelope(**record)
    except (ValueError, KeyError, TypeError) as e:
        raise InternalError(f"{where}: bad envelope record: {e}") from None
    return envelope, size, digest, end + 1


def decode(raw: bytes, where: str) -> tuple[Envelope, bytes]:
    """Parse and verify an entry file; InternalError if it is not intact."""
    envelope, size, digest, start = _parse_header(raw, where)
    data = raw[start:]
    if len(data) != size or hashlib.sha256(data).hexdigest() != digest:
        raise InternalError(f"{where}: data does not match its checksum")
    return envelope, data


def open_entry(fd: int, where: str) -> tuple[Envelope, Spool]:
    """Parse and verify the entry file open at ``fd`` (read in chunks, never whole).

    The returned spool reads the data from its own descriptor (a dup of ``fd``).
    """
    head = os.pread(fd, 1 << 16, 0)
    if len(head) == 1 << 16 and b"\n" not in head[len(MAGIC) :]:
        head = os.pread(fd, len(MAGIC) + MAX_HEADER + 1, 0)
    envelope, size, digest, start = _parse_header(head, where)
    spool = Spool(os.fdopen(os.dup(fd), "rb"), start)
    if spool.size != size or spool.sha256() != digest:
        spool.close()
        raise InternalError(f"{where}: data does not match its checksum")
    return envelope, spool


class Claim:
    """An entry this process holds the lock on; settle it with done/defer/fail."""

    def __init__(self, box: Outbox, entry_id: str, envelope: Envelope, content: Spool) -> None:
        self.box, self.id, self.envelope, self.content = box, entry_id, envelope, content
        self.settled = False

    @property
    def data(self) -> bytes:
        """The stored transaction's bytes, all at once (sending streams ``content``)."""
        return self.content.read()

    def done(self) -> None:
        """The server accepted it: remove it (durably), then its status."""
        self.box.queue_path(self.id).unlink()
        _fsync_dir(self.box.queue)
        self.box.status_path(self.id).unlink(missing_ok=True)
        self.settled = True

    def defer(self, error: str) -> None:
        """Keep it for a later flush and remember why this attempt failed."""
        self.box.write_status(self.id, error, failed=False)
        self.settled = True

    def fail(self, error: str) -> None:
        """Refused for good: move it to failed/ with the reason."""
        self.box.write_status(self.id, error, failed=True)
        os.rename(self.box.queue_path(self.id), self.box.failed / f"{self.id}.msg")
        _fsync_dir(self.box.failed)
        _fsync_dir(self.box.queue)
        self.box.status_path(self.id).unlink(missing_ok=True)
        self.settled = True


class Outbox:
    """The outbox directory; every method is safe to call from concurrent processes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tmp, self.queue, self.failed = path / "tmp", path / "queue", path / "failed"

    # -- set-up -------------------------------------------------------------------------

    def ensure(self) -> Outbox:
        """Create the directories (0700) or refuse one that others can read."""
        try:
            self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
            st = self.path.stat()
            if st.st_uid != os.getuid():
                raise ConfigError(f"outbox {self.path} belongs to another user; refusing it")
            if st.st_mode & 0o077:
                self.path.chmod(0o700)
            for d in (self.tmp, self.queue, self.failed):
                d.mkdir(mode=0o700, exist_ok=True)
        except OSError as e:
            raise TemporaryFailure(f"cannot use the outbox {self.path}: {e.strerror}") from None
        return self

    def queue_path(self, entry_id: str) -> Path:
        """Where a ready entry lives."""
        return self.queue / f"{entry_id}.msg"

    def status_path(self, entry_id: str) -> Path:
        """Where a ready entry's status lives."""
        return self.queue / f"{entry_id}.status"

    # -- writing ------------------------------------------------------------------------

    def add(self, envelope: Envelope, data: bytes | Spool, error: str | None = None) -> str:
        """Store one transaction durably and return its ID (TemporaryFailure if impossible).

        ``data`` in a spool is copied file to file, never read into memory whole. ``error``
        records why it could not be sent now, as the first attempt's status.
        """
        self.ensure()
        now = time.time()
        entry_id = _new_id(now)
        if not envelope.created:
            envelope = Envelope(**(asdict(envelope) | {"created": now}))
        tmp = self.tmp / f"{entry_id}.tmp"
        try:
            self._write_locked(tmp, envelope, data, self.queue_path(entry_id))
        except OSError as e:
            tmp.unlink(missing_ok=True)
            raise TemporaryFailure(f"cannot store the message in the outbox: {e}") from None
        if error is not None:
            self.write_status(entry_id, error, failed=False)
        return entry_id

    def _write_locked(
        self, tmp: Path, envelope: Envelope, data: bytes | Spool, final: Path
    ) -> None:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(tmp, flags, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            if isinstance(data, Spool):
                _write_all(fd, header(envelope, data.size, data.sha256()))
                data.copy_to(fd)
            else:
                _write_all(fd, encode(envelope, data))
            os.fsync(fd)
            os.rename(tmp, final)
            _fsync_dir(final.parent)
        finally:
            os.close(fd)

    def write_status(self, entry_id: str, error: str, *, failed: bool) -> None:
        """Record one more attempt and its error next to the entry."""
        old = self.status(entry_id)
        status = Status(old.attempts + 1, time.time(), error)
        target = (self.failed if failed else self.queue) / f"{entry_id}.status"
        tmp = self.tmp / f"{entry_id}.status.{secrets.token_hex(4)}"
        try:  # advisory: a status lost to a crash or a full disk loses no mail
            tmp.write_text(json.dumps(asdict(status)))
            tmp.chmod(0o600)
            os.rename(tmp, target)
        except OSError:
            tmp.unlink(missing_ok=True)

    # -- reading ------------------------------------------------------------------------

    def status(self, entry_id: str, *, failed: bool = False) -> Status:
        """The entry's recorded attempts, or a fresh Status."""
        path = (self.failed if failed else self.queue) / f"{entry_id}.status"
        try:
            return Status(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            return Status()

    def ids(self, *, failed: bool = False) -> list[str]:
        """IDs of ready (or failed) entries, oldest first."""
        directory = self.failed if failed else self.queue
        try:
            names = os.listdir(directory)
        except FileNotFoundError:
            return []
        return sorted(n[:-4] for n in names if n.endswith(".msg") and ID_RE.fullmatch(n[:-4]))

    def entries(self) -> list[Entry]:
        """Every entry, ready ones first; an entry removed meanwhile is skipped."""
        found = []
        for failed in (False, True):
            directory = self.failed if failed else self.queue
            for entry_id in self.ids(failed=failed):
                try:
                    fd = os.open(directory / f"{entry_id}.msg", os.O_RDONLY | os.O_CLOEXEC)
                except FileNotFoundError:
                    continue
                try:
                    envelope, content = open_entry(fd, entry_id)
                finally:
                    os.close(fd)
                content.close()
                status = self.status(entry_id, failed=failed)
                found.append(Entry(entry_id, envelope, content.size, status, failed))
        return found

    @contextlib.contextmanager
    def _locked(self, entry_id: str) -> Iterator[int | None]:
        path = self.queue_path(check_id(entry_id))
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            yield None
            return
        try:
            yield fd if _try_lock(fd) and _same_file(fd, path) else None
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def claim(self, entry_id: str) -> Iterator[Claim | None]:
        """Lock a ready entry for sending; None if another process holds it or it is gone."""
        with self._locked(entry_id) as fd:
            if fd is None:
                yield None
                return
            envelope, content = open_entry(fd, entry_id)
            try:
                yield Claim(self, entry_id, envelope, content)
            finally:
                content.close()

    def drop(self, entry_id: str) -> bool:
        """Remove an entry (ready or failed); False if there is none; busy ones are refused."""
        failed = self.failed / f"{check_id(entry_id)}.msg"
        if failed.exists():
            failed.unlink()
            (self.failed / f"{entry_id}.status").unlink(missing_ok=True)
            return True
        with self._locked(entry_id) as fd:
            if fd is None:
                if self.queue_path(entry_id).exists():
                    raise TemporaryFailure(f"{entry_id} is being sent right now; try again")
                return False
            self.queue_path(entry_id).unlink()
            _fsync_dir(self.queue)
            self.status_path(entry_id).unlink(missing_ok=True)
            return True

    def clean_tmp(self) -> int:
        """Remove what killed writers left in tmp/ (entries nobody holds a lock on)."""
        removed = 0
        try:
            names = os.listdir(self.tmp)
        except FileNotFoundError:
            return 0
        for name in names:
            path = self.tmp / name
            if not name.endswith(".tmp"):  # a status being written: only if long abandoned
                with contextlib.suppress(OSError):
                    if time.time() - path.stat().st_mtime > STALE_STATUS:
                        path.unlink()
                continue
            try:
                fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            except OSError:
                continue
            try:
                if _try_lock(fd) and _same_file(fd, path):
                    path.unlink()
                    removed += 1
            finally:
                os.close(fd)
        return removed


def _write_all(fd: int, blob: bytes) -> None:
    view = memoryview(blob)
    while view:
        view = view[os.write(fd, view) :]


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            return False
        raise
    return True


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.stat(path, follow_symlinks=False).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        return False
