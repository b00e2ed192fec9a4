"""Where ``imap decrypt`` puts decrypted copies, and how it knows what is already there.

What a destination holds is decided from the destination itself, never from marks on the
originals: every copy names its original's SHA-256 in its ``E2email-Decrypted`` field (a
Maildir copy also in its file name) and keeps the original's Message-ID. An :class:`Index`
of those pairs is read at the start of a run -- one ``SEARCH HEADER`` and one header
``FETCH`` of the destination folder, or the Maildir's file names and header sections -- and an
original whose pair is in it is not decrypted again. So each destination has its own answer:
a second folder, a new Maildir or a destination the user emptied gets every message again,
and the same destination gets nothing twice. Both halves must match: a message that merely
claims a hash is not taken for a copy.

The copy modes (:class:`FolderTarget`, :class:`MaildirTarget`) hold no connection to the source
folder at all: they write copies and nothing else (security.md item 17).

Every target writes in the same order, which is what makes a kill -9 at any point harmless:
the copy is written durably first (APPEND answered OK / Maildir file renamed into ``cur/``);
a killed run's copies are in the next run's index. In place, the copy must also be
*confirmed* -- its APPENDUID fetched back and its field compared -- before the original is
marked ``\\Deleted`` and removed with UID EXPUNGE (RFC 4315), which touches only that message.
An original whose copy a killed run confirmed is found by the index and removed then. Without
UIDPLUS the original stays, labelled ``$E2emailDecrypted`` for the user, and the report says so.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from e2email.adapters import maildir
from e2email.adapters.imap import ImapSession, ReadOnlyFolder, ReadOnlyFolderError, ToAppend
from e2email.core import reader
from e2email.core.rawmime import split_entity
from e2email.errors import UsageError

KEYWORD = "$E2emailDecrypted"  # in place without UIDPLUS: the label of an original kept
UNSETTABLE = frozenset({"\\recent"})
NAMES = (reader.DECRYPTED_HEADER, "Message-ID")
CHUNK = 1000  # UIDs per header FETCH: keeps command lines far below servers' limits (64 KiB)


Key = tuple[str, str]  # (the original's SHA-256, its Message-ID or "")


@dataclass(frozen=True)
class Copy:
    """A decrypted copy to store for the original ``uid``."""

    uid: int
    sha256: str
    message_id: str
    raw: bytes
    flags: tuple[str, ...]
    internaldate: datetime | None

    @property
    def key(self) -> Key:
        """What identifies the original in a destination's index."""
        return (self.sha256, self.message_id)


@dataclass
class Outcome:
    """What finishing a batch did to the originals: removed, or kept beside their copy."""

    removed: int = 0
    kept: int = 0


class Index:
    """The originals a destination holds a copy of: (SHA-256, Message-ID) pairs.

    Shared by the decrypting threads (which ask) and the writer (which adds).
    """

    def __init__(self, keys: Iterable[Key] = ()) -> None:
        self._lock = threading.Lock()
        self._by_sha: dict[str, set[str]] = {}
        for key in keys:
            self.add(key)

    def add(self, key: Key) -> None:
        """Record a copy now present in the destination."""
        with self._lock:
            self._by_sha.setdefault(key[0], set()).add(key[1])

    def holds(self, key: Key) -> bool:
        """True if exactly this copy is there: both the original's hash and its Message-ID.

        A hash alone is never enough: a planted message naming an original's hash must not
        pass for its copy (in place, that would cost the original). An original without
        Message-ID is decrypted again and its copy's key (hash, the Message-ID its protected
        headers gave the copy) looked up then.
        """
        with self._lock:
            return key[1] in self._by_sha.get(key[0], ())

    def __len__(self) -> int:
        with self._lock:
            return sum(len(ids) for ids in self._by_sha.values())


def copy_flags(flags: Sequence[str]) -> tuple[str, ...]:
    """The original's flags minus those a client cannot set (\\Recent) and our keyword."""
    return tuple(f for f in flags if f.lower() not in UNSETTABLE and f != KEYWORD)


def keys_of(headers: Iterable[bytes]) -> set[Key]:
    """Index keys from header sections holding ``E2email-Decrypted`` and ``Message-ID``."""
    found: set[Key] = set()
    for raw in headers:
        entity = split_entity(raw.strip() + b"\r\n\r\n")
        f, mid = entity.get(reader.DECRYPTED_HEADER), entity.get("Message-ID")
        sha = reader.original_of(f.value) if f else None
        if sha:
            found.add((sha, mid.value if mid else ""))
    return found


