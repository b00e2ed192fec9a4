"""Where ``imap decrypt`` puts decrypted copies, and how it marks the originals.

Every target follows one order, which is what makes a kill -9 at any point harmless:

1. the copy is written durably (APPEND answered OK / Maildir file renamed into ``cur/``);
2. only then is the original marked ``$E2emailDecrypted`` (and, in place, deleted by UID);
3. a run starts by indexing the target: every copy names its original's SHA-256 in its
   ``E2email-Decrypted`` field (or Maildir file name), so an original whose copy exists but
   which was not marked yet is marked without a second copy.

In place, the copy must also be *confirmed* -- its APPENDUID fetched back and its field
compared -- before the original is removed with UID EXPUNGE (RFC 4315), which touches only
that message. Without UIDPLUS the original stays, marked, and the report says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from e2email.adapters.imap import ImapSession, ToAppend
from e2email.adapters.maildir import Maildir
from e2email.core import reader
from e2email.core.rawmime import split_entity

KEYWORD = "$E2emailDecrypted"
UNSETTABLE = frozenset({"\\recent"})


@dataclass(frozen=True)
class Copy:
    """A decrypted copy to store for the original ``uid``."""

    uid: int
    sha256: str
    raw: bytes
    flags: tuple[str, ...]
    internaldate: datetime | None


@dataclass
class Outcome:
    """What one flush did: copies written, originals marked, removed or kept."""

    written: int = 0
    removed: int = 0
    kept: int = 0


class Target(Protocol):
    """A destination for copies."""

    def index(self) -> set[str]:
        """SHA-256 of every original that already has a copy here."""
        ...

    def store(self, copies: Sequence[Copy]) -> set[str]:
        """Write copies durably; return the SHA-256 of those now confirmed present."""
        ...


def copy_flags(flags: Sequence[str]) -> tuple[str, ...]:
    """The original's flags minus those a client cannot set (\\Recent) and our keyword."""
    return tuple(f for f in flags if f.lower() not in UNSETTABLE and f != KEYWORD)


def indexed(session: ImapSession, folder: str) -> set[str]:
    """Originals with a copy in ``folder`` (which the session must have selected)."""
    uids = session.search(["HEADER", reader.DECRYPTED_HEADER, "sha256:"])
    found: set[str] = set()
    for raw in session.fetch_field(uids, reader.DECRYPTED_HEADER).values():
        f = split_entity(raw.strip() + b"\r\n\r\n").get(reader.DECRYPTED_HEADER)
        sha = reader.original_of(f.value) if f else None
        if sha:
            found.add(sha)
    return found


class FolderTarget:
    """Copies go to another IMAP folder (created and subscribed when missing)."""

    def __init__(self, session: ImapSession, folder: str, source: str) -> None:
        self.session, self.folder, self.source = session, folder, source

    def index(self) -> set[str]:
        """Index the target folder (created when missing)."""
        if not self.session.exists(self.folder):
            self.session.create(self.folder)
        self.session.select(self.folder, readonly=True)
        return indexed(self.session, self.folder)

    def store(self, copies: Sequence[Copy]) -> set[str]:
        """APPEND (one MULTIAPPEND transaction when offered)."""
        items = [ToAppend(c.raw, c.flags, c.internaldate) for c in copies]
        self.session.append(self.folder, items)
        return {c.sha256 for c in copies}


class MaildirTarget:
    """Copies go to a local Maildir: plaintext never goes back to the server."""

    def __init__(self, path: Path) -> None:
        self.maildir = Maildir(path)

    def index(self) -> set[str]:
        """Originals named by the Maildir's file names."""
        return self.maildir.originals()

    def store(self, copies: Sequence[Copy]) -> set[str]:
        """One durable file per copy."""
        for c in copies:
            self.maildir.deliver(c.raw, c.sha256, c.flags, c.internaldate)
        return {c.sha256 for c in copies}


class InPlaceTarget:
    """Copies go into the source folder itself; originals are removed once confirmed."""

    def __init__(self, session: ImapSession, folder: str) -> None:
        self.session, self.folder = session, folder
        self.uidplus = False

    def index(self) -> set[str]:
        """Index the source folder (selected read-write for the whole run)."""
        self.session.select(self.folder)
        self.uidplus = self.session.has("UIDPLUS")
        return indexed(self.session, self.folder)

    def store(self, copies: Sequence[Copy]) -> set[str]:
        """APPEND, then fetch each new UID back and compare the original's hash."""
        items = [ToAppend(c.raw, c.flags, c.internaldate) for c in copies]
        uids = self.session.append(self.folder, items)
        if uids is None:
            return self._confirm_by_search(copies)
        confirmed: set[str] = set()
        for raw in self.session.fetch_field(uids, reader.DECRYPTED_HEADER).values():
            f = split_entity(raw.strip() + b"\r\n\r\n").get(reader.DECRYPTED_HEADER)
            sha = reader.original_of(f.value) if f else None
            if sha:
                confirmed.add(sha)
        return confirmed & {c.sha256 for c in copies}

    def _confirm_by_search(self, copies: Sequence[Copy]) -> set[str]:
        return {
            c.sha256
            for c in copies
            if self.session.search(["HEADER", reader.DECRYPTED_HEADER, c.sha256])
        }


def mark(session: ImapSession, uids: Sequence[int]) -> None:
    """Mark processed originals, after their copies are safe."""
    session.add_flags(uids, [KEYWORD])


def remove(session: ImapSession, uids: Sequence[int], uidplus: bool) -> Outcome:
    """In place: delete originals by UID (UIDPLUS), or keep them marked (no UIDPLUS)."""
    if not uids:
        return Outcome()
    if not uidplus:
        mark(session, uids)
        return Outcome(kept=len(uids))
    session.add_flags(uids, [KEYWORD, "\\Deleted"])
    session.uid_expunge(uids)
    return Outcome(removed=len(uids))
