"""``e2email queue list|flush|drop``: JSON listing, exactly-once flushes under concurrency, and a
flush killed with SIGKILL at an arbitrary moment loses nothing."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from e2email.adapters.store.outbox import Envelope, Outbox
from tests.fakes.fixtures import fake_pki_fixture  # noqa: F401
from tests.fakes.pki import FakePki
from tests.fakes.smtp import FakeSmtp, Script, serve
from tests.services.fakes_support import config_text
from tests.support import cli_env

ENV = Envelope("work", "alice@example.test", ("bob@example.test",), message_id="<q@x>")


def e2email(tmp: Path, cfg: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "e2email.cli.main", "--config", str(cfg), *args],
        capture_output=True,
        env=cli_env(tmp),
        timeout=120,
        check=False,
    )


def setup(tmp: Path, fake: FakeSmtp, pki: FakePki, count: int) -> tuple[Path, Outbox, list[str]]:
    cfg = tmp / "config.toml"
    cfg.write_text(config_text(tmp, fake, pki))
    box = Outbox(tmp / "outbox")
    ids = [box.add(ENV, b"Subject: %d\r\n\r\nbody %d\r\n" % (n, n)) for n in range(count)]
    return cfg, box, ids


def subjects(fake: FakeSmtp) -> list[bytes]:
    return sorted(m.data.split(b"\r\n", 1)[0] for m in fake.messages)


def test_list_json_and_drop(tmp_path: Path, fake_pki: FakePki) -> None:
    with serve(Script(), (fake_pki.cert, fake_pki.key)) as fake:
        cfg, box, ids = setup(tmp_path, fake, fake_pki, 2)
    with box.claim(ids[1]) as c:
        assert c is not None
        c.fail("550 5.1.1 no such user")
    p = e2email(tmp_path, cfg, "queue", "list", "--json")
    assert p.returncode == 0, p.stderr.decode()
    listed = json.loads(p.stdout)
    assert [(e["id"], e["state"]) for e in listed] == [(ids[0], "queued"), (ids[1], "failed")]
    first = listed[0]
    assert first["recipients"] == ["bob@example.test"] and first["account"] == "work"
    assert first["message_id"] == "<q@x>" and first["size"] == len(b"Subject: 0\r\n\r\nbody 0\r\n")
    assert listed[1]["last_error"] == "550 5.1.1 no such user"
    p = e2email(tmp_path, cfg, "queue", "drop", ids[1])
    assert p.returncode == 0 and box.ids(failed=True) == []
    p = e2email(tmp_path, cfg, "queue", "drop", ids[1])
    assert p.returncode == 64 and b"no outbox entry" in p.stderr
    p = e2email(tmp_path, cfg, "queue", "drop", "../../etc/passwd")
    assert p.returncode == 64 and b"not an outbox ID" in p.stderr


def test_queue_disabled_is_78(tmp_path: Path, fake_pki: FakePki) -> None:
    with serve(Script(), (fake_pki.cert, fake_pki.key)) as fake:
        cfg = tmp_path / "config.toml"
        cfg.write_text(config_text(tmp_path, fake, fake_pki, outbox=False))
    p = e2email(tmp_path, cfg, "queue", "list")
    assert p.returncode == 78 and b"outbox is off" in p.stderr


def test_concurrent_flushes_send_each_message_exactly_once(
    tmp_path: Path, fake_pki: FakePki
) -> None:
    with serve(Script(stall_after_data=0.01), (fake_pki.cert, fake_pki.key)) as fake:
        cfg, box, _ = setup(tmp_path, fake, fake_pki, 24)
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "e2email.cli.main", "--config", str(cfg), "queue", "flush"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=cli_env(tmp_path),
            )
            for _ in range(3)
        ]
        results = [p.communicate(timeout=120) for p in procs]
        codes = [p.returncode for p in procs]
        fake.close()
        assert codes == [0, 0, 0], results
        assert subjects(fake) == sorted(b"Subject: %d" % n for n in range(24))
        assert sum(1 for s in fake.sessions if s.messages) >= 2  # they really ran side by side
    assert box.entries() == []


def test_flush_killed_at_any_moment_loses_nothing(tmp_path: Path, fake_pki: FakePki) -> None:
    rng = random.Random(9)
    script = Script(stall_after_data=0.03)
    with serve(script, (fake_pki.cert, fake_pki.key)) as fake:
        cfg, box, _ = setup(tmp_path, fake, fake_pki, 12)
        for _ in range(3):
            proc = subprocess.Popen(
                [sys.executable, "-m", "e2email.cli.main", "--config", str(cfg), "queue", "flush"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env=cli_env(tmp_path),
            )
            deadline = time.monotonic() + 30
            while not fake.messages and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(rng.uniform(0.0, 0.1))
            proc.send_signal(signal.SIGKILL)
            proc.wait(30)
        left = box.entries()
        assert left, "the kills should have interrupted the flush"
        script.stall_after_data = 0.0
        p = e2email(tmp_path, cfg, "queue", "flush")
        assert p.returncode == 0, p.stderr.decode()
        delivered = subjects(fake)
    assert sorted(set(delivered)) == sorted(b"Subject: %d" % n for n in range(12))
    # at most the message in flight at each kill can arrive twice; none is ever lost
    assert len(delivered) - len(set(delivered)) <= 3
    assert box.entries() == [] and box.ids(failed=True) == []
