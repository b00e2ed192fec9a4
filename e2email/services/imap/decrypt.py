"""``e2email imap decrypt``: turn a folder of encrypted mail into readable mail.

The run: open the source folder read-only (EXAMINE; security.md item 17), find candidates by
server-side SEARCH (encrypted Content-Type, or an inline PGP block in the body; our own copies
excluded), read the destination's index (``targets``: which originals it already holds a copy
of), confirm each candidate locally (``core.reader.classify``), decrypt those not in the index
(``pipeline``: batches fetched while worker threads decrypt), and store the copies. The copy
modes never write to the source; ``--in-place`` removes an original only once its copy is
confirmed. Failures are per message: the run reports them and goes on.
"""

from __future__ import annotations

import enum
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from e2email.adapters.imap import Fetched, ImapSession, ReadOnlyFolder
from e2email.config import Account
from e2email.core import reader
from e2email.errors import ConfigError, UsageError
from e2email.services.imap import pipeline, targets
from e2email.services.imap.session import account_secret, connect
from e2email.services.runtime import Runtime

SEARCH = [
    "NOT", "HEADER", reader.DECRYPTED_HEADER, "",
    "OR", "OR", "OR",
    "HEADER", "Content-Type", "multipart/encrypted",
    "HEADER", "Content-Type", "pkcs7-mime",
    "HEADER", "Content-Type", "smime.p7m",
    "BODY", reader.BEGIN.decode(),
]  # fmt: skip
KEPT = ["NOT", "KEYWORD", targets.KEYWORD]  # in place without UIDPLUS: originals left on purpose


class Mode(enum.StrEnum):
    """Where the decrypted copies go."""

    TO_FOLDER = "to-folder"
    TO_MAILDIR = "to-maildir"
    IN_PLACE = "in-place"


@dataclass(frozen=True)
class FolderRequest:
    """What the user asked for."""

    account: str
    folder: str
    mode: Mode
    target: str | None = None
    dry_run: bool = False
    batch_size: int = 100
    workers: int = 0


@dataclass(frozen=True)
class Item:
    """One message the run could not (or would not) decrypt, and why."""

    uid: int
    message_id: str | None
    reason: str


@dataclass
class FolderReport:
    """The summary of a run. ``existing``: originals whose copy the destination already
    holds, so they were not decrypted again (JSON ``skipped_existing``)."""

    account: str
    folder: str
    mode: str
    target: str | None
    dry_run: bool
    found: int = 0
    decrypted: int = 0
    existing: int = 0
    removed: int = 0
    kept: int = 0
    skipped: list[Item] = field(default_factory=list)
    failed: list[Item] = field(default_factory=list)
    kinds: Counter[str] = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def done(self) -> int:
        """Messages handled so far (for progress)."""
        return self.decrypted + self.existing + len(self.skipped) + len(self.failed)


Progress = Callable[[FolderReport], None]


def decrypt_folder(
    rt: Runtime, req: FolderRequest, progress: Progress | None = None
) -> FolderReport:
    """Run one folder decryption; the report says what happened to every candidate."""
    start = time.monotonic()
    account = _imap_account(rt, req)
    report = FolderReport(account.name, req.folder, req.mode.value, req.target, req.dry_run)
    secret = account_secret(rt, account)
    source = connect(rt, account, secret)
    try:
        if not source.exists(req.folder):
            raise UsageError(f"there is no folder {req.folder!r} on {account.imap_host}")
        index = _index(req, source)
        box = source.examine(req.folder)
        criteria = SEARCH
        if req.mode is Mode.IN_PLACE and not source.has("UIDPLUS"):
            criteria = SEARCH + KEPT
        uids = box.search(criteria)
        report.found = len(uids)
        ctx = _Context(rt, req, account, secret, report, progress)
        (_dry_run if req.dry_run else _run)(ctx, box, uids, index)
    finally:
        source.logout()
    report.failed.sort(key=lambda i: i.uid)
    report.skipped.sort(key=lambda i: i.uid)
    report.seconds = time.monotonic() - start
    return report


def _index(req: FolderRequest, session: ImapSession) -> targets.Index:
    """What the destination already holds, read from the destination (creating nothing)."""
    if req.mode is Mode.TO_MAILDIR:
        return targets.maildir_index(_maildir(req))
    folder = req.folder if req.mode is Mode.IN_PLACE else req.target or ""
    if not session.exists(folder):
        return targets.Index()
    return targets.folder_index(session.examine(folder), with_id=req.mode is Mode.IN_PLACE)


def _maildir(req: FolderRequest) -> Path:
    return Path(req.target or "").expanduser()


