"""Watch a real process's system calls with strace(1): what it executed, in which order it
wrote, synced and renamed. Black-box evidence for claims no assertion in Python can see
(security.md items 8 and 10): a secret that never appears in any program's argv, a file that
is fsync'ed before it is renamed into place.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest


def strace_binary() -> str:
    """strace, or a failure naming the Debian package (scripts/install-system-deps.sh)."""
    found = shutil.which("strace")
    if found is None:
        pytest.fail(
            "strace is not installed (Debian package 'strace'); run scripts/install-system-deps.sh"
        )
    return found


@dataclass(frozen=True)
class Call:
    """One traced call: pid, name, the raw argument text and the result text."""

    pid: int
    name: str
    args: str
    result: str


_LINE = re.compile(r"^(\d+)\s+(\w+)\((.*)\)\s+=\s+(.*)$")
_UNFINISHED = re.compile(r"^(\d+)\s+(\w+)\((.*) <unfinished \.\.\.>()$")  # threads interleave


def traced(
    argv: list[str],
    log: Path,
    *,
    calls: str,
    stdin: bytes = b"",
    env: dict[str, str] | None = None,
    timeout: float = 120,
    verbose: bool = False,
) -> tuple[subprocess.CompletedProcess[bytes], list[Call]]:
    """Run ``argv`` under ``strace -f`` tracing ``calls``; the process and its finished calls.

    ``-y`` shows the path behind each file descriptor, ``-s 65536`` whole strings, and
    ``-qq`` keeps strace's own notes out of the log; ``verbose`` prints each execve's whole
    environment too.
    """
    cmd = [strace_binary(), "-f", "-qq", "-y", "-s", "65536", "-e", f"trace={calls}"]
    cmd += ["-v"] if verbose else []
    cmd += ["-o", str(log), *argv]
    proc = subprocess.run(
        cmd, input=stdin, capture_output=True, env=env, timeout=timeout, check=False
    )
    out = []
    for line in log.read_text(errors="replace").splitlines():
        m = _LINE.match(line) or _UNFINISHED.match(line)
        if m:
            result = m.group(4) if m.re is _LINE else "<unfinished>"
            out.append(Call(int(m.group(1)), m.group(2), m.group(3), result))
    return proc, out


def executed(calls: list[Call]) -> list[str]:
    """The argument text of every execve: program and argv, as strace printed them."""
    return [c.args for c in calls if c.name == "execve"]
