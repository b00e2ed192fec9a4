"""A large attachment, encrypted and submitted, against the reference tool encrypting the same
file (performance.md rows "large message" and "large message, S/MIME"). Used by
``bench/large_pgp.py`` and ``bench/large_smime.py``.

Side by side, alternating, in every round:

* reference: ``gpg -a -e --compress-algo none -r bob FILE`` (PGP/MIME row) or
  ``openssl cms -encrypt -stream -binary -aes256 -in FILE bob.pem`` (S/MIME row), output to
  a file;
* e2email: the whole ``e2email send --attach FILE`` command as a user runs it (process
  start, MIME encoding, encryption, submission over STARTTLS + AUTH to the stack's Postfix
  and its final 250), with the same work as the reference: one recipient, no signature, no
  copy to self.

Throughput ratio = reference seconds / e2email seconds per round (the same file, so the byte
counts cancel); median over the rounds. Peak RSS is the largest process of e2email's tree
(wait4), judged against 1.5x (PGP/MIME) or 2.5x (S/MIME) the attachment + 64 MiB. The
delivered message is decrypted once (gpg / openssl) and compared with the file.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common import (
    SMIME,
    MiB,
    Run,
    account_toml,
    clean_env,
    clear_sink,
    gnupg_home,
    kill_agent,
    loadavg,
    median,
    network_toml,
    product_bin,
    record,
    run,
    serve,
    stack_process,
    wait_sink,
)

RCPT = "bob@example.test"


@dataclass(frozen=True)
class Row:
    """What differs between the two rows."""

    name: str
    label: str
    throughput: float  # minimum e2email / reference throughput
    rss_factor: float  # peak RSS <= factor x attachment + 64 MiB


PGP = Row("large message, PGP/MIME", "gpg -a -e --compress-algo none", 0.5, 1.5)
SMIME_ROW = Row("large message, S/MIME", "openssl cms -encrypt -stream", 0.3, 2.5)


@dataclass
class Setup:
    """Files and commands of one bench run."""

    tmp: Path
    attachment: Path
    digest: str
    reference: list[str]
    e2email: list[str]
    env: dict[str, str]
    homes: list[Path]


def attachment(tmp: Path, size: int) -> tuple[Path, str]:
    """``size`` random bytes (incompressible, as archives and media are) and their SHA-256."""
    path = tmp / "big.bin"
    digest = hashlib.sha256()
    with path.open("wb") as f:
        left = size
        while left:
            block = os.urandom(min(left, 8 * MiB))
            digest.update(block)
            f.write(block)
            left -= len(block)
    return path, digest.hexdigest()


def setup(row: Row, info: dict[str, Any], tmp: Path, size: int, homes: list[Path]) -> Setup:
    """The attachment, a user's keys and config, and both command lines."""
    file, digest = attachment(tmp, size)
    alice = gnupg_home(tmp, "alice", ("bob",) if row is PGP else ())
    homes.append(alice)
    body = account_toml(info) + network_toml(info)
    body += f'[outbox]\npath = "{tmp / "outbox"}"\n'
    body += f'[openpgp]\ngnupghome = "{alice}"\nsign = false\nencrypt_to_self = false\n'
    if row is PGP:
        body += '[discovery]\nmethods = ["local"]\n'
        ref = ["gpg", "--homedir", str(alice), "--batch", "--yes", "-a", "-e"]
        ref += ["--compress-algo", "none", "-r", RCPT, "-o", str(tmp / "ref.asc"), str(file)]
    else:
        certs = tmp / "certs"
        certs.mkdir()
        shutil.copy(SMIME / "bob.pem", certs)
        body += '[discovery]\nmethods = ["local"]\n'
        body += f'[smime]\ncertificates_dir = "{certs}"\ntrust_anchors = "{SMIME / "ca.pem"}"\n'
        body += "sign = false\nencrypt_to_self = false\n"
        ref = ["openssl", "cms", "-encrypt", "-stream", "-binary", "-aes256", "-in", str(file)]
        ref += ["-out", str(tmp / "ref.p7m"), str(SMIME / "bob.pem")]
    cfg = tmp / "config.toml"
    cfg.write_text(body)
    e2 = [
        str(product_bin() / "e2email"),
        "--config",
        str(cfg),
        "send",
        "--from",
        "alice@example.test",
    ]
    e2 += ["--to", RCPT, "--subject", "big", "--attach", str(file)]
    return Setup(tmp, file, digest, ref, e2, clean_env(tmp), homes)


