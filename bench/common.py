"""Shared by the benchmarks: the test stack in a child process, timed child processes, medians,
and the result records that ``python -m bench`` gathers into one table.

The stack (tests/stack: Postfix, Dovecot, Knot + Unbound, the HTTPS server, slapd, all on a
private 127.A.B.0/24 block) runs in a child process of the bench, so its Python threads (the
HTTPS server) never share the process, the GIL or the CPU accounting of what is measured.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

MiB = 1 << 20
RESULTS_VAR = "E2EMAIL_BENCH_RESULTS"  # set by ``python -m bench``: where rows are appended
OPENPGP = ROOT / "keys-fixtures" / "openpgp"
SMIME = ROOT / "keys-fixtures" / "smime"


# -- the product as users install it ----------------------------------------------------------

PRODUCT_VENV = ROOT / ".venv-bench"


def product_bin() -> Path:
    """The bin directory of e2email installed as users get it: a regular (wheel) install.

    The development venv has an editable install, whose import hook (a ``.pth`` that imports
    a finder, pathlib and more) costs every Python start there ~10 ms of CPU. Users never pay
    it, so the benches time console scripts from ``.venv-bench``: a venv without pip whose
    own site-packages holds a regular install of this checkout (rebuilt when the sources
    change) and which sees the development venv's dependencies through a plain path entry.
    """
    stamp = PRODUCT_VENV / ".source-stamp"
    sources = [ROOT / "pyproject.toml", *sorted((ROOT / "e2email").rglob("*.py"))]
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in sources)).hexdigest()
    if stamp.exists() and stamp.read_text() == digest:
        return PRODUCT_VENV / "bin"
    if not (PRODUCT_VENV / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(PRODUCT_VENV)],
                       check=True)  # fmt: skip
    site = Path(subprocess.run(
        [str(PRODUCT_VENV / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True, capture_output=True, text=True).stdout.strip())  # fmt: skip
    dev_site = sysconfig.get_path("purelib")
    (site / "_e2email_bench_deps.pth").write_text(dev_site + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(PRODUCT_VENV / "bin" / "python"),
         "install", "--quiet", "--no-deps", "--force-reinstall",
         "--disable-pip-version-check", str(ROOT)],
        check=True,
    )  # fmt: skip
    stamp.write_text(digest)
    return PRODUCT_VENV / "bin"


# -- results ----------------------------------------------------------------------------------


def record(
    row: str, metric: str, value: float, target: float, *, at_least: bool, detail: str = ""
) -> bool:
    """Judge one measured value against its target, print it, and append it for the summary.

    ``at_least``: the value must be >= target (a throughput ratio); else <= target.
    """
    met = value >= target if at_least else value <= target
    sign = ">=" if at_least else "<="
    verdict = "met" if met else "MISSED"
    print(f"  => {row}: {metric} {value:.2f} (target {sign} {target:g}) {verdict}", flush=True)
    path = os.environ.get(RESULTS_VAR)
    if path:
        line = {"row": row, "metric": metric, "value": value, "target": target,
                "at_least": at_least, "met": met, "detail": detail}  # fmt: skip
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(line) + "\n")
    return met


def median(values: Sequence[float]) -> float:
    """The median (the benches' only statistic: robust to a neighbour's burst of load)."""
    return statistics.median(values)


def loadavg() -> str:
    """The 1/5/15-minute load averages, to print next to the results."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


# -- timed child processes --------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """One child process: wall and CPU seconds (user + system, its descendants included) and
    peak RSS in bytes (the largest single process of its tree, as wait4(2) reports)."""

    wall: float
    cpu: float
    peak: int


# The measured command is forked from this small launcher, not from the bench: a child's peak
# RSS starts at its parent's size at fork time (the kernel carries the high-water mark across
# exec), so forking from a bench process that has held a large message would inflate it.
LAUNCHER = """\
import os, sys, time
t0 = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        os.execvp(sys.argv[2], sys.argv[2:])
    finally:
        os._exit(127)
_, status, ru = os.wait4(pid, 0)
wall = time.perf_counter() - t0
code = os.waitstatus_to_exitcode(status)
with open(sys.argv[1], "w") as f:
    f.write(f"{wall} {ru.ru_utime + ru.ru_stime} {ru.ru_maxrss} {code}")
