"""``e2email imap decrypt`` against the stack's Dovecot: the three modes, hostile mail, re-runs.

The corpus (tests/services/imapcorpus.py) is made by gpg and openssl and APPENDed with
imaplib; results are read back with imaplib and from Dovecot's files on disk. Every good
message carries a marker that must come out readable; every hostile one a marker that must
appear nowhere: not on the server (any folder, on disk), not in a Maildir, not in the output.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.services import imapcheck as check
from tests.services import imapcorpus as corpus
from tests.support import Cli, GpgHome, cli_env

pytestmark = pytest.mark.stack


@pytest.fixture
def samples(homes: dict[str, GpgHome]) -> list[corpus.Sample]:
    return corpus.build(corpus.Producer(homes["alice"]), uuid.uuid4().hex[:8])


@pytest.fixture
def folder(stack: Any, samples: list[corpus.Sample]) -> str:
    name = "Enc-" + uuid.uuid4().hex[:8]
    check.append(stack, name, samples)
    return name


@pytest.fixture
def cli(tmp_path: Path, stack: Any, homes: dict[str, GpgHome]) -> Cli:
    return Cli(check.config(tmp_path, stack, homes["bob"].path), cli_env(tmp_path))


GOOD = {"pgpmime", "signed", "attach", "hp", "multisigned", "inline", "smime", "smimesigned"}


def run(cli: Cli, *args: str) -> tuple[int, dict[str, Any], bytes]:
    p = cli("imap", "decrypt", "--account", "bob", *args, "--json")
    out = p.stdout + p.stderr
    return p.returncode, json.loads(p.stdout) if p.stdout.strip() else {}, out


def by_id(msgs: list[check.Msg]) -> dict[str, list[check.Msg]]:
    out: dict[str, list[check.Msg]] = {}
    for m in msgs:
        out.setdefault(m.header("Message-ID") or "", []).append(m)
    return out


def assert_copies(copies: list[check.Msg], samples: list[corpus.Sample]) -> None:
    """One copy per good sample: readable, same flags, same INTERNALDATE, same Message-ID."""
    ids = by_id(copies)
    for s in samples:
        if s.name not in GOOD:
            continue
        [copy] = ids[s.message_id]
        assert s.marker.encode() in copy.raw, s.name
        assert copy.user_flags == frozenset(s.flags), s.name
        assert copy.internaldate == s.date.timestamp(), s.name
        assert (copy.header("E2email-Signature") or "").startswith("good" if s.signed else "none")
        assert b"-----BEGIN PGP MESSAGE-----" not in copy.raw
        if s.subject:
            assert copy.header("Subject") == s.subject


def assert_hostile_nowhere(stack: Any, samples: list[corpus.Sample], *blobs: bytes) -> None:
    server = check.disk_bytes(stack.dovecot.maildir(check.BOB).parent)
    for s in samples:
        if s.name in corpus.hostile_names():
            for blob in (server, *blobs):
                assert s.marker.encode() not in blob, s.name


def test_to_folder_decrypts_good_mail_and_releases_nothing_hostile(
    stack: Any, cli: Cli, folder: str, samples: list[corpus.Sample]
) -> None:
    target = folder + ".Decrypted"
    code, report, out = run(cli, "--folder", folder, "--to-folder", target)
    assert code == 65, out  # some messages could not be decrypted: they are listed
    assert report["decrypted"] == len(GOOD)
    failed = {f["message_id"] for f in report["failed"]}
    assert failed == {
        s.message_id for s in samples if s.name in {"nomdc", "flipped", "efailinline"}
    }
    copies = check.messages(stack, target)
    assert len(copies) == len(GOOD)
    assert_copies(copies, samples)
    assert_hostile_nowhere(stack, samples, out, b"".join(m.raw for m in copies))
    originals = {m.raw: m for m in check.messages(stack, folder)}
    for s in samples:
        assert originals[s.raw].user_flags == frozenset(s.flags), f"{s.name}: source changed"

    code, again, out = run(cli, "--folder", folder, "--to-folder", target)
    assert again["decrypted"] == 0 and again["skipped_existing"] == len(GOOD)
    assert again["already_decrypted"] == again["skipped_existing"], "the older name stays"
    assert check.count(stack, target) == len(GOOD), "a second run added copies"
    assert_hostile_nowhere(stack, samples, out)


def test_to_maildir_keeps_plaintext_off_the_server(
    stack: Any, cli: Cli, folder: str, samples: list[corpus.Sample], tmp_path: Path
) -> None:
    maildir = tmp_path / "Mail" / "decrypted"
    code, report, out = run(cli, "--folder", folder, "--to-maildir", str(maildir))
    assert code == 65 and report["decrypted"] == len(GOOD), out
    files = sorted((maildir / "cur").iterdir())
    assert len(files) == len(GOOD)
    assert all(f.stat().st_mode & 0o077 == 0 for f in files)
    texts = b"".join(f.read_bytes() for f in files)
    server = check.disk_bytes(stack.dovecot.maildir(check.BOB).parent)
    for s in samples:
        if s.name in GOOD:
            assert s.marker.encode() in texts, s.name
            assert s.marker.encode() not in server, f"{s.name}: plaintext went back to the server"
    signed = next(s for s in samples if s.name == "signed")
    [f] = [f for f in files if signed.message_id.encode() in f.read_bytes()]
    assert f.name.endswith(":2,F") and f.stat().st_mtime == signed.date.timestamp()
    assert_hostile_nowhere(stack, samples, out, texts)
    code, again, _ = run(cli, "--folder", folder, "--to-maildir", str(maildir))
    assert again["decrypted"] == 0 and again["skipped_existing"] == len(GOOD)
    assert len(list((maildir / "cur").iterdir())) == len(GOOD)


def test_in_place_replaces_each_original_and_loses_nothing(
    stack: Any, cli: Cli, folder: str, samples: list[corpus.Sample]
) -> None:
    before = check.count(stack, folder)
    code, report, out = run(cli, "--folder", folder, "--in-place")
    assert code == 65, out
    assert report["decrypted"] == len(GOOD) and report["removed"] == len(GOOD)
    after = check.messages(stack, folder)
    assert len(after) == before
    raws = {m.raw for m in after}
    for s in samples:
        assert (s.raw in raws) == (s.name not in GOOD), s.name
    assert_copies([m for m in after if m.header("E2email-Decrypted")], samples)
    assert_hostile_nowhere(stack, samples, out)
    code, again, _ = run(cli, "--folder", folder, "--in-place")
    assert again["decrypted"] == 0 and check.count(stack, folder) == before


def test_dry_run_counts_and_changes_nothing(
    stack: Any, cli: Cli, folder: str, samples: list[corpus.Sample]
) -> None:
    before = check.messages(stack, folder)
    code, report, out = run(cli, "--folder", folder, "--to-folder", folder + ".X", "--dry-run")
    assert code == 65 and report["dry_run"] is True, out
    assert report["decrypted"] == len(GOOD) + 2  # would try: nomdc and flipped fail only then
    assert report["found"] == len(samples) - 3  # plain text and two EFAIL wrappers: no match
    assert check.messages(stack, folder) == before
    assert not check.folder_exists(stack, folder + ".X")


def test_a_copy_left_by_a_crash_is_not_duplicated(
    stack: Any, cli: Cli, samples: list[corpus.Sample]
) -> None:
    """Killed right after an APPEND: the copy is in the destination, found there by the next
    run (the original's hash and Message-ID), and not written twice."""
    good = [s for s in samples if s.name in ("pgpmime", "smime")]
    first, second = "Crash-" + uuid.uuid4().hex[:8], "Crash-" + uuid.uuid4().hex[:8]
    check.append(stack, first, good)
    run(cli, "--folder", first, "--to-folder", first + ".D")
    copies = check.messages(stack, first + ".D")
    check.append(stack, second, good)
    check.append(stack, second + ".D", [corpus.Sample("c", m.raw, "", True) for m in copies])
    code, report, out = run(cli, "--folder", second, "--to-folder", second + ".D")
    assert code == 0, out
    assert report["decrypted"] == 0 and report["skipped_existing"] == 2
    assert check.count(stack, second + ".D") == 2
    assert all(m.user_flags == frozenset(s.flags) for m, s in
               zip(check.messages(stack, second), good, strict=True))  # fmt: skip


def test_in_place_finishes_what_a_killed_run_confirmed(
    stack: Any, cli: Cli, samples: list[corpus.Sample]
) -> None:
    """Killed after the copy was stored: once before the mark, once before the EXPUNGE."""
    good = [s for s in samples if s.name in ("pgpmime", "signed")]
    donor = "Donor-" + uuid.uuid4().hex[:8]
    check.append(stack, donor, good)
    run(cli, "--folder", donor, "--to-folder", donor + ".D")
    copies = {m.header("Message-ID"): m.raw for m in check.messages(stack, donor + ".D")}
    box = "Half-" + uuid.uuid4().hex[:8]
    check.append(stack, box, good)
    check.append(stack, box, [corpus.Sample("c", raw, "", True) for raw in copies.values()])
    with check.imap(stack) as c:
        c.select(box)
        c.uid("STORE", "2", "+FLAGS", "(\\Deleted $E2emailDecrypted)")
    code, report, out = run(cli, "--folder", box, "--in-place")
    assert code == 0, out
    left = check.messages(stack, box)
    assert sorted(m.raw for m in left) == sorted(copies.values())
    assert report["removed"] == 2 and report["decrypted"] == 0


def test_a_message_claiming_to_be_the_copy_does_not_cost_the_original(
    stack: Any, cli: Cli, samples: list[corpus.Sample]
) -> None:
    """In place, a planted message naming the original's hash (but not its Message-ID) is
    not taken for its decrypted copy: the original is decrypted, never just deleted."""
    original = next(s for s in samples if s.name == "pgpmime")
    sha = hashlib.sha256(original.raw).hexdigest()
    planted = corpus.crlf(
        f"From: mallory@evil.test\nSubject: decoy\nMessage-ID: <decoy@evil.test>\n"
        f"E2email-Decrypted: protocol=pgp-mime; original=sha256:{sha}\n\nnothing\n".encode()
    )
    box = "Decoy-" + uuid.uuid4().hex[:8]
    check.append(stack, box, [original, corpus.Sample("decoy", planted, "", False)])
    code, report, out = run(cli, "--folder", box, "--in-place")
    assert code == 0, out
    assert report["decrypted"] == 1 and report["skipped_existing"] == 0
    left = check.messages(stack, box)
    assert len(left) == 2
    assert any(original.marker.encode() in m.raw for m in left)


def test_a_decoy_for_an_original_without_message_id_does_not_cost_it(
    stack: Any, cli: Cli, samples: list[corpus.Sample]
) -> None:
    """An original without Message-ID can only be matched by its hash: in place, that is never
    taken as proof that its copy exists (a planted message could name the hash), so the
    original is decrypted and its copy stored, never just deleted."""
    pgp = next(s for s in samples if s.name == "pgpmime")
    raw = re.sub(rb"(?im)^Message-ID:[^\r\n]*\r\n", b"", pgp.raw)
    assert b"message-id" not in raw.split(b"\r\n\r\n", 1)[0].lower()
    sha = hashlib.sha256(raw).hexdigest()
    planted = corpus.crlf(
        f"From: mallory@evil.test\nSubject: decoy\n"
        f"E2email-Decrypted: protocol=pgp-mime; original=sha256:{sha}\n\nnothing\n".encode()
    )
    box = "NoId-" + uuid.uuid4().hex[:8]
    check.append(stack, box, [corpus.Sample("noid", raw, pgp.marker, True),
                              corpus.Sample("decoy", planted, "", False)])  # fmt: skip
    code, report, out = run(cli, "--folder", box, "--in-place")
    assert code == 0, out
    assert report["decrypted"] == 1 and report["removed"] == 1, report
    assert any(pgp.marker.encode() in m.raw for m in check.messages(stack, box))
