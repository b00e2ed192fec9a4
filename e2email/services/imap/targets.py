"""Where ``imap decrypt`` puts decrypted copies, and how it marks the originals.

Every target follows one order, which is what makes a kill -9 at any point harmless:

1. the copy is written durably (APPEND answered OK / Maildir file renamed into ``cur/``);
2. only then is the original marked ``$E2emailDecrypted`` (and, in place, deleted by UID);
3. a run starts by indexing the target: every copy names its original's SHA-256 in its
   ``E2email-Decrypted`` field (or Maildir file name) and keeps the original's Message-ID, so
   an original whose copy exists but which was not marked yet is marked without a second
   copy. Both must match: a message that merely claims a hash is not taken for a copy.

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
        """What identifies the original in a target's index."""
        return (self.sha256, self.message_id)


@dataclass
class Outcome:
    """What one flush did: copies written, originals marked, removed or kept."""

    written: int = 0
    removed: int = 0
    kept: int = 0


class Target(Protocol):
    """A destination for copies."""

    def index(self) -> set[Key]:
        """The originals that already have a copy here."""
        ...

    def store(self, copies: Sequence[Copy]) -> set[Key]:
        """Write copies durably; return the keys of those now confirmed present."""
        ...


def copy_flags(flags: Sequence[str]) -> tuple[str, ...]:
    """The original's flags minus those a client cannot set (\\Recent) and our keyword."""
    return tuple(f for f in flags if f.lower() not in UNSETTABLE and f != KEYWORD)


def keys_of(headers: dict[int, bytes]) -> set[Key]:
    """Index keys from fetched ``E2email-Decrypted`` and ``Message-ID`` fields."""
    found: set[Key] = set()
    for raw in headers.values():
        entity = split_entity(raw.strip() + b"\r\n\r\n")
        f, mid = entity.get(reader.DECRYPTED_HEADER), entity.get("Message-ID")
        sha = reader.original_of(f.value) if f else None
        if sha:
            found.add((sha, mid.value if mid else ""))
    return found


def indexed(session: ImapSession) -> set[Key]:
    """Originals with a copy in the folder the session has selected."""
    uids = session.search(["HEADER", reader.DECRYPTED_HEADER, "sha256:"])
    return keys_of(session.fetch_headers(uids, [reader.DECRYPTED_HEADER, "Message-ID"]))


class FolderTarget:
    """Copies go to another IMAP folder (created and subscribed when missing)."""

    def __init__(self, session: ImapSession, folder: str, source: str) -> None:
        self.session, self.folder, self.source = session, folder, source

    def index(self) -> set[Key]:
        """Index the target folder (created when missing)."""
        if not self.session.exists(self.folder):
            self.session.create(self.folder)
        self.session.select(self.folder, readonly=True)
        return indexed(self.session)

    def store(self, copies: Sequence[Copy]) -> set[Key]:
        """APPEND (one MULTIAPPEND transaction when offered)."""
        items = [ToAppend(c.raw, c.flags, c.internaldate) for c in copies]
        self.session.append(self.folder, items)
        return {c.key for c in copies}


class MaildirTarget:
    """Copies go to a local Maildir: plaintext never goes back to the server."""

    def __init__(self, path: Path) -> None:
        self.maildir = Maildir(path)

    def index(self) -> set[Key]:
        """Originals named by the Maildir's file names, with the copies' Message-IDs."""
        return keys_of(dict(enumerate(self.maildir.originals())))

    def store(self, copies: Sequence[Copy]) -> set[Key]:
        """One durable file per copy."""
        for c in copies:
            self.maildir.deliver(c.raw, c.sha256, c.flags, c.internaldate)
        return {c.key for c in copies}


class InPlaceTarget:
    """Copies go into the source folder itself; originals are removed once confirmed."""

    def __init__(self, session: ImapSession, folder: str) -> None:
        self.session, self.folder = session, folder
        self.uidplus = False

    def index(self) -> set[Key]:
        """Index the source folder (selected read-write for the whole run)."""
        self.session.select(self.folder)
        self.uidplus = self.session.has("UIDPLUS")
        return indexed(self.session)

    def store(self, copies: Sequence[Copy]) -> set[Key]:
        """APPEND, then fetch each new UID back and compare the original's hash."""
        items = [ToAppend(c.raw, c.flags, c.internaldate) for c in copies]
        uids = self.session.append(self.folder, items)
        if uids is None:
            return self._confirm_by_search(copies)
        names = [reader.DECRYPTED_HEADER, "Message-ID"]
        return keys_of(self.session.fetch_headers(uids, names)) & {c.key for c in copies}

    def _confirm_by_search(self, copies: Sequence[Copy]) -> set[Key]:
        found: set[Key] = set()
        for c in copies:
            uids = self.session.search(["HEADER", reader.DECRYPTED_HEADER, c.sha256])
            names = [reader.DECRYPTED_HEADER, "Message-ID"]
            found |= keys_of(self.session.fetch_headers(uids, names)) & {c.key}
        return found


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
