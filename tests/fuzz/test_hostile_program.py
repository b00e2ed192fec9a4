"""The whole program against hostile input: 1,200 generated messages and command lines fed to
``e2email-sendmail`` and ``e2email send --message -``, with the stack's Postfix behind them.

Every run must end with a sysexits code that is not "internal error" (70), at most one line on
stderr (unless the vector itself asked for -v), no traceback, no hang, never the body's
plaintext in an error, never a password; and nothing may reach the wire unencrypted, because the
policy says every message is encrypted (bob has a key; no one else does).

The runs are in-process (the same ``run`` functions the console scripts call), for speed; a
sample goes through the real console scripts to check the in-process harness hides nothing.
"""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

from e2email.cli.output import STATE
from tests.fuzz.hostile import MARKER, Vector, huge_header, vectors
from tests.support import GpgHome, account_toml, cli_env, write_config

pytestmark = pytest.mark.stack

COUNT = 1200
SUBPROCESS_SAMPLE = 40
EXITS = {0, 64, 65, 66, 67, 68, 69, 73, 74, 75, 76, 77, 78}  # sysexits, without 70 (software)
HANG_SECONDS = 30
BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class Outcome:
    code: int
    stderr: str


class Hang(Exception):
    """A run took longer than HANG_SECONDS."""


@pytest.fixture(scope="module")
def env(stack: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    tmp = tmp_path_factory.mktemp("hostile")
    home = Path(tmp / "gnupg")
    home.mkdir(mode=0o700)
    gpg = GpgHome(home)
    gpg.import_secret("alice")
    gpg.import_public("bob")
    body = (
        account_toml(stack) + '\n[discovery]\nmethods = ["local"]\n[policy]\nencrypt = "required"\n'
    )
    cfg = write_config(tmp, stack, home, body)
    values = cli_env(tmp) | {"E2EMAIL_CONFIG": str(cfg), "XDG_STATE_HOME": str(tmp / "state")}
    yield values
    gpg.close()


@contextmanager
def isolated(env: dict[str, str], stdin: bytes) -> Iterator[None]:
    """One in-process run: its environment, stdin, and a fresh verbosity; a watchdog for hangs."""
    saved_env, saved_stdin, saved_state = dict(os.environ), sys.stdin, replace(STATE)

    def alarm(_sig: int, _frame: FrameType | None) -> None:
        raise Hang

    os.environ.update(env)
    sys.stdin = io.TextIOWrapper(io.BytesIO(stdin))
    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(HANG_SECONDS)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
        sys.stdin = saved_stdin
        STATE.verbose, STATE.quiet = saved_state.verbose, saved_state.quiet
        os.environ.clear()
        os.environ.update(saved_env)


def sendmail(vector: Vector) -> int:
    from e2email.cli.sendmail import run

    return run(list(vector.argv))


def send_message(vector: Vector) -> int:
    from e2email.cli.app import run

    recipients = [w for w in vector.argv if not w.startswith("-")]
    args = ["send", "--message", "-", *(["--to", r] for r in recipients[:3])]
    flat = [a for item in args for a in (item if isinstance(item, list) else [item])]
    try:
        run(flat)
    except SystemExit as e:
        return int(e.code or 0)
    return 0


def run_in_process(
    call: Callable[[Vector], int], vector: Vector, env: dict[str, str], capsys: Any
) -> Outcome:
    with isolated(env, vector.stdin):
        try:
            code = call(vector)
        except Hang:
            code = -1
    return Outcome(code, capsys.readouterr().err)


def problems(vector: Vector, outcome: Outcome, secrets: list[str]) -> list[str]:
    """What is wrong with one run, if anything."""
    out = []
    if outcome.code == -1:
        out.append(f"hung for {HANG_SECONDS}s")
    elif outcome.code not in EXITS:
        out.append(f"exit {outcome.code}: {outcome.stderr[-300:]!r}")
    verbose = any(re.fullmatch(r"-v+", w) for w in vector.argv)
    lines = [ln for ln in outcome.stderr.splitlines() if ln.strip()]
    if not verbose and ("Traceback" in outcome.stderr or len(lines) > 1):
        out.append(f"{len(lines)} stderr lines: {outcome.stderr[:300]!r}")
    if MARKER in outcome.stderr:
        out.append("the body's plaintext is in the error")
    if any(s in outcome.stderr for s in secrets):
        out.append("a secret is in the error")
    return out


def test_hostile_messages_and_argv(
    stack: Any, env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    before = stack.sink.snapshot()
    secrets = list(stack.users.values())
    failures, codes = [], {}
    only = {int(x) for x in os.environ.get("E2EMAIL_HOSTILE_ONLY", "").split(",") if x}
    for i, generated in enumerate(vectors(COUNT)):
        if only and i not in only:
            continue
        call = send_message if i % 5 == 4 else sendmail
        vector = replace(generated, stdin=b"X-Vector: %d\r\n" % i + generated.stdin)
        outcome = run_in_process(call, vector, env, capsys)
        codes[outcome.code] = codes.get(outcome.code, 0) + 1
        for p in problems(vector, outcome, secrets):
            failures.append(f"#{i} {call.__name__} {vector.kind} {vector.argv!r}: {p}")
    assert not failures, "\n".join(failures[:30])
    if only:
        return
    assert codes.get(0, 0) > 50, f"too few vectors were sent at all: {codes}"
    assert set(codes) - {0}, codes
    delivered = stack.sink.read_all()
    leaked = [re.findall(rb"X-Vector: (\d+)", m) for m in delivered if MARKER.encode() in m]
    assert not leaked, f"vectors whose plaintext reached the wire: {leaked}"
    assert len(stack.sink.snapshot() - before) >= 1


def test_console_scripts_behave_like_the_harness(stack: Any, env: dict[str, str]) -> None:
    """A sample through the real executables: same rules, no in-process effects hidden."""
    secrets = list(stack.users.values())
    failures = []
    for i, vector in enumerate(vectors(SUBPROCESS_SAMPLE, seed=7)):
        p = subprocess.run([str(BIN / "e2email-sendmail"), *vector.argv], input=vector.stdin,
                           capture_output=True, env=env, timeout=HANG_SECONDS, check=False)  # fmt: skip
        outcome = Outcome(p.returncode, p.stderr.decode("utf-8", "replace"))
        failures += [
            f"#{i} {vector.kind} {vector.argv!r}: {x}" for x in problems(vector, outcome, secrets)
        ]
    assert not failures, "\n".join(failures)


def test_a_100_mb_header_ends_in_at_most_one_line(env: dict[str, str]) -> None:
    import random

    data = huge_header(random.Random(1), 100 << 20)
    p = subprocess.run([str(BIN / "e2email-sendmail"), "-i", "bob@example.test"], input=data,
                       capture_output=True, env=env, timeout=120, check=False)  # fmt: skip
    lines = p.stderr.decode().splitlines()
    assert p.returncode in EXITS and len(lines) <= 1, (p.returncode, lines[:5])
    assert MARKER not in p.stderr.decode()
