"""``e2email-sendmail`` against servers that misbehave the way Postfix will not: exit codes and
what reached the wire (a partial RCPT refusal, 451 after DATA, a reset mid-DATA)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from e2email.adapters.store.outbox import Outbox
from tests.fakes.fixtures import fake_pki_fixture  # noqa: F401
from tests.fakes.pki import FakePki
from tests.fakes.smtp import FakeSmtp, Script, serve
from tests.services.fakes_support import config_text
from tests.support import GpgHome, cli_env

SENDMAIL = Path(sys.executable).parent / "e2email-sendmail"
MESSAGE = b"From: alice@example.test\nTo: bob@example.test\nCc: carol@example.test\nSubject: s\n\nsecret body\n"


@pytest.fixture
def alice(gpg_home: Callable[..., GpgHome]) -> GpgHome:
    return gpg_home(secret=["alice"], public=["bob", "carol"])


def run(
    tmp: Path, fake: FakeSmtp, pki: FakePki, home: GpgHome
) -> subprocess.CompletedProcess[bytes]:
    cfg = tmp / "config.toml"
    extra = f'\n[openpgp]\ngnupghome = "{home.path}"\n\n[discovery]\nmethods = ["local"]\n'
    cfg.write_text(config_text(tmp, fake, pki) + extra)
    return subprocess.run(
        [str(SENDMAIL), "-t", "-i"],
        input=MESSAGE,
        capture_output=True,
        env=cli_env(tmp) | {"E2EMAIL_CONFIG": str(cfg)},
        timeout=120,
        check=False,
    )


def test_partial_rcpt_refusal_is_69_naming_the_refused(
    tmp_path: Path, fake_pki: FakePki, alice: GpgHome
) -> None:
    script = Script(
        rcpt_replies={"carol@example.test": b"550 5.1.1 <carol@example.test>: unknown\r\n"}
    )
    with serve(script, (fake_pki.cert, fake_pki.key)) as fake:
        p = run(tmp_path, fake, fake_pki, alice)
        fake.close()
    assert p.returncode == 69, p.stderr.decode()
    err = p.stderr.decode()
    assert "carol@example.test: 550" in err and "nothing sent" in err
    assert fake.messages == []
    assert not any(c.startswith("DATA") for s in fake.sessions for _, c in s.commands)
    assert Outbox(tmp_path / "outbox").entries() == []


@pytest.mark.parametrize(
    "script",
    [Script(final_replies=[b"451 4.3.0 try later\r\n"]), Script(reset_after_data_bytes=64)],
    ids=["451-after-data", "reset-mid-data"],
)
def test_temporary_failure_is_0_and_queues_only_ciphertext(
    tmp_path: Path, fake_pki: FakePki, alice: GpgHome, script: Script
) -> None:
    with serve(script, (fake_pki.cert, fake_pki.key)) as fake:
        p = run(tmp_path, fake, fake_pki, alice)
        fake.close()
    assert p.returncode == 0, p.stderr.decode()
    assert b"queued as" in p.stderr
    assert fake.messages == []
    box = Outbox(tmp_path / "outbox")
    [entry] = box.entries()
    assert set(entry.envelope.recipients) == {"bob@example.test", "carol@example.test"}
    stored = next(box.queue.glob("*.msg")).read_bytes()
    assert b"-----BEGIN PGP MESSAGE-----" in stored and b"secret body" not in stored