"""


def run(
    argv: Sequence[str],
    *,
    stdin: Path | bytes | None = None,
    env: dict[str, str] | None = None,
    ok: Callable[[bytes], bool] | None = None,
    timeout: float = 600,
) -> Run:
    """Run ``argv`` to completion and measure it; SystemExit when it fails or hangs."""
    with contextlib.ExitStack() as stack:
        out = stack.enter_context(tempfile.TemporaryFile())
        err = stack.enter_context(tempfile.TemporaryFile())
        report = stack.enter_context(tempfile.NamedTemporaryFile("r"))
        source: Any = subprocess.DEVNULL
        if isinstance(stdin, Path):
            source = stack.enter_context(stdin.open("rb"))
        elif isinstance(stdin, bytes):
            source = stack.enter_context(tempfile.TemporaryFile())
            source.write(stdin)
            source.seek(0)
        launcher = [sys.executable, "-I", "-S", "-c", LAUNCHER, report.name, *argv]
        proc = subprocess.Popen(
            launcher, stdin=source, stdout=out, stderr=err, env=env, start_new_session=True
        )
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the launcher and what it started
            proc.wait()
            raise SystemExit(f"{argv[0]} did not finish within {timeout:g} s") from None
        wall, cpu, peak, code = report.read().split()
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if int(code) != 0 or (ok is not None and not ok(stdout)):
        raise SystemExit(f"{argv[0]} failed ({code}):\n{stderr.decode(errors='replace')[-3000:]}")
    return Run(float(wall), float(cpu), int(peak) * 1024)


# -- the stack in a child process -------------------------------------------------------------


def stack_info(stack: Any) -> dict[str, Any]:
    """What a client needs to know about a running stack, as JSON-able values."""
    sub = stack.submission
    return {
        "dir": str(stack.dir),
        "nameserver": stack.nameserver,
        "ca": str(stack.ca_pem),
        "submission": {"host": sub.host, "ip": sub.ip, "port": sub.port},
        "users": dict(stack.users),
        "sink": str(stack.sink.new),
    }


def serve(build: Callable[[Any], dict[str, Any]] | None = None) -> None:
    """In the child: start the stack, run ``build`` on it, print the info, wait for stdin EOF."""
    from tests.stack import start_stack

    with start_stack() as stack:
        info = stack_info(stack) | (build(stack) if build else {})
        print(json.dumps(info), flush=True)
        sys.stdin.read()


@contextlib.contextmanager
def stack_process(script: str, *args: str) -> Iterator[dict[str, Any]]:
    """Run ``script --serve ARGS`` (which calls ``serve``) and yield the stack's info."""
    child = subprocess.Popen(
        [sys.executable, script, "--serve", *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdin is not None and child.stdout is not None
    try:
        line = child.stdout.readline()
        if not line:
            raise SystemExit("the test stack did not start (see the messages above)")
        yield json.loads(line)
    finally:
        child.stdin.close()
        try:
            child.wait(timeout=60)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def clear_sink(info: dict[str, Any]) -> int:
    """Delete what Postfix delivered so far (large benches would fill the disk); how many."""
    sink = Path(info["sink"])
    names = list(sink.iterdir())
    for p in names:
        p.unlink(missing_ok=True)
    return len(names)


def wait_sink(info: dict[str, Any], count: int, timeout: float = 120) -> list[Path]:
    """Wait until ``count`` messages are in the sink; their paths."""
    sink = Path(info["sink"])
    deadline = time.monotonic() + timeout
    while True:
        found = sorted(sink.iterdir())
        if len(found) >= count:
            return found
        if time.monotonic() > deadline:
            raise SystemExit(f"only {len(found)} of {count} messages reached the sink")
        time.sleep(0.05)


# -- users' homes and configs -----------------------------------------------------------------


def gpg(home: Path, *args: str, data: bytes | None = None) -> bytes:
    """Run gpg in ``home`` (batch); its stdout."""
    cmd = ["gpg", "--homedir", str(home), "--batch", "--yes", *args]
    return subprocess.run(cmd, input=data, capture_output=True, check=True).stdout


def gnupg_home(parent: Path, owner: str = "alice", public: Sequence[str] = ("bob",)) -> Path:
    """A GnuPG home with one secret key and fully trusted public keys, as a user has them."""
    home = parent / f"gnupg-{owner}"
    home.mkdir(mode=0o700)
    gpg(home, "--import", str(OPENPGP / f"{owner}.sec.asc"))
    for name in public:
        gpg(home, "--import", str(OPENPGP / f"{name}.pub.asc"))
    listing = gpg(home, "--with-colons", "--list-keys").decode()
    fprs = [ln.split(":")[9] for ln in listing.splitlines() if ln.startswith("fpr:")]
    gpg(home, "--import-ownertrust", data="".join(f"{f}:6:\n" for f in fprs).encode())
    return home


def kill_agent(home: Path) -> None:
    """Stop the gpg-agent a GnuPG home started."""
    subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "all"], check=False)


def account_toml(info: dict[str, Any], user: str = "alice@example.test") -> str:
    """An account on the stack's submission service (STARTTLS, AUTH), password by command."""
    sub = info["submission"]
    return (
        "[accounts.work]\n"
        f'from = ["{user}"]\n'
        f'smtp_host = "{sub["host"]}"\n'
        f"smtp_port = {sub['port']}\n"
        f'username = "{user}"\n'
        f"password_command = \"printf '%s\\\\n' '{info['users'][user]}'\"\n"
    )


def network_toml(info: dict[str, Any]) -> str:
    """The stack's resolver and CA."""
    return f'[network]\nnameservers = ["{info["nameserver"]}"]\nca_file = "{info["ca"]}"\n'


def clean_env(home: Path) -> dict[str, str]:
    """A user's environment without the bench's: HOME and XDG dirs of its own."""
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL")}
    env |= {
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / "xdg-config"),
        "XDG_CACHE_HOME": str(home / "xdg-cache"),
        "XDG_STATE_HOME": str(home / "xdg-state"),
    }
    return env
