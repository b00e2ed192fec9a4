"""``e2email imap decrypt``: turn a folder of encrypted mail into readable mail.

The run: find candidates by server-side SEARCH (encrypted Content-Type, or an inline PGP block
in the body; originals already marked ``$E2emailDecrypted`` and our own copies excluded),
confirm each one locally (``core.reader.classify``), decrypt (``pipeline``: batches
fetched while worker threads decrypt), and store copies through a ``targets`` target
that writes first and marks after. Failures are per message: the run reports them and goes on.
"""

from __future__ import annotations

import enum
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from e2email.adapters import secrets
from e2email.adapters.imap import Fetched, ImapSession
from e2email.config import Account
from e2email.core import reader
from e2email.errors import ConfigError, UsageError
from e2email.services.imap import pipeline, targets
from e2email.services.runtime import Runtime

SEARCH = [
    "NOT", "KEYWORD", targets.KEYWORD,
    "NOT", "HEADER", reader.DECRYPTED_HEADER, "",
    "OR", "OR", "OR",
    "HEADER", "Content-Type", "multipart/encrypted",
    "HEADER", "Content-Type", "pkcs7-mime",
    "HEADER", "Content-Type", "smime.p7m",
    "BODY", reader.BEGIN.decode(),
]  # fmt: skip


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
    """The summary of a run."""

    account: str
    folder: str
    mode: str
    target: str | None
    dry_run: bool
    found: int = 0
    decrypted: int = 0
    already: int = 0
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
        return self.decrypted + self.already + len(self.skipped) + len(self.failed)


Progress = Callable[[FolderReport], None]


def decrypt_folder(
    rt: Runtime, req: FolderRequest, progress: Progress | None = None
) -> FolderReport:
    """Run one folder decryption; the report says what happened to every candidate."""
    start = time.monotonic()
    account = _imap_account(rt, req)
    report = FolderReport(account.name, req.folder, req.mode.value, req.target, req.dry_run)
    secret = _secret(rt, account)
    source = _session(rt, account, secret)
    try:
        if not source.exists(req.folder):
            raise UsageError(f"there is no folder {req.folder!r} on {account.imap_host}")
        source.select(req.folder, readonly=True)
        uids = source.search(SEARCH)
        report.found = len(uids)
        ctx = _Context(rt, req, account, secret, report, progress)
        if req.dry_run:
            _dry_run(ctx, source, uids)
        else:
            _run(ctx, source, uids)
    finally:
        source.logout()
    report.failed.sort(key=lambda i: i.uid)
    report.skipped.sort(key=lambda i: i.uid)
    report.seconds = time.monotonic() - start
    return report


def _imap_account(rt: Runtime, req: FolderRequest) -> Account:
    account = rt.account(req.account, None)
    if not account.imap_host:
        raise ConfigError(f"accounts.{account.name}.imap_host is not set")
    if req.mode is Mode.TO_FOLDER and req.target == req.folder:
        raise UsageError("--to-folder names the folder being decrypted; use --in-place")
    return account


def _secret(rt: Runtime, account: Account) -> str:
    """The account's OAuth access token (``oauth_token_command``), else its password."""
    if account.oauth_token_command:
        what = f"accounts.{account.name}.oauth_token_command"
        return secrets.from_command(account.oauth_token_command, what)
    return rt.password(account)


def _session(rt: Runtime, account: Account, secret: str) -> ImapSession:
    """An authenticated connection: TLS verified (and pinned), then LOGIN or OAuth."""
    session = ImapSession.open(
        account.imap_host or "",
        account.imap_port,
        security=account.imap_security,
        context=rt.tls_context,
        resolver=rt.resolver,
        timeout=rt.settings.network.timeout,
        pin=account.imap_pin,
    )
    user = account.username or account.from_[0]
    try:
        if account.oauth_token_command:
            session.login_oauth(user, secret, account.auth_mechanism)
        else:
            session.login(user, secret)
    except BaseException:
        session.logout()
        raise
    return session


@dataclass(frozen=True)
class _Context:
    rt: Runtime
    req: FolderRequest
    account: Account
    secret: str  # password or OAuth token, for the second connection
    report: FolderReport
    progress: Progress | None


def _dry_run(ctx: _Context, source: ImapSession, uids: list[int]) -> None:
    """Fetch and classify only: what a real run would find, without decrypting."""
    report = ctx.report
    for chunk in pipeline.chunks(uids, ctx.req.batch_size):
        for m in source.fetch(chunk):
            env = pipeline.classify(m)
            report.kinds[env.kind.value] += 1
            if not env.encrypted:
                _refused(report, m, env)
            else:
                report.decrypted += 1
        if ctx.progress:
            ctx.progress(report)