def _imap_account(rt: Runtime, req: FolderRequest) -> Account:
    account = rt.account(req.account, None)
    if not account.imap_host:
        raise ConfigError(f"accounts.{account.name}.imap_host is not set")
    if req.mode is Mode.TO_FOLDER and req.target == req.folder:
        raise UsageError("--to-folder names the folder being decrypted; use --in-place")
    return account


@dataclass(frozen=True)
class _Context:
    rt: Runtime
    req: FolderRequest
    account: Account
    secret: str  # password or OAuth token, for the second connection
    report: FolderReport
    progress: Progress | None


def _dry_run(ctx: _Context, box: ReadOnlyFolder, uids: list[int], index: targets.Index) -> None:
    """Fetch and classify only: what a real run would find, without decrypting."""
    report = ctx.report
    for chunk in pipeline.chunks(uids, ctx.req.batch_size):
        for m in box.fetch(chunk):
            env = pipeline.classify(m)
            report.kinds[env.kind.value] += 1
            if not env.encrypted:
                _refused(report, m, env)
            elif pipeline.present(m, env, index):
                report.existing += 1
            else:
                report.decrypted += 1
        if ctx.progress:
            ctx.progress(report)


def _refused(report: FolderReport, m: Fetched, env: reader.Envelope) -> None:
    item = Item(m.uid, env.message_id, env.note or env.kind.value)
    (report.failed if env.kind is reader.Kind.NESTED else report.skipped).append(item)


def _run(ctx: _Context, box: ReadOnlyFolder, uids: list[int], index: targets.Index) -> None:
    req = ctx.req
    if req.mode is Mode.TO_MAILDIR:  # no connection but the read-only one to the source
        _write(ctx, box, uids, targets.MaildirTarget(_maildir(req)), index)
        return
    writer = connect(ctx.rt, ctx.account, ctx.secret)
    try:
        if req.mode is Mode.TO_FOLDER:
            _write(ctx, box, uids, targets.FolderTarget(writer, req.target or ""), index)
            return
        target = targets.InPlaceTarget(writer, req.folder)
        if not target.uidplus:
            ctx.report.notes.append(
                "the server lacks UIDPLUS: originals were kept, labelled $E2emailDecrypted"
            )
        _write(ctx, box, uids, target, index)
    finally:
        writer.logout()


def _write(
    ctx: _Context,
    box: ReadOnlyFolder,
    uids: list[int],
    target: targets.Target,
    index: targets.Index,
) -> None:
    req = ctx.req
    flush = _Flusher(target, index, ctx.report, ctx.progress)
    for results in pipeline.run(ctx.rt, box, uids, req.batch_size, index, req.workers):
        flush(results)


class _Flusher:
    """Writes a batch of results: copies first, then (in place) what happens to originals."""

    def __init__(
        self,
        target: targets.Target,
        index: targets.Index,
        report: FolderReport,
        progress: Progress | None,
    ) -> None:
        self.target, self.index, self.report, self.progress = target, index, report, progress

    def __call__(self, results: Sequence[pipeline.Result]) -> None:
        fresh: dict[targets.Key, targets.Copy] = {}
        for r in results:
            if r.copy is not None and not self.index.holds(r.copy.key):
                fresh.setdefault(r.copy.key, r.copy)
        stored = self.target.store(list(fresh.values())) if fresh else set()
        for key in stored:
            self.index.add(key)
        done = [uid for r in results if (uid := self._count(r, fresh, stored))]
        out = self.target.finish(done)
        self.report.removed += out.removed
        self.report.kept += out.kept
        if self.progress:
            self.progress(self.report)

    def _count(
        self,
        r: pipeline.Result,
        fresh: dict[targets.Key, targets.Copy],
        stored: set[targets.Key],
    ) -> int | None:
        """Book one result; the original's UID when its copy is in the destination."""
        self.report.kinds[r.kind] += 1
        if r.existing:
            self.report.existing += 1
            return r.message.uid
        if r.copy is None:
            item = Item(r.message.uid, r.message_id, r.failed or r.skipped or "")
            (self.report.failed if r.failed else self.report.skipped).append(item)
            return None
        key = r.copy.key
        if key in fresh and key not in stored:
            reason = "the decrypted copy could not be confirmed; original left as it was"
            self.report.failed.append(Item(r.message.uid, r.message_id, reason))
            return None
        if fresh.get(key) is r.copy:
            self.report.decrypted += 1
        else:  # held before this batch (an original without Message-ID), or a duplicate
            self.report.existing += 1
        return r.message.uid
