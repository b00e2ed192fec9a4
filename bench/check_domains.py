"""Benchmark: ``e2email check`` of 20 domains against one domain (performance.md: <= 2x).

Starts the test stack (tests/stack), publishes 20 signed domains, each with its own MX host
name (all on one Postfix listener whose certificate names them all) and an MTA-STS policy
served with ``--latency`` seconds of added delay (like a distant web server), then times,
side by side and alternating:

* the command as a user runs it: ``e2email check D1`` versus ``e2email check D1 ... D20``;
* the service alone, in process (no interpreter start-up): ``check(rt, [...])``.

Every run uses a fresh cache directory, so every run fetches every policy and probes every
MX. Prints medians and the ratios. Needs root and the Debian packages of the test stack.

    .venv/bin/python bench/check_domains.py [--runs 5] [--latency 0.2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from common import loadavg, product_bin, record  # noqa: E402
from stack import start_stack  # noqa: E402
from stack.postfix import mx_options  # noqa: E402

from e2email import config  # noqa: E402
from e2email.services.runtime import Runtime  # noqa: E402
from e2email.services.transport.check import check  # noqa: E402

ZONE = "bench.test"
COUNT = 20


def build(stack: Any) -> list[str]:
    """20 domains dN.bench.test, MX mxN.bench.test, MTA-STS enforce."""
    ip = stack.alloc_ip()
    names = [f"mx{i}.{ZONE}" for i in range(COUNT)]
    cert = stack.pki.issue(names)
    stack.postfix.add_listener(ip, 25, mx_options("may", *cert))
    stack.postfix.reload()
    records = []
    for i in range(COUNT):
        records += [f"mx{i} A {ip}", f"d{i} MX 10 mx{i}", f'_mta-sts.d{i} TXT "v=STSv1; id=1"']
        records.append(f"mta-sts.d{i} CNAME example.test.")
        root = stack.https.docroot(f"mta-sts.d{i}.{ZONE}") / ".well-known"
        root.mkdir(exist_ok=True)
        policy = f"version: STSv1\nmode: enforce\nmx: mx{i}.{ZONE}\nmax_age: 86400\n"
        (root / "mta-sts.txt").write_text(policy)
    stack.dns.add_zone(ZONE, records, signed=True)
    return [f"d{i}.{ZONE}" for i in range(COUNT)]


def write_config(info: dict[str, Any], directory: Path) -> Path:
    """A config with a fresh transport cache."""
    cfg = directory / "config.toml"
    cfg.write_text(
        textwrap.dedent(f"""\
        [network]
        nameservers = ["{info["nameserver"]}"]
        ca_file = "{info["ca"]}"
        smtp_probe_port = 25
        transport_cache_dir = "{directory / "cache"}"
        """)
    )
    return cfg


def time_cli(info: dict[str, Any], domains: list[str]) -> float:
    """Wall time of one ``e2email check`` process."""
    with tempfile.TemporaryDirectory() as tmp:
        cfg = write_config(info, Path(tmp))
        cmd = [str(product_bin() / "e2email"), "--config", str(cfg), "check", *domains]
        t0 = time.perf_counter()
        p = subprocess.run(cmd, capture_output=True, text=True, check=False)
        elapsed = time.perf_counter() - t0
    if p.returncode != 0 or p.stdout.count(": mta-sts - ") != len(domains):
        raise SystemExit(f"unexpected result:\n{p.stdout}\n{p.stderr}")
    return elapsed


def time_service(info: dict[str, Any], domains: list[str]) -> float:
    """Wall time of the check service alone."""
    with tempfile.TemporaryDirectory() as tmp:
        rt = Runtime(config.load(str(write_config(info, Path(tmp)))))
        t0 = time.perf_counter()
        reports = check(rt, domains)
        elapsed = time.perf_counter() - t0
    if [r.verdict for r in reports] != ["mta-sts"] * len(domains):
        raise SystemExit(f"unexpected verdicts: {[r.reason for r in reports]}")
    return elapsed


def serve(latency: float) -> None:
    """Child process: run the stack (its HTTPS server is a thread) until stdin closes."""
    with start_stack() as stack:
        domains = build(stack)
        stack.https.delay = latency
        info = {"nameserver": stack.nameserver, "ca": str(stack.ca_pem), "domains": domains}
        print(json.dumps(info), flush=True)
        sys.stdin.read()


def main() -> int:
    """Run the comparison, print medians and ratios, judge the service's ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--latency", type=float, default=0.2, help="added HTTPS delay (s)")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.latency)
        return 0
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve", "--latency", str(args.latency)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdin is not None and child.stdout is not None
    try:
        info = json.loads(child.stdout.readline())
        results = measure(info, args.runs)
    finally:
        child.stdin.close()
        child.wait(timeout=60)
    return 0 if report(results, args) else 1


def measure(info: dict[str, Any], runs: int) -> dict[str, list[float]]:
    """Alternate 1-domain and 20-domain runs, process and service."""
    domains = info["domains"]
    results: dict[str, list[float]] = {"cli-1": [], "cli-20": [], "svc-1": [], "svc-20": []}
    time_service(info, domains)  # warm-up: imports, first handshakes
    for _ in range(runs):
        results["cli-1"].append(time_cli(info, domains[:1]))
        results["cli-20"].append(time_cli(info, domains))
        results["svc-1"].append(time_service(info, domains[:1]))
        results["svc-20"].append(time_service(info, domains))
    return results


def report(results: dict[str, list[float]], args: argparse.Namespace) -> bool:
    """Medians and ratios; the in-process ratio (median of the runs' ratios) is judged."""
    med = {k: statistics.median(v) for k, v in results.items()}
    print(
        f"check, {COUNT} domains vs 1, MTA-STS server latency {args.latency:g} s, "
        f"medians of {args.runs} runs; load {loadavg()}"
    )
    for label, key in (("e2email check (process)", "cli"), ("check service (in process)", "svc")):
        one, many = med[f"{key}-1"], med[f"{key}-20"]
        print(
            f"  {label}: 1 domain {one:.3f} s, {COUNT} domains {many:.3f} s, ratio {many / one:.2f}"
        )
    ratio = statistics.median(
        m / o for m, o in zip(results["svc-20"], results["svc-1"], strict=True)
    )
    detail = (f"1: {med['svc-1']:.3f} s, {COUNT}: {med['svc-20']:.3f} s "
              f"(command: {med['cli-20'] / med['cli-1']:.2f}x)")  # fmt: skip
    return record(f"check of {COUNT} domains", "time vs 1 domain", ratio, 2.0, at_least=False,
                  detail=detail)  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
