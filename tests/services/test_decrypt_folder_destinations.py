"""``imap decrypt`` into several destinations: each one is judged by what it holds itself.

The copy modes only read the source (EXAMINE, BODY.PEEK, no STORE): its flags, keywords,
MODSEQs, UNSEEN and RECENT counts are compared before and after with stdlib imaplib (STATUS,
FETCH MODSEQ; RFC 7162). A second folder, a Maildir, a deleted or emptied destination get
every message again; the same destination gets nothing twice, and the summary says why.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.services import imapcheck as check
from tests.services import imapcorpus as corpus
from tests.services.test_decrypt_folder_stack import GOOD, assert_copies, run
from tests.support import Cli, GpgHome, cli_env

pytestmark = pytest.mark.stack


@pytest.fixture
def cli(tmp_path: Path, stack: Any, homes: dict[str, GpgHome]) -> Cli:
    return Cli(check.config(tmp_path, stack, homes["bob"].path), cli_env(tmp_path))


@pytest.fixture
def box(stack: Any, homes: dict[str, GpgHome]) -> tuple[str, list[corpus.Sample]]:
    samples = corpus.build(corpus.Producer(homes["alice"]), uuid.uuid4().hex[:8])
    name = "Dest-" + uuid.uuid4().hex[:8]
    check.append(stack, name, samples)
    return name, samples


def maildir_copies(path: Path) -> list[check.Msg]:
    """A Maildir's messages in the shape imapcheck gives server messages (for assert_copies)."""
    out = []
    for f in sorted((path / "cur").iterdir()):
        letters = f.name.rsplit(":2,", 1)[1]
        flags = {"\\Seen" for c in letters if c == "S"} | {"\\Flagged" for c in letters if c == "F"}
        flags |= {"\\Answered" for c in letters if c == "R"}
        raw = f.read_bytes().replace(b"\n", b"\r\n")
        out.append(check.Msg(0, frozenset(flags), f.stat().st_mtime, raw))
    return out


def assert_holds_every_message(copies: list[check.Msg], samples: list[corpus.Sample]) -> None:
    assert len(copies) == len(GOOD)
    assert_copies(copies, samples)


def test_two_folders_then_a_maildir_each_get_every_message_and_the_source_stays_as_it_was(
    stack: Any, cli: Cli, box: tuple[str, list[corpus.Sample]], tmp_path: Path
) -> None:
    folder, samples = box
    before = check.state(stack, folder)
    assert before.status["RECENT"] == len(samples) and before.status["UNSEEN"] > 0
    for target in (folder + ".A", folder + ".B"):
        code, report, out = run(cli, "--folder", folder, "--to-folder", target)
        assert code == 65, out  # the hostile samples are listed as failed
        assert report["decrypted"] == len(GOOD) and report["skipped_existing"] == 0, target
        assert_holds_every_message(check.messages(stack, target), samples)
        assert check.state(stack, folder) == before, f"the run into {target} changed the source"
    maildir = tmp_path / "Mail"
    code, report, out = run(cli, "--folder", folder, "--to-maildir", str(maildir))
    assert report["decrypted"] == len(GOOD) and report["skipped_existing"] == 0, out
    copies = maildir_copies(maildir)
    assert len(copies) == len(GOOD)
    for m, s in ((m, s) for m in copies for s in samples if s.message_id.encode() in m.raw):
        assert s.marker.encode() in m.raw and m.internaldate == s.date.timestamp(), s.name
    assert check.state(stack, folder) == before, "the run into the Maildir changed the source"


def test_the_same_destination_gets_nothing_twice_and_the_summary_says_why(
    stack: Any, cli: Cli, box: tuple[str, list[corpus.Sample]]
) -> None:
    folder, _ = box
    target = folder + ".Again"
    run(cli, "--folder", folder, "--to-folder", target)
    code, dry, out = run(cli, "--folder", folder, "--to-folder", target, "--dry-run")
    assert code == 65 and dry["skipped_existing"] == len(GOOD), out
    assert dry["decrypted"] == 2, "nomdc and flipped have no copy: they fail only when decrypted"
    p = cli("imap", "decrypt", "--account", "bob", "--folder", folder, "--to-folder", target)
    human = p.stdout.decode()
    assert "decrypted     0" in human, human
    assert f"already there {len(GOOD)} (a copy is in the destination" in human, human
    assert check.count(stack, target) == len(GOOD), "a re-run added copies"


def test_a_deleted_or_emptied_destination_gets_every_message_again(
    stack: Any, cli: Cli, box: tuple[str, list[corpus.Sample]], tmp_path: Path
) -> None:
    folder, samples = box
    target, maildir = folder + ".Gone", tmp_path / "Mail"
    run(cli, "--folder", folder, "--to-folder", target)
    run(cli, "--folder", folder, "--to-maildir", str(maildir))
    with check.imap(stack) as c:
        assert c.delete(target)[0] == "OK"
    shutil.rmtree(maildir / "cur")
    code, report, out = run(cli, "--folder", folder, "--to-folder", target)
    assert report["decrypted"] == len(GOOD) and report["skipped_existing"] == 0, out
    assert_holds_every_message(check.messages(stack, target), samples)
    code, report, out = run(cli, "--folder", folder, "--to-maildir", str(maildir))
    assert code == 65 and report["decrypted"] == len(GOOD), out
    assert report["skipped_existing"] == 0
    assert len(list((maildir / "cur").iterdir())) == len(GOOD)
