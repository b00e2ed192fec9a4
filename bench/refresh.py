"""Benchmark: ``keys refresh`` of 100 stored keys against one key (performance.md: <= 3x).

The stack runs in a child process with the VKS test server (tests/fakes/keyserver.py; no
keyserver is packaged for Debian) serving 100 keys at ``/vks/v1/by-fingerprint/``, every
answer delayed by ``--latency`` seconds (a distant server). This process fills a fresh key
store with 1 or 100 of those keys (as found by VKS) and times ``refresh.refresh(rt)`` without
``--spread``, alternating the sizes. Prints medians and the ratio.

    .venv/bin/python bench/refresh.py [--runs 5] [--latency 0.2] [--keys 100]
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from common import ROOT, loadavg, median, record, serve, stack_process

sys.path.insert(0, str(ROOT))
TARGET = 3.0


def build(stack: Any, latency: float, count: int) -> dict[str, Any]:
    """In the stack's process: the keyserver and its keys (kept running until EOF)."""
    from tests.services import ks_helpers as ks

    world = ks.build(stack)
    keys = []
    for i in range(count):
        fpr, key = world.keys.make(f"R{i} <r{i}@ks.test>")
        world.server.serve(ks.VKS_HOST, ks.by_fingerprint(fpr), key, delay=latency)
        keys.append([fpr, f"r{i}@ks.test", base64.b64encode(key).decode()])
    world.keys.close()
    build.world = world  # type: ignore[attr-defined]  # keep the server alive
    return {"keys": keys, "vks": ks.VKS_HOST}


def runtime(info: dict[str, Any], tmp: Path, count: int) -> Any:
    """A Runtime with a fresh store holding ``count`` keys, each as found by the VKS."""
    from e2email import config
    from e2email.adapters.store.keystore import KeyStore
    from e2email.model import Key, Protocol
    from e2email.services.runtime import Runtime

    home = tmp / "gnupg"
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    text = (
        f'[openpgp]\ngnupghome = "{home}"\n'
        f'[network]\nnameservers = ["{info["nameserver"]}"]\nca_file = "{info["ca"]}"\n'
        "timeout = 10\n"
        f'[discovery]\nmethods = ["vks"]\nstore_dir = "{tmp / "store"}"\n'
        f'cache_dir = "{tmp / "cache"}"\n'
        f'[[discovery.keyserver]]\nurl = "https://{info["vks"]}"\nkind = "vks"\n'
    )
    store = KeyStore(tmp / "store", tmp / "cache")
    now = datetime.now(UTC)
    for fpr, address, blob in info["keys"][:count]:
        key = Key(Protocol.OPENPGP, fpr, "vks", (address,), material=base64.b64decode(blob))
        store.put(key, address, f"https://{info['vks']}/vks/v1/by-email/{address}", now)
    return Runtime(config.parse(text, env={"HOME": str(tmp)}))


def time_refresh(info: dict[str, Any], count: int) -> float:
    """Seconds of one refresh of ``count`` stored keys (every key answered)."""
    from e2email.services.discovery import refresh

    with tempfile.TemporaryDirectory(prefix="e2b-ref-") as d:
        rt = runtime(info, Path(d), count)
        t0 = time.perf_counter()
        report = refresh.refresh(rt)
        elapsed = time.perf_counter() - t0
    bad = [r for r in report.results if r.status != "unchanged"]
    if len(report.results) != count or bad:
        raise SystemExit(f"refresh did not refresh every key: {bad[:3]}")
    return elapsed


def main() -> int:
    """Serve the stack, or time both sizes alternating and judge."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--latency", type=float, default=0.2, help="added keyserver delay (s)")
    ap.add_argument("--keys", type=int, default=100)
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(lambda stack: build(stack, args.latency, args.keys))
        return 0
    extra = ["--latency", str(args.latency), "--keys", str(args.keys)]
    with stack_process(sys.argv[0], *extra) as info:
        print(f"keys refresh, {args.keys} stored keys vs 1, keyserver latency "
              f"{args.latency:g} s; load {loadavg()}", flush=True)  # fmt: skip
        time_refresh(info, 1)  # warm-up: imports, the server's certificates
        res: dict[str, list[float]] = {"one": [], "many": []}
        for _ in range(args.runs):
            res["one"].append(time_refresh(info, 1))
            res["many"].append(time_refresh(info, args.keys))
    print(json.dumps({k: [round(v, 3) for v in vs] for k, vs in res.items()}))
    one, many = median(res["one"]), median(res["many"])
    ratio = median([m / o for m, o in zip(res["many"], res["one"], strict=True)])
    print(f"  1 key {one:.3f} s, {args.keys} keys {many:.3f} s, ratio {ratio:.2f}")
    print(f"  load {loadavg()}")
    detail = f"1: {one:.3f} s, {args.keys}: {many:.3f} s"
    ok = record(f"keys refresh, {args.keys} stored keys", "time vs 1 key", ratio, TARGET,
                at_least=False, detail=detail)  # fmt: skip
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
