"""kill -9 in the middle of ``imap decrypt``, several times, then a run to the end.

The process group (e2email and its gpg workers) is killed with SIGKILL as soon as a few more
copies have appeared (on the server, or in the Maildir), so the kills land between APPEND,
read-back, STORE and EXPUNGE, or between Maildir deliveries, at varying points. Whatever the
point, the final state must hold every message exactly once, and the copy modes must have left
the source exactly as it was.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.services import imapcheck as check
from tests.services import imapcorpus as corpus
from tests.support import GpgHome, cli_env

pytestmark = pytest.mark.stack

COUNT = 40


def copies_in(conn: Any, box: str) -> int:
    if box.startswith("/"):  # --to-maildir
        return len(os.listdir(Path(box) / "cur")) if (Path(box) / "cur").is_dir() else 0
    if conn.select(box, readonly=True)[0] != "OK":
        return 0  # --to-folder: the run has not created the target yet
    typ, data = conn.uid("SEARCH", None, "HEADER", "E2email-Decrypted", "sha256:")
    return len(data[0].split()) if typ == "OK" else 0


def start(cfg: Path, env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "e2email.cli.main", "--config", str(cfg), "imap", "decrypt"]
    return subprocess.Popen(
        [*argv, "--account", "bob", *args, "--batch-size", "3"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def kill_after_progress(proc: subprocess.Popen[bytes], stack: Any, box: str, more: int) -> bool:
    """SIGKILL the whole process group once ``more`` new copies exist; False if it finished."""
    with check.imap(stack) as conn:
        base = copies_in(conn, box)
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            if copies_in(conn, box) >= base + more:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.communicate()
                return True
            time.sleep(0.005)
    proc.communicate()
    return False


@pytest.mark.parametrize("mode", ["--in-place", "--to-folder", "--to-maildir"])
def test_killed_runs_then_a_full_run_leave_every_message_exactly_once(
    stack: Any, homes: dict[str, GpgHome], tmp_path: Path, mode: str
) -> None:
    tag = uuid.uuid4().hex[:8]
    bulk = corpus.pgp_bulk(corpus.Producer(homes["alice"]), tag, COUNT, size=1024)
    box = f"Kill-{tag}"
    check.append(stack, box, bulk)
    before = check.state(stack, box)
    cfg = check.config(tmp_path, stack, homes["bob"].path)
    env = cli_env(tmp_path)
    target = {"--in-place": box, "--to-folder": f"{box}.Decrypted"}.get(mode, str(tmp_path / "M"))
    args = ["--folder", box, *([mode] if mode == "--in-place" else [mode, target])]
    kills = 0
    for more in (3, 5, 7):
        proc = start(cfg, env, *args)
        kills += kill_after_progress(proc, stack, target, more)
    assert kills >= 2, "the runs finished before they could be killed: nothing was tested"

    final = start(cfg, env, *args, "--json")
    out, err = final.communicate(timeout=120)
    assert final.returncode == 0, err.decode()
    report = json.loads(out)
    done = report["decrypted"] + report["skipped_existing"]
    if mode == "--in-place":  # originals already replaced are no longer candidates
        assert done == report["found"] == report["removed"], report
    else:  # the source still holds every original: each copy is found or made
        assert done == report["found"] == COUNT and report["skipped_existing"] > 0, report

    copies = maildir_copies(Path(target)) if mode == "--to-maildir" else copies_on(stack, target)
    for s in bulk:
        holders = [m for m in copies if s.marker.encode() + b". " in m.raw]
        assert len(holders) == 1, f"{s.name}: {len(holders)} copies"
        assert holders[0].internaldate == s.date.timestamp()
        if mode != "--to-maildir":  # a Maildir keeps system flags only (checked elsewhere)
            assert holders[0].user_flags == frozenset(s.flags)
    assert len(copies) == COUNT
    if mode == "--in-place":
        originals = check.messages(stack, box)
        assert len(originals) == COUNT, "in place must neither lose nor duplicate a message"
        assert not any(m.raw == s.raw for m in originals for s in bulk)
    else:
        assert check.state(stack, box) == before, "a copy mode changed the source"


def copies_on(stack: Any, folder: str) -> list[check.Msg]:
    return [m for m in check.messages(stack, folder) if m.header("E2email-Decrypted")]


def maildir_copies(path: Path) -> list[check.Msg]:
    files = sorted((path / "cur").iterdir())
    return [check.Msg(0, frozenset(), f.stat().st_mtime, f.read_bytes()) for f in files]