def _refused(report: FolderReport, m: Fetched, env: reader.Envelope) -> None:
    item = Item(m.uid, env.message_id, env.note or env.kind.value)
    (report.failed if env.kind is reader.Kind.NESTED else report.skipped).append(item)


def _make_target(req: FolderRequest, writer: ImapSession) -> targets.Target:
    if req.mode is Mode.TO_FOLDER:
        return targets.FolderTarget(writer, req.target or "", req.folder)
    if req.mode is Mode.TO_MAILDIR:
        return targets.MaildirTarget(Path(req.target or "").expanduser())
    return targets.InPlaceTarget(writer, req.folder)


def _run(ctx: _Context, source: ImapSession, uids: list[int]) -> None:
    req, report = ctx.req, ctx.report
    writer = _session(ctx.rt, ctx.account, ctx.secret)
    try:
        target = _make_target(req, writer)
        index = target.index()
        if not writer.select(req.folder).keywords_allowed:
            report.notes.append(
                f"{req.folder} does not accept keywords: originals cannot be marked; "
                "re-runs rely on the copies' E2email-Decrypted field"
            )
        uidplus = writer.has("UIDPLUS")
        if req.mode is Mode.IN_PLACE:
            if not uidplus:
                report.notes.append(
                    "the server lacks UIDPLUS: originals were kept, marked $E2emailDecrypted"
                )
            _recover(writer, index, uidplus, report)
        flush = _Flusher(req.mode, writer, target, index, uidplus, report, ctx.progress)
        for results in pipeline.run(ctx.rt, source, uids, req.batch_size, req.workers):
            flush(results)
    finally:
        writer.logout()


def _recover(
    writer: ImapSession, index: set[targets.Key], uidplus: bool, report: FolderReport
) -> None:
    """In place: finish removing originals a killed run had confirmed and marked."""
    if not uidplus:
        return
    marked = writer.search(["KEYWORD", targets.KEYWORD, "DELETED"])
    done = [m.uid for m in writer.fetch(marked) if _copied(m, index)]
    report.removed += targets.remove(writer, done, uidplus).removed


def _copied(m: Fetched, index: set[targets.Key]) -> bool:
    """An original's copy is indexed (by hash alone only if the original has no Message-ID,
    as then the copy's comes from its protected headers)."""
    sha, mid = reader.original_sha256(m.raw), pipeline.classify(m).message_id
    if mid:
        return (sha, mid) in index
    return any(k[0] == sha for k in index)


class _Flusher:
    """Writes a batch of results: copies first, then the originals' marks."""

    def __init__(
        self,
        mode: Mode,
        writer: ImapSession,
        target: targets.Target,
        index: set[targets.Key],
        uidplus: bool,
        report: FolderReport,
        progress: Progress | None,
    ) -> None:
        self.mode, self.writer, self.target, self.index = mode, writer, target, index
        self.uidplus, self.report, self.progress = uidplus, report, progress

    def __call__(self, results: Sequence[pipeline.Result]) -> None:
        before = set(self.index)
        fresh: dict[targets.Key, targets.Copy] = {}
        for r in results:
            if r.copy is not None and r.copy.key not in before:
                fresh.setdefault(r.copy.key, r.copy)
        stored = self.target.store(list(fresh.values())) if fresh else set()
        self.index |= stored
        marked = [uid for r in results if (uid := self._count(r, before, stored, fresh))]
        self._finish(marked)
        if self.progress:
            self.progress(self.report)

    def _count(
        self,
        r: pipeline.Result,
        before: set[targets.Key],
        stored: set[targets.Key],
        fresh: dict[targets.Key, targets.Copy],
    ) -> int | None:
        """Book one result; the original's UID when it is to be marked (or removed)."""
        self.report.kinds[r.kind] += 1
        if r.copy is None:
            item = Item(r.message.uid, r.message_id, r.failed or r.skipped or "")
            (self.report.failed if r.failed else self.report.skipped).append(item)
            return None
        key = r.copy.key
        if key in stored and fresh.get(key) is r.copy:
            self.report.decrypted += 1
        elif key in before or key in stored:
            self.report.already += 1
        else:
            reason = "the decrypted copy could not be confirmed; original left as it was"
            self.report.failed.append(Item(r.message.uid, r.message_id, reason))
            return None
        return r.message.uid

    def _finish(self, uids: list[int]) -> None:
        if self.mode is Mode.IN_PLACE:
            out = targets.remove(self.writer, uids, self.uidplus)
            self.report.removed += out.removed
            self.report.kept += out.kept
        else:
            targets.mark(self.writer, uids)
