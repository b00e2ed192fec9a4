"""The outbox on disk: exact bytes, private permissions, locks, and kill -9 at any moment."""

from __future__ import annotations

import os
import random
import re
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from e2email.adapters.store.outbox import MAGIC, Envelope, Outbox, decode, encode
from e2email.errors import InternalError, TemporaryFailure, UsageError
from tests.syscalls import traced

ENV = Envelope("work", "alice@example.test", ("bob@example.test",), message_id="<m@x>")
DATA = b"From: alice@example.test\r\nTo: bob@example.test\r\n\r\n-----BEGIN PGP MESSAGE-----\r\n"


def test_add_stores_the_exact_bytes_privately(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "state" / "outbox")
    entry_id = box.add(ENV, DATA)
    assert stat.S_IMODE(box.path.stat().st_mode) == 0o700
    for d in (box.tmp, box.queue, box.failed):
        assert stat.S_IMODE(d.stat().st_mode) == 0o700
    path = box.queue_path(entry_id)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    envelope, data = decode(path.read_bytes(), entry_id)
    assert data == DATA
    assert envelope.recipients == ENV.recipients and envelope.created > 0
    [entry] = box.entries()
    assert entry.id == entry_id and entry.size == len(DATA) and not entry.failed
    assert os.listdir(box.tmp) == []


def test_existing_loose_directory_is_tightened(tmp_path: Path) -> None:
    (tmp_path / "outbox").mkdir(mode=0o755)
    (tmp_path / "outbox").chmod(0o755)
    Outbox(tmp_path / "outbox").ensure()
    assert stat.S_IMODE((tmp_path / "outbox").stat().st_mode) == 0o700


@pytest.mark.parametrize(
    "damage",
    [
        lambda raw: raw[:-1],  # truncated data
        lambda raw: raw[:-3] + b"XYZ",  # changed data
        lambda raw: raw[: len(MAGIC) + 5],  # truncated record
        lambda raw: b"garbage" + raw,
    ],
)
def test_decode_refuses_anything_not_intact(damage: object) -> None:
    raw = encode(ENV, DATA)
    with pytest.raises(InternalError):
        decode(damage(raw), "x")  # type: ignore[operator]


def test_claim_is_exclusive_and_done_removes(tmp_path: Path) -> None:
    box = Outbox(tmp_path)
    entry_id = box.add(ENV, DATA)
    with box.claim(entry_id) as first:
        assert first is not None and first.data == DATA
        with box.claim(entry_id) as second:  # another open file description: locked out
            assert second is None
        with pytest.raises(TemporaryFailure, match="being sent"):
            box.drop(entry_id)
        first.done()
    assert box.entries() == []
    with box.claim(entry_id) as gone:
        assert gone is None


def test_defer_keeps_and_counts_fail_moves(tmp_path: Path) -> None:
    box = Outbox(tmp_path)
    a, b = box.add(ENV, DATA), box.add(ENV, DATA + b"2")
    for _ in range(2):
        with box.claim(a) as c:
            assert c is not None
            c.defer("451 try later")
    with box.claim(b) as c:
        assert c is not None
        c.fail("550 no such user")
    entries = {e.id: e for e in box.entries()}
    assert entries[a].status.attempts == 2 and entries[a].status.last_error == "451 try later"
    assert entries[b].failed and entries[b].status.last_error == "550 no such user"
    assert box.ids() == [a] and box.ids(failed=True) == [b]
    assert box.drop(b) and box.drop(a) and not box.drop(a)
    assert box.entries() == []


@pytest.mark.parametrize("bad", ["../../etc/passwd", "x", "20260101-000000-ABCDEF00", ""])
def test_ids_are_checked_before_touching_a_path(tmp_path: Path, bad: str) -> None:
    with pytest.raises(UsageError):
        Outbox(tmp_path).drop(bad)


