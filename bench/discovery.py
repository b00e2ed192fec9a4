"""Benchmark: key discovery for 20 recipients on 20 WKD domains against one recipient, every
HTTPS answer delayed by 200 ms (performance.md: <= 2x one recipient's time).

The stack runs in a child process (its HTTPS server is Python threads: in the measured
process they would compete with the client's threads for the GIL). It serves one key with
20 user IDs, ``many@dNN.kd.test``, from 20 signed domains (the world of
tests/services/discover_helpers.py). Side by side, alternating, each run with a fresh key
store and cache (so every run asks every server):

* the service in process: ``discover.discover(rt, addresses)`` (what a send does first);
* the command a user runs: ``e2email keys locate ADDR... --json`` (process start included).

Prints medians and ratios; the service's ratio is judged (the command's is lower, its fixed
start-up cost is the same for 1 and 20). Exits 1 if it misses the target.

    .venv/bin/python bench/discovery.py [--runs 7] [--latency 0.2]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import clean_env, loadavg, median, product_bin, record, run, serve, stack_process

TARGET = 2.0


def build(stack: Any, latency: float) -> dict[str, Any]:
    """In the stack's process: publish the 20 domains and the key, then add the latency."""
    from tests.services import discover_helpers as world

    built = world.build_world(stack)
    built.keys.close()  # the keys are published; their maker's agent is not needed
    stack.https.delay = latency
    return {"domains": world.domains(), "fpr": built.many_fpr}


def config_text(info: dict[str, Any], tmp: Path) -> str:
    """WKD only, a fresh store and cache under ``tmp``."""
    home = tmp / "gnupg"
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    return (
        f'[openpgp]\ngnupghome = "{home}"\n'
        f'[network]\nnameservers = ["{info["nameserver"]}"]\nca_file = "{info["ca"]}"\n'
        "timeout = 10\n"
        f'[discovery]\nmethods = ["wkd"]\nstore_dir = "{tmp / "store"}"\n'
        f'cache_dir = "{tmp / "cache"}"\ntimeout = 10\n'
    )


def time_service(info: dict[str, Any], addresses: list[str]) -> float:
    """Seconds of one discovery run in this process (interpreter and imports already warm)."""
    from e2email import config
    from e2email.core.addresses import parse_addr_spec
    from e2email.services.discovery import discover
    from e2email.services.runtime import Runtime

    with tempfile.TemporaryDirectory(prefix="e2b-disc-") as d:
        tmp = Path(d)
        rt = Runtime(config.parse(config_text(info, tmp), env={"HOME": str(tmp)}))
        wanted = [parse_addr_spec(a) for a in addresses]
        t0 = time.perf_counter()
        found = discover.discover(rt, wanted)
        elapsed = time.perf_counter() - t0
    keys = [f.key.fingerprint if f.key else None for f in found.values()]
    if keys != [info["fpr"]] * len(addresses):
        raise SystemExit(f"discovery did not find every key: {keys}")
    return elapsed


def time_cli(info: dict[str, Any], addresses: list[str]) -> float:
    """Seconds of one ``e2email keys locate`` process."""
    with tempfile.TemporaryDirectory(prefix="e2b-disc-") as d:
        tmp = Path(d)
        cfg = tmp / "config.toml"
        cfg.write_text(config_text(info, tmp))
        argv = [str(product_bin() / "e2email"), "--config", str(cfg), "keys", "locate", *addresses]
        r = run([*argv, "--json"], env=clean_env(tmp), ok=lambda out: out.count(info["fpr"].encode()) >= len(addresses))  # fmt: skip
    return r.wall


def main() -> int:
    """Serve the stack, or time both sizes alternating and judge."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--latency", type=float, default=0.2, help="added HTTPS delay (s)")
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(lambda stack: build(stack, args.latency))
        return 0
    with stack_process(sys.argv[0], "--latency", str(args.latency)) as info:
        many = [f"many@{d}" for d in info["domains"]]
        print(f"key discovery (WKD), 20 recipients on 20 domains vs 1, server latency "
              f"{args.latency:g} s; load {loadavg()}", flush=True)  # fmt: skip
        time_service(info, many)  # warm-up: imports, the server's per-host certificates
        res: dict[str, list[float]] = {"svc-1": [], "svc-20": [], "cli-1": [], "cli-20": []}
        for _ in range(args.runs):
            res["svc-1"].append(time_service(info, many[:1]))
            res["svc-20"].append(time_service(info, many))
            res["cli-1"].append(time_cli(info, many[:1]))
            res["cli-20"].append(time_cli(info, many))
    print(json.dumps({k: [round(v, 3) for v in vs] for k, vs in res.items()}))
    med = {k: median(v) for k, v in res.items()}
    for label, key in (("service (in process)", "svc"), ("e2email keys locate", "cli")):
        one, twenty = med[f"{key}-1"], med[f"{key}-20"]
        print(f"  {label}: 1 recipient {one:.3f} s, 20 recipients {twenty:.3f} s, "
              f"ratio {twenty / one:.2f}")  # fmt: skip
    print(f"  load {loadavg()}")
    ratio = median([m / o for m, o in zip(res["svc-20"], res["svc-1"], strict=True)])
    detail = f"1: {med['svc-1']:.3f} s, 20: {med['svc-20']:.3f} s (command: {med['cli-20'] / med['cli-1']:.2f}x)"  # fmt: skip
    ok = record("key discovery, 20 WKD domains", "time vs 1 recipient", ratio, TARGET,
                at_least=False, detail=detail)  # fmt: skip
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
