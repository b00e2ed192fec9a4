"""``e2email imap decrypt``: decrypt the encrypted messages of an IMAP folder."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from e2email.cli.common import runtime
from e2email.cli.output import STATE, print_json
from e2email.errors import EX_DATAERR, UsageError

if TYPE_CHECKING:  # the service (gpg, IMAP, S/MIME) is imported only when the command runs
    from e2email.services.imap.decrypt import FolderReport


@click.group("imap")
def imap_group() -> None:
    """Work on the mail stored on your IMAP server."""


@imap_group.command("decrypt")
@click.option("--account", required=True, metavar="NAME", help="Account with imap_host set.")
@click.option("--folder", required=True, metavar="FOLDER", help="Folder to decrypt, e.g. INBOX.")
@click.option(
    "--to-folder",
    metavar="NAME",
    help="Put decrypted copies in this IMAP folder (created if missing); the source is only read.",
)
@click.option(
    "--to-maildir",
    metavar="PATH",
    help="Put decrypted copies in a local Maildir; the source is only read, plaintext stays here.",
)
@click.option(
    "--in-place",
    is_flag=True,
    help="Replace each original by its decrypted copy, on the server (needs UIDPLUS).",
)
@click.option("--dry-run", is_flag=True, help="Only count what would be decrypted.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option(
    "--batch-size",
    type=click.IntRange(1, 1000),
    default=100,
    show_default=True,
    help="Messages per FETCH and per APPEND.",
)
@click.option(
    "--workers",
    type=click.IntRange(0, 64),
    default=0,
    help="Decryption threads, each with its own gpg [default: number of CPUs].",
)
@click.pass_context
def decrypt_command(
    ctx: click.Context,
    account: str,
    folder: str,
    to_folder: str | None,
    to_maildir: str | None,
    in_place: bool,
    dry_run: bool,
    as_json: bool,
    batch_size: int,
    workers: int,
) -> None:
    """Decrypt the PGP/MIME, inline PGP and S/MIME messages of FOLDER.

    Choose exactly one place for the decrypted copies:

    \b
      --to-folder NAME   another folder on the same server (the safe default)
      --to-maildir PATH  a Maildir on this computer: plaintext stays local
      --in-place         the same folder; each original is removed only after
                         its copy is stored and read back (UIDPLUS)

    Copies keep the original's flags, date and Message-ID, show the headers the
    sender protected (RFC 9788), and say in E2email-Signature whether the
    signature was good. The copy modes open FOLDER read-only and never change it
    (a folder you may only read is enough). What a destination already holds is
    read from the destination itself, so running the command again into it only
    adds new mail, while a new or emptied destination gets every message. A message that fails its integrity
    check, or whose encrypted part is not the whole message (EFAIL), is reported
    and never decrypted. The run logs in over verified TLS with the account's
    password, or its OAuth token (oauth_token_command: OAUTHBEARER/XOAUTH2);
    tls_fingerprint (or imap_tls_fingerprint) pins the server's certificate.
    Exit status: 0 when every message was handled (decrypted, already in the
    destination, or not encrypted), 65 when some could not be decrypted (they are
    listed), 64 for a bad command line or --in-place on a folder you may only
    read, 75/77/78 when the run itself failed (connection, credentials,
    configuration). See docs/imap.md.

    \b
    Example:
      e2email imap decrypt --account work --folder INBOX --to-folder Decrypted
    """
    from e2email.services.imap.decrypt import FolderRequest, Mode, decrypt_folder

    modes = [m for m, on in ((Mode.TO_FOLDER, to_folder), (Mode.TO_MAILDIR, to_maildir),
                             (Mode.IN_PLACE, in_place)) if on]  # fmt: skip
    if len(modes) != 1:
        raise UsageError("choose exactly one of --to-folder NAME, --to-maildir PATH, --in-place")
    req = FolderRequest(
        account=account,
        folder=folder,
        mode=modes[0],
        target=to_folder or to_maildir,
        dry_run=dry_run,
        batch_size=batch_size,
        workers=workers,
    )
    bar = _Bar() if not as_json and not STATE.quiet and sys.stderr.isatty() else None
    try:
        report = decrypt_folder(runtime(ctx), req, bar)
    finally:
        if bar is not None:
            bar.close()
    if as_json:
        print_json(report_json(report))
    else:
        _print_human(report)
    if report.failed:
        raise click.exceptions.Exit(EX_DATAERR)


class _Bar:
    """A progress bar on stderr, fed by the service's progress callback."""

    def __init__(self) -> None:
        self._bar: Any = None
        self._shown = 0

    def __call__(self, report: FolderReport) -> None:
        if self._bar is None:
            self._bar = click.progressbar(
                length=max(report.found, 1),
                label="decrypting",
                file=sys.stderr,
                width=30,
                show_pos=True,
            )
            self._bar.__enter__()
        done = min(report.done, report.found)
        self._bar.update(done - self._shown)
        self._shown = done

    def close(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)


def report_json(r: FolderReport) -> dict[str, Any]:
    """The summary as a JSON object."""
    rate = (r.decrypted / r.seconds) if r.seconds else 0.0
    return {
        "account": r.account,
        "folder": r.folder,
        "mode": r.mode,
        "target": r.target,
        "dry_run": r.dry_run,
        "found": r.found,
        "decrypted": r.decrypted,
        "skipped_existing": r.existing,
        "already_decrypted": r.existing,  # the older name of skipped_existing
        "removed": r.removed,
        "kept": r.kept,
        "skipped": [
            {"uid": i.uid, "message_id": i.message_id, "reason": i.reason} for i in r.skipped
        ],
        "failed": [
            {"uid": i.uid, "message_id": i.message_id, "reason": i.reason} for i in r.failed
        ],
        "kinds": dict(r.kinds),
        "notes": r.notes,
        "seconds": round(r.seconds, 3),
        "messages_per_second": round(rate, 1),
    }


def _print_human(r: FolderReport) -> None:
    where = f"{r.mode} {r.target}" if r.target else r.mode
    verb = "would decrypt" if r.dry_run else "decrypted"
    lines = [f"{r.folder} -> {where}: {r.found} candidate(s)", f"  {verb:<14}{r.decrypted}"]
    if r.existing or not r.decrypted:
        there = "would be skipped" if r.dry_run else "not decrypted again"
        lines.append(f"  {'already there':<14}{r.existing} (a copy is in the destination: {there})")
    if r.mode == "in-place" and not r.dry_run:
        lines.append(f"  {'removed':<14}{r.removed} original(s) replaced by their copy")
        if r.kept:
            lines.append(f"  {'kept':<14}{r.kept} original(s), labelled (no UIDPLUS)")
    lines.append(f"  {'skipped':<14}{len(r.skipped)}")
    lines += [f"    uid {i.uid} {i.message_id or ''}: {i.reason}" for i in r.skipped]
    lines.append(f"  {'failed':<14}{len(r.failed)}")
    lines += [f"    uid {i.uid} {i.message_id or ''}: {i.reason}" for i in r.failed]
    lines += [f"  note: {n}" for n in r.notes]
    lines.append(f"  {r.seconds:.1f} s")
    STATE.info("\n".join(lines))