def test_clean_tmp_removes_only_abandoned_files(tmp_path: Path) -> None:
    import fcntl

    box = Outbox(tmp_path).ensure()
    (box.tmp / "abandoned.tmp").write_bytes(b"half")
    busy = os.open(box.tmp / "busy.tmp", os.O_CREAT | os.O_WRONLY, 0o600)
    fcntl.flock(busy, fcntl.LOCK_EX)
    try:
        assert box.clean_tmp() == 1
        assert sorted(os.listdir(box.tmp)) == ["busy.tmp"]
    finally:
        os.close(busy)


WRITER = """
import sys
from pathlib import Path
from e2email.adapters.store.outbox import Envelope, Outbox
box = Outbox(Path(sys.argv[1]))
env = Envelope("work", "alice@example.test", ("bob@example.test",))
n = 0
while True:
    n += 1
    data = (b"%d:" % n) * (50000 + n)
    sys.stdout.write(f"{box.add(env, data)} {n}\\n")
    sys.stdout.flush()
"""


def test_kill_9_while_writing_leaves_only_complete_entries(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "outbox")
    rng = random.Random(5)
    reported: dict[str, int] = {}
    for _ in range(6):
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(box.path)],
            stdout=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        )
        assert proc.stdout is not None
        proc.stdout.readline()  # it is running and has stored at least one entry
        time.sleep(rng.uniform(0.0, 0.05))  # then kill it at an arbitrary moment
        proc.send_signal(signal.SIGKILL)
        out, _ = proc.communicate()
        proc.stdout.close()
        # A kill can land in the middle of a line: only complete lines were reported.
        for line in out.decode().split("\n")[:-1]:
            entry_id, n = line.split()
            reported[entry_id] = int(n)
    stored = {e.id: e for e in box.entries()}  # decode() verifies every size and checksum
    assert set(reported) <= set(stored), "an entry reported as stored is missing"
    for entry_id in stored:
        with box.claim(entry_id) as claim:
            assert claim is not None
            n = int(claim.data.split(b":", 1)[0])
            assert claim.data == (b"%d:" % n) * (50000 + n)
    leftovers = len(os.listdir(box.tmp))  # kills that landed mid-write leave a tmp file
    assert box.clean_tmp() == leftovers
    assert os.listdir(box.tmp) == []


ADD_ONE = """
import sys
from pathlib import Path
from e2email.adapters.store.outbox import Envelope, Outbox
env = Envelope("work", "alice@example.test", ("bob@example.test",))
print(Outbox(Path(sys.argv[1])).add(env, b"-----BEGIN PGP MESSAGE-----" * 1000), flush=True)
"""


def test_an_entry_is_synced_then_renamed_then_its_directory_synced(tmp_path: Path) -> None:
    # security.md item 8: "fsync + atomic rename". A kill -9 cannot show a missing fsync (the
    # page cache survives); a power cut would. So watch the system calls of a real add().
    box = Outbox(tmp_path / "outbox").ensure()
    proc, calls = traced(
        [sys.executable, "-c", ADD_ONE, str(box.path)],
        tmp_path / "strace.log",
        calls="openat,write,fsync,fdatasync,rename,renameat,renameat2",
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert proc.returncode == 0, proc.stderr.decode()
    entry_id = proc.stdout.decode().strip()
    final = str(box.queue_path(entry_id))
    tmp_name = f"{box.tmp}/{entry_id}.tmp"
    events = [(c.name, c.args) for c in calls if tmp_name in c.args or str(box.queue) in c.args]
    queue_dir = re.compile(rf"\d+<{re.escape(str(box.queue))}>")

    def first(pred: Callable[[str, str], bool], last: bool = False) -> int:
        found = [i for i, (n, a) in enumerate(events) if pred(n, a)]
        assert found, events
        return found[-1] if last else found[0]

    steps = [
        first(lambda n, a: n == "openat" and tmp_name in a),
        first(lambda n, a: n == "write" and tmp_name in a, last=True),
        first(lambda n, a: n in ("fsync", "fdatasync") and tmp_name in a),
        first(lambda n, a: n.startswith("rename") and final in a),
        first(lambda n, a: n == "fsync" and queue_dir.match(a) is not None),
    ]
    assert steps == sorted(steps), events  # written, synced, renamed into queue/, dir synced
    assert [e.id for e in box.entries()] == [entry_id]