def send(s: Setup, info: dict[str, Any]) -> Run:
    """One timed ``e2email send``, then (untimed) wait for Postfix's delivery and clear it."""
    r = run(s.e2email, stdin=b"see attached\n", env=s.env)
    wait_sink(info, 1)
    clear_sink(info)
    return r


def verify(row: Row, s: Setup, info: dict[str, Any]) -> None:
    """Send once and check, with the reference tool, that bob gets the file intact."""
    clear_sink(info)
    run(s.e2email, stdin=b"see attached\n", env=s.env)
    [delivered] = wait_sink(info, 1)
    raw = delivered.read_bytes()
    delivered.unlink()
    plain = s.tmp / "plain.eml"
    if row is PGP:
        bob = gnupg_home(s.tmp, "bob", ())
        s.homes.append(bob)
        start = raw.index(b"-----BEGIN PGP MESSAGE-----")
        cmd = ["gpg", "--homedir", str(bob), "--batch", "-o", str(plain), "-d"]
        subprocess.run(cmd, input=raw[start:], check=True, capture_output=True)
    else:
        cipher = s.tmp / "in.eml"
        cipher.write_bytes(raw)
        cmd = ["openssl", "cms", "-decrypt", "-in", str(cipher), "-out", str(plain)]
        cmd += ["-recip", str(SMIME / "bob.pem"), "-inkey", str(SMIME / "bob.key")]
        subprocess.run(cmd, check=True, capture_output=True)
        cipher.unlink()
    del raw
    text = plain.read_bytes()
    plain.unlink()
    m = re.search(rb'filename="big.bin"\r?\nContent-Transfer-Encoding: base64\r?\n\r?\n', text)
    if not m:
        raise SystemExit("the delivered message has no big.bin attachment")
    end = text.index(b"\n--", m.end())
    if hashlib.sha256(base64.b64decode(text[m.end() : end])).hexdigest() != s.digest:
        raise SystemExit("the attachment bob decrypted differs from the file sent")
    print("  delivered message decrypted by the reference tool: attachment intact", flush=True)


def measure(row: Row, s: Setup, info: dict[str, Any], rounds: int) -> tuple[list[Run], list[Run]]:
    """Alternate reference and e2email runs."""
    run(s.reference)  # warm-up: page cache, the agent, .pyc files
    refs, ours = [], []
    for i in range(rounds):
        refs.append(run(s.reference))
        ours.append(send(s, info))
        size = s.attachment.stat().st_size
        print(
            f"  round {i + 1}: reference {size / refs[-1].wall / 1e6:6.1f} MB/s "
            f"(peak {refs[-1].peak / MiB:4.0f} MiB)   e2email {size / ours[-1].wall / 1e6:6.1f} "
            f"MB/s (peak {ours[-1].peak / MiB:4.0f} MiB, cpu {ours[-1].cpu:.2f} s)   "
            f"ratio {refs[-1].wall / ours[-1].wall:.2f}",
            flush=True,
        )
    return refs, ours


def judge(row: Row, size: int, refs: list[Run], ours: list[Run]) -> bool:
    """Record the throughput ratio and the peak RSS."""
    ratio = median([r.wall / o.wall for r, o in zip(refs, ours, strict=True)])
    peak = median([o.peak for o in ours]) / MiB
    limit = (row.rss_factor * size) / MiB + 64
    detail = (
        f"{size / 1e6:.0f} MB: {row.label} {size / median([r.wall for r in refs]) / 1e6:.0f} MB/s,"
        f" e2email send {size / median([o.wall for o in ours]) / 1e6:.0f} MB/s"
    )
    ok = record(row.name, "throughput vs reference", ratio, row.throughput, at_least=True,
                detail=detail)  # fmt: skip
    return record(row.name, "peak RSS MiB", peak, limit, at_least=False, detail=detail) and ok


def main(row: Row) -> int:
    """Parse arguments; serve the stack or run the comparison."""
    ap = argparse.ArgumentParser(description=f"{row.name}: e2email send vs {row.label}")
    ap.add_argument("--size", type=float, default=100, help="attachment size in MB (10^6)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve()
        return 0
    size = int(args.size * 1e6)
    with stack_process(sys.argv[0]) as info:
        tmp = Path(tempfile.mkdtemp(prefix="e2b-large-", dir="/var/tmp"))
        homes: list[Path] = []
        try:
            s = setup(row, info, tmp, size, homes)
            print(f"{row.name}: {size / 1e6:.0f} MB attachment; load {loadavg()}", flush=True)
            verify(row, s, info)
            refs, ours = measure(row, s, info, args.rounds)
        finally:
            for home in homes:
                kill_agent(home)
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"  load {loadavg()}")
    return 0 if judge(row, size, refs, ours) else 1
