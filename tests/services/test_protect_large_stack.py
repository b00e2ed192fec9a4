"""A 50 MiB attachment: delivered intact, without holding several copies in memory.

Two measurements per protocol, each in a fresh process:

* protection alone (``protect.build_copies``, what this code owns): the attachment is
  base64-encoded on the fly into gpg or the CMS writer, gpg's output goes through a file, and
  the finished copy is read back once. Bound: performance.md's targets, with the final copy
  as "message size" (PGP/MIME <= 1.5x + 64 MiB, S/MIME <= 2.5x + 64 MiB).
* the whole ``e2email send`` (CLI, submission included) under the same bounds (the copy
  streams from a spool file into SMTP DATA), and what Postfix delivered is decrypted by
  gpg / openssl and compared byte for byte.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.services.protect_helpers import make_cli
from tests.support import SMIME, Cli, GpgHome

MiB = 1 << 20
SIZE = 50 * MiB

WRAPPER = (  # RUSAGE_CHILDREN: the CLI and gpg, forked from this small wrapper, not pytest
    "import resource, subprocess, sys\n"
    "p = subprocess.run(sys.argv[1:])\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)\n"
    "sys.exit(p.returncode)\n"
)

PROTECT_ONLY = """
import sys, time
from datetime import UTC, datetime
from pathlib import Path
from e2email import config
from e2email.core import compose
from e2email.core.compose import Attachment, Draft, Mailbox
from e2email.core.mime import Stream
from e2email.model import Address, Recipient, Role
from e2email.services.protect import copies as protect
from e2email.services import send
from e2email.services.runtime import Runtime

rt = Runtime(config.load(sys.argv[1]))
alice, bob = Address("alice", "example.test"), Address("bob", "example.test")
plan = send.make_plan(rt, alice, (Recipient(bob, Role.TO),))
draft = Draft(Mailbox(alice), (Mailbox(bob),), "big", "see attached\\n",
              "Sun, 22 Nov 2026 10:00:00 +0000", "<big@example.test>",
              attachments=(Attachment("big.bin", "application/octet-stream", Stream("big")),))
start = time.monotonic()
[copy] = protect.build_copies(rt, plan, compose.outgoing(draft), {"big": Path(sys.argv[2])})
took = time.monotonic() - start
# VmHWM belongs to this address space; ru_maxrss would include pytest's at fork time
hwm = [ln for ln in Path("/proc/self/status").read_text().splitlines() if ln.startswith("VmHWM")]
print(hwm[0].split()[1], len(copy.data), took)
"""


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    path = tmp_path_factory.mktemp("large") / "big.bin"
    data = os.urandom(SIZE)
    path.write_bytes(data)
    return path, hashlib.sha256(data).hexdigest()


def protect_only(cli: Cli, attachment: Path) -> tuple[int, int, float]:
    """(peak RSS in bytes, size of the protected copy, seconds) of build_copies alone."""
    p = subprocess.run(
        [sys.executable, "-c", PROTECT_ONLY, str(cli.config), str(attachment)],
        capture_output=True,
        env=cli.env,
        check=False,
        timeout=300,
    )
    assert p.returncode == 0, p.stderr.decode()
    rss, size, took = p.stdout.split()
    return int(rss) * 1024, int(size), float(took)


def cli_peak(cli: Cli, attachment: Path) -> int:
    """Peak RSS (bytes) of the largest process of a whole ``e2email send``."""
    cmd = [sys.executable, "-c", WRAPPER, sys.executable, "-m", "e2email.cli.main"]
    cmd += ["--config", str(cli.config), "send", "--from", "alice@example.test"]
    cmd += ["--to", "bob@example.test", "--subject", "big", "--attach", str(attachment)]
    p = subprocess.run(
        cmd, input=b"see attached\n", capture_output=True, env=cli.env, timeout=300, check=False
    )
    assert p.returncode == 0, p.stderr.decode()
    return int(p.stderr.split()[-1]) * 1024


def attachment_digest(mime_text: bytes) -> str:
    """SHA-256 of the base64 attachment part of a decrypted multipart/mixed entity."""
    m = re.search(rb'filename="big.bin"\r?\nContent-Transfer-Encoding: base64\r?\n\r?\n', mime_text)
    assert m, mime_text[:2000]
    end = mime_text.index(b"\n--", m.end())
    return hashlib.sha256(base64.b64decode(mime_text[m.end() : end])).hexdigest()


def report(label: str, rss: int, size: int, took: float = 0.0) -> None:
    print(f"{label}: peak RSS {rss / MiB:.0f} MiB for a {size / MiB:.0f} MiB copy ({took:.2f} s)")


def test_large_attachment_pgpmime(
    stack: Any, tmp_path: Path, big: tuple[Path, str], gpg_home: Callable[..., GpgHome]
) -> None:
    attachment, digest = big
    alice = gpg_home(secret=["alice"], public=["bob"])
    bob = gpg_home(secret=["bob"], public=["alice"])
    cli = make_cli(tmp_path, stack, alice.path, smime=False)
    rss, size, took = protect_only(cli, attachment)
    report("PGP/MIME protect", rss, size, took)
    assert rss <= 1.5 * size + 64 * MiB
    before = stack.sink.snapshot()
    peak = cli_peak(cli, attachment)
    report("PGP/MIME whole CLI", peak, size)
    assert peak <= 1.5 * size + 64 * MiB  # the copy streams from a spool into DATA
    [raw] = stack.sink.wait_new(before, 1, timeout=60)
    ct = tmp_path / "ct.asc"
    ct.write_bytes(raw[raw.index(b"-----BEGIN PGP MESSAGE-----") :])
    out = tmp_path / "pt.eml"
    d = bob.run("--status-fd", "2", "--output", str(out), "--decrypt", str(ct), check=False)
    assert d.returncode == 0, d.stderr.decode()[-2000:]
    assert b"GOODMDC" in d.stderr and b"VALIDSIG" in d.stderr
    assert attachment_digest(out.read_bytes()) == digest


def test_large_attachment_smime(
    stack: Any, tmp_path: Path, big: tuple[Path, str], gpg_home: Callable[..., GpgHome]
) -> None:
    attachment, digest = big
    alice = gpg_home(secret=["alice"])
    cli = make_cli(tmp_path, stack, alice.path, certs=("bob",))  # signed, then encrypted
    rss, size, took = protect_only(cli, attachment)
    report("S/MIME protect", rss, size, took)
    assert rss <= 2.5 * size + 64 * MiB
    before = stack.sink.snapshot()
    peak = cli_peak(cli, attachment)
    report("S/MIME whole CLI", peak, size)
    assert peak <= 2.5 * size + 64 * MiB
    [raw] = stack.sink.wait_new(before, 1, timeout=60)
    msg = tmp_path / "in.eml"
    msg.write_bytes(raw)
    out = tmp_path / "pt.eml"
    cmd = ["openssl", "cms", "-decrypt", "-in", str(msg), "-out", str(out)]
    cmd += ["-recip", str(SMIME / "bob.pem"), "-inkey", str(SMIME / "bob.key")]
    r = subprocess.run(cmd, capture_output=True, check=False, timeout=120)
    assert r.returncode == 0, r.stderr.decode()
    assert attachment_digest(out.read_bytes()) == digest
