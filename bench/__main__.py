"""``python -m bench`` (``make bench``): every row of performance.md's target table, one table.

Runs each bench script in turn (never two at once: they would measure each other), each in
its own process with the test stack it starts itself, streams its output, then prints one
summary: the measured value, the target and met/MISSED per metric, with the machine it ran on.
Exits 1 if any target is missed or any bench failed.

    .venv/bin/python -m bench                    # everything (about 10 minutes)
    .venv/bin/python -m bench --only large_pgp discovery
    .venv/bin/python -m bench --quick            # fewer runs and smaller sizes (a smoke test)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

# script -> (full arguments, --quick arguments)
BENCHES: dict[str, tuple[list[str], list[str]]] = {
    "startup": ([], ["--runs", "10"]),
    "sendmail_path": ([], ["--runs", "5"]),
    "imap_decrypt": ([], ["--messages", "200", "--rounds", "1"]),
    "large_pgp": ([], ["--size", "20", "--rounds", "1"]),
    "large_smime": ([], ["--size", "20", "--rounds", "1"]),
    "discovery": ([], ["--runs", "3"]),
    "check_domains": ([], ["--runs", "2"]),
    "refresh": ([], ["--runs", "2", "--keys", "30"]),
}


def _first(cmd: list[str], pattern: str = "") -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, check=False).stdout
    except OSError:
        return "not found"
    lines = out.splitlines()
    for line in lines:
        if pattern in line:
            return line.strip()
    return lines[0].strip() if lines else "?"


def machine() -> str:
    """nproc, CPU model, memory, and the versions that matter."""
    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = Path("/proc/meminfo").read_text().split("\n", 1)[0].split()[1]
    py = platform.python_version()
    import cryptography

    return (
        f"{os.cpu_count()} CPUs ({cpu}), {int(mem) // 1024} MiB RAM, {platform.system()} "
        f"{platform.release()}; Python {py}, {_first(['gpg', '--version'])}, "
        f"{_first(['openssl', 'version'])}, cryptography {cryptography.__version__}"
    )


def loadavg() -> str:
    """The load averages now."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def run_one(name: str, args: list[str], results: Path) -> tuple[int, float]:
    """Run one bench script, its output streamed; (exit code, seconds)."""
    print(f"\n=== {name} {' '.join(args)} (load {loadavg()})", flush=True)
    env = os.environ | {"E2EMAIL_BENCH_RESULTS": str(results)}
    t0 = time.monotonic()
    argv = [sys.executable, str(HERE / f"{name}.py"), *args]
    code = subprocess.run(argv, env=env, check=False).returncode
    return code, time.monotonic() - t0


def summary(rows: list[dict[str, object]], failed: list[str]) -> bool:
    """Print the table; True when every target is met and every bench ran."""
    print("\n" + "=" * 100)
    print(machine())
    print(f"load average at the end: {loadavg()}")
    print(f"{'row':<36} {'metric':<26} {'measured':>9} {'target':>11}  verdict")
    for r in rows:
        sign = ">=" if r["at_least"] else "<="
        target = f"{sign} {float(str(r['target'])):.4g}"
        verdict = "met" if r["met"] else "MISSED"
        print(f"{r['row']!s:<36} {r['metric']!s:<26} {float(str(r['value'])):9.2f} {target:>11}"
              f"  {verdict}")  # fmt: skip
        if r.get("detail"):
            print(f"{'':<36}   {r['detail']}")
    for name in failed:
        print(f"{name:<36} {'(the bench failed)':<26} {'':>9} {'':>11}  ERROR")
    print("=" * 100)
    return not failed and all(r["met"] for r in rows)


def main() -> int:
    """Run the selected benches and print the summary."""
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", nargs="+", choices=sorted(BENCHES), help="run only these")
    ap.add_argument("--quick", action="store_true", help="fewer runs, smaller messages")
    args = ap.parse_args()
    names = args.only or list(BENCHES)
    os.chdir(ROOT)
    failed: list[str] = []
    rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory(prefix="e2email-bench-") as tmp:
        for name in names:
            results = Path(tmp) / f"{name}.jsonl"
            full, quick = BENCHES[name]
            code, seconds = run_one(name, quick if args.quick else full, results)
            text = results.read_text() if results.exists() else ""
            found = [json.loads(line) for line in text.splitlines()]
            print(f"=== {name}: exit {code} after {seconds:.0f} s", flush=True)
            if not found:
                failed.append(name)
            rows += found
    if args.quick:
        print("(--quick: smaller sizes and fewer runs than the targets are defined for)")
    return 0 if summary(rows, failed) else 1


if __name__ == "__main__":
    sys.exit(main())
