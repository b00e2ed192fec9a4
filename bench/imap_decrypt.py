"""Benchmark: ``e2email imap decrypt`` against a loop of one ``gpg --decrypt`` per message
(performance.md: 1,000 PGP/MIME 4 KB cv25519 messages in Dovecot copied to another folder at
>= 1.5x the loop's throughput).

The bench starts the test stack (tests/stack: Dovecot on a private 127.A.B.0/24 block), makes
the corpus with gpg (alice -> bob, cv25519, no compression, ~4 KB of text each), writes every
message to disk and APPENDs it to a fresh folder. Then, per round, side by side:

* reference: ``for f in *.eml; do gpg --decrypt "$f" >/dev/null; done`` (a shell loop, the
  messages already on disk, no IMAP at all);
* e2email: the whole ``e2email imap decrypt --to-folder`` command (process start, IMAP fetch,
  decryption, APPEND; the source is only read), on its own copy of the folder.

After each round, a second run into the same destination measures a re-run: it reads the
destination's copies (SEARCH + header FETCH), finds every original there and decrypts nothing
(the last one is printed, no target).

Both decrypt with the same GnuPG home, agent warmed up. Prints messages/second of each per
round and their medians, and exits 1 if the median of the per-round ratios (each round's two
runs are seconds apart, so machine drift cancels) is below the target.

    .venv/bin/python bench/imap_decrypt.py [--messages 1000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common import loadavg, product_bin, record  # noqa: E402

from tests.services import imapcheck  # noqa: E402
from tests.services import imapcorpus as corpus  # noqa: E402
from tests.stack import start_stack  # noqa: E402

TARGET = 1.5


def make_corpus(alice: corpus.GpgHome, count: int, workdir: Path) -> list[Path]:
    """``count`` PGP/MIME messages (one gpg --encrypt-files run), written as .eml files."""
    plain = workdir / "plain"
    plain.mkdir()
    filler = ("lorem ipsum dolor sit amet " * 160)[:4000]
    names = []
    for i in range(count):
        p = plain / f"m{i:05d}"
        p.write_bytes(corpus.text_part(f"BENCH-{i}") + filler.encode() + b"\r\n")
        names.append(str(p))
    for start in range(0, count, 200):
        alice.run("-a", "-r", "bob@example.test", "--compress-algo", "none", "--encrypt-files",
                  *names[start : start + 200])  # fmt: skip
    out = workdir / "eml"
    out.mkdir()
    files = []
    for i, name in enumerate(names):
        armored = Path(name + ".asc").read_bytes()
        raw = corpus.pgp_mime(f"<bench{i}@example.test>", f"bench {i}", armored)
        f = out / f"m{i:05d}.eml"
        f.write_bytes(raw)
        files.append(f)
    return files


def reference(bob: Path, eml_dir: Path) -> float:
    """Seconds for the shell loop of one gpg --decrypt per message."""
    script = (
        f'for f in "{eml_dir}"/*.eml; do gpg --homedir "{bob}" --batch --quiet --decrypt "$f" '
        ">/dev/null || exit 1; done"
    )
    t0 = time.perf_counter()
    subprocess.run(["/bin/sh", "-c", script], check=True, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def e2email(cfg: Path, env: dict[str, str], folder: str) -> tuple[float, dict[str, object]]:
    """Seconds for the whole ``imap decrypt`` command, and its JSON report."""
    argv = [str(product_bin() / "e2email"), "--config", str(cfg), "imap", "decrypt",
            "--account", "bob", "--folder", folder, "--to-folder", folder + ".Decrypted", "--json"]  # fmt: skip
    t0 = time.perf_counter()
    p = subprocess.run(argv, env=env, capture_output=True, check=False)
    elapsed = time.perf_counter() - t0
    if p.returncode != 0:
        raise SystemExit(f"e2email failed ({p.returncode}): {p.stderr.decode()}")
    return elapsed, json.loads(p.stdout)


def main() -> int:
    """Build, time side by side, print, judge."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    alice, bob = corpus.make_home("alice", "bob"), corpus.make_home("bob", "alice")
    work = Path(tempfile.mkdtemp(prefix="e2email-bench-"))
    try:
        with start_stack() as stack:
            files = make_corpus(alice, args.messages, work)
            samples = [corpus.Sample(f.stem, f.read_bytes(), "", True, ("\\Seen",)) for f in files]
            cfg = imapcheck.config(work, stack, bob.path)
            env = {"PATH": "/usr/bin:/bin", "HOME": str(work), "LANG": "C.UTF-8"}
            bob.run("--decrypt", str(files[0]))  # start and warm the agent
            ref_times, e2_times = [], []
            for r in range(args.rounds):
                folder = f"Bench{r}"
                imapcheck.append(stack, folder, samples)
                ref_times.append(reference(bob.path, files[0].parent))
                seconds, report = e2email(cfg, env, folder)
                if report["decrypted"] != args.messages:
                    raise SystemExit(f"e2email decrypted {report['decrypted']} of {args.messages}")
                e2_times.append(seconds)
                print(f"round {r + 1}: gpg loop {args.messages / ref_times[-1]:7.1f} msg/s   "
                      f"e2email {args.messages / seconds:7.1f} msg/s   "
                      f"ratio {ref_times[-1] / seconds:.2f}x", flush=True)  # fmt: skip
            rerun, again = e2email(cfg, env, folder)
            if again["decrypted"] != 0 or again["skipped_existing"] != args.messages:
                raise SystemExit(f"the re-run was not a no-op: {again}")
    finally:
        alice.close()
        bob.close()
        subprocess.run(["rm", "-rf", str(work)], check=False)
    ref = args.messages / statistics.median(ref_times)
    print(f"re-run into the same destination: {rerun:.2f} s, nothing decrypted")
    ours = args.messages / statistics.median(e2_times)
    ratio = statistics.median(r / e for r, e in zip(ref_times, e2_times, strict=True))
    print(f"gpg --decrypt loop: {ref:.1f} messages/s (median of {args.rounds})")
    print(f"e2email imap decrypt --to-folder: {ours:.1f} messages/s (median of {args.rounds})")
    print(f"load {loadavg()}")
    detail = f"gpg loop {ref:.0f} msg/s, e2email {ours:.0f} msg/s, {args.messages} messages"
    ok = record("IMAP folder decryption", "throughput vs gpg loop", ratio, TARGET, at_least=True,
                detail=detail)  # fmt: skip
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