def folder_index(box: ReadOnlyFolder, *, with_id: bool = False) -> Index:
    """The copies in an EXAMINEd folder: one SEARCH HEADER, then their two fields.

    ``with_id`` (in place, where a match removes the original): copies without Message-ID are
    left out, since their key is the hash alone, which a planted message can name too. Such
    an original is decrypted again; a killed run may then leave a second copy, never a loss.
    """
    uids = box.search(["HEADER", reader.DECRYPTED_HEADER, "sha256:"])
    keys: set[Key] = set()
    for start in range(0, len(uids), CHUNK):
        keys |= keys_of(box.fetch_headers(uids[start : start + CHUNK], NAMES).values())
    return Index(k for k in keys if k[1] or not with_id)


def maildir_index(path: Path) -> Index:
    """The copies e2email delivered to a Maildir (nothing is created when it is missing)."""
    return Index(keys_of(maildir.delivered_headers(path)))


class Target(Protocol):
    """A destination for copies."""

    def store(self, copies: Sequence[Copy]) -> set[Key]:
        """Write copies durably; return the keys of those now confirmed present."""
        ...

    def finish(self, uids: Sequence[int]) -> Outcome:
        """What happens to originals whose copy is in the destination."""
        ...


class FolderTarget:
    """Copies go to another IMAP folder (created and subscribed when missing)."""

    def __init__(self, session: ImapSession, folder: str) -> None:
        self.session, self.folder = session, folder
        if not session.exists(folder):
            session.create(folder)

    def store(self, copies: Sequence[Copy]) -> set[Key]:
        """APPEND (one MULTIAPPEND transaction when offered)."""
        items = [ToAppend(c.raw, c.flags, c.internaldate) for c in copies]
        self.session.append(self.folder, items)
        return {c.key for c in copies}

    def finish(self, uids: Sequence[int]) -> Outcome:
        """Nothing: the source folder is only read."""
        return Outcome()


class MaildirTarget:
    """Copies go to a local Maildir: plaintext never goes back to the server."""

    def __init__(self, path: Path) -> None:
        self.maildir = maildir.Maildir(path)

    def store(self, copies: Sequence[Copy]) -> set[Key]:
        """One durable file per copy."""
        for c in copies:
            self.maildir.deliver(c.raw, c.sha256, c.flags, c.internaldate)
        return {c.key for c in copies}

    def finish(self, uids: Sequence[int]) -> Outcome:
        """Nothing: the source folder is only read."""
        return Outcome()


class InPlaceTarget:
    """Copies go into the source folder itself; originals are removed once confirmed."""

    def __init__(self, session: ImapSession, folder: str) -> None:
        self.session, self.folder = session, folder
        try:
            self.selected = session.select(folder)  # read-write: this mode changes the folder
        except ReadOnlyFolderError:
            raise UsageError(
                f"{folder} is read-only for this account: --in-place cannot replace its "
                "messages; use --to-folder or --to-maildir, which only read it"
            ) from None
        self.uidplus = session.has("UIDPLUS")

    def store(self, copies: Sequence[Copy]) -> set[Key]:
        """APPEND, then fetch each new UID back and compare the original's hash."""
        items = [ToAppend(c.raw, c.flags, c.internaldate) for c in copies]
        uids = self.session.append(self.folder, items)
        if uids is None:
            return self._confirm_by_search(copies)
        return keys_of(self.session.fetch_headers(uids, NAMES).values()) & {c.key for c in copies}

    def _confirm_by_search(self, copies: Sequence[Copy]) -> set[Key]:
        found: set[Key] = set()
        for c in copies:
            uids = self.session.search(["HEADER", reader.DECRYPTED_HEADER, c.sha256])
            found |= keys_of(self.session.fetch_headers(uids, NAMES).values()) & {c.key}
        return found

    def finish(self, uids: Sequence[int]) -> Outcome:
        """Delete the originals by UID (UIDPLUS), or keep them labelled (no UIDPLUS; a folder
        that takes no keywords keeps them unlabelled: the index still finds their copies)."""
        if not uids:
            return Outcome()
        if not self.uidplus:
            if self.selected.keywords_allowed:
                self.session.add_flags(uids, [KEYWORD])
            return Outcome(kept=len(uids))
        self.session.add_flags(uids, ["\\Deleted"])
        self.session.uid_expunge(uids)
        return Outcome(removed=len(uids))
