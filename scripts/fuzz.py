"""Run the fuzz targets of tests/fuzz/targets.py under atheris (libFuzzer), for longer than CI can.

    make fuzz                              # every target, FUZZ_SECONDS each (default 60)
    FUZZ_SECONDS=1800 make fuzz            # what closing a fuzzing issue takes
    .venv/bin/python scripts/fuzz.py message -max_total_time=600   # one target, libFuzzer flags

Each target runs in its own process with the seed corpus tests/fuzz/corpus/<name>/ copied to a
work corpus (new coverage lands there, not in the repository). A crash -- an exception other than
the project's own errors, a timeout (1 s) or memory past the RSS limit -- is written to
tests/fuzz/corpus/<name>/crash-<sha1>, where it stays as a regression input once fixed, and
fails the run. A summary line per target says how long it ran, how many inputs, and the result.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RSS_LIMIT_MB = 1024
TIMEOUT_S = 1
MAX_LEN = 1 << 16


def one(name: str, flags: list[str]) -> None:
    """Inside the child: fuzz one target with atheris until libFuzzer stops."""
    import atheris

    with atheris.instrument_imports(include=["e2email"]):
        from tests.fuzz.targets import ALLOWED, TARGETS

        target = TARGETS[name]
        allowed = ALLOWED + target.also
        # The targets import lazily (as the program does): run each seed once here, so those
        # imports are instrumented and not charged to libFuzzer's first unit as a timeout.
        for seed in target.seeds():
            with contextlib.suppress(*allowed):
                target.run(seed)

    def test_one_input(data: bytes) -> None:
        with contextlib.suppress(allowed):
            target.run(data)

    atheris.Setup([sys.argv[0], *flags], test_one_input)
    atheris.Fuzz()


def run(name: str, seconds: int, extra: list[str]) -> tuple[bool, str]:
    """Fuzz ``name`` in a child process; (ok, summary line)."""
    corpus = ROOT / "tests" / "fuzz" / "corpus" / name
    work = Path(tempfile.mkdtemp(prefix=f"e2fuzz-{name}-"))
    for seed in corpus.iterdir():
        shutil.copy(seed, work)
    flags = [
        str(work),
        f"-max_total_time={seconds}",
        f"-timeout={TIMEOUT_S}",
        f"-rss_limit_mb={RSS_LIMIT_MB}",
        f"-max_len={MAX_LEN}",
        f"-artifact_prefix={corpus}/",
        "-print_final_stats=1",
        *extra,
    ]
    start = time.monotonic()
    p = subprocess.run(
        [sys.executable, __file__, "--child", name, *flags],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    took = time.monotonic() - start
    runs = next((ln.split(":")[-1].strip() for ln in p.stderr.splitlines()
                 if "stat::number_of_executed_units" in ln), "?")  # fmt: skip
    shutil.rmtree(work, ignore_errors=True)
    ok = p.returncode == 0
    tail = "" if ok else "\n" + "\n".join(p.stderr.splitlines()[-25:])
    return ok, f"{name}: {took:.0f} s, {runs} inputs, {'ok' if ok else 'CRASH'}{tail}"


def main(argv: list[str]) -> int:
    if argv[:1] == ["--child"]:
        one(argv[1], argv[2:])
        return 0
    from tests.fuzz.targets import TARGETS

    seconds = int(os.environ.get("FUZZ_SECONDS", "60"))
    names = [a for a in argv if not a.startswith("-")] or sorted(TARGETS)
    extra = [a for a in argv if a.startswith("-")]
    failed = 0
    for name in names:
        ok, line = run(name, seconds, extra)
        print(line, flush=True)
        failed += not ok
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
