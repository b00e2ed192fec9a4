"""Benchmark: start-up of ``e2email --version`` and the ``e2email-sendmail`` help path against
``python -c pass`` (performance.md: each <= 3x).

The three commands run alternating, each through the venv's real interpreter (the console
scripts' own shebang), so drift on the machine affects all alike. Prints medians of wall time
and the ratios; exits 1 if a target is missed.

    .venv/bin/python bench/startup.py [--runs 40]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

from common import loadavg, product_bin, record

TARGET = 3.0


def commands() -> dict[str, list[str]]:
    """What is timed, by label: the installed console scripts and their own interpreter."""
    bin_dir = product_bin()
    return {
        "python -c pass": [str(bin_dir / "python"), "-c", "pass"],
        "e2email --version": [str(bin_dir / "e2email"), "--version"],
        "e2email-sendmail --help": [str(bin_dir / "e2email-sendmail"), "--help"],
    }


def once(cmd: list[str]) -> float:
    """Wall seconds of one run; the command must succeed."""
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> int:
    """Time, print, judge."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=40)
    args = ap.parse_args()
    cmds = commands()
    for cmd in cmds.values():  # warm the page cache and .pyc files
        once(cmd)
    times: dict[str, list[float]] = {label: [] for label in cmds}
    for _ in range(args.runs):
        for label, cmd in cmds.items():
            times[label].append(once(cmd))
    base = statistics.median(times["python -c pass"])
    print(f"start-up, medians of {args.runs} runs; load {loadavg()}")
    print(f"{'command':<26} {'median ms':>10} {'ratio':>7}")
    for label, samples in times.items():
        med = statistics.median(samples)
        print(f"{label:<26} {med * 1000:10.1f} {med / base:7.2f}")
    ok = True
    for label, samples in times.items():
        if label != "python -c pass":
            med = statistics.median(samples)
            detail = f"{med * 1000:.0f} ms vs python -c pass {base * 1000:.0f} ms"
            ok = record(f"start-up: {label}", "time vs python -c pass", med / base, TARGET,
                        at_least=False, detail=detail) and ok  # fmt: skip
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
