"""Pick a free 127.A.B.0/24 block for one test session and hold it until the session ends.

A block is ours when we hold an exclusive ``flock`` on its lock file (released by the kernel if
the process dies) and nobody else listens on 127.A.B.1:53. ``E2EMAIL_TEST_NET=127.A.B`` forces
a block (for debugging; it must still be free).
"""

from __future__ import annotations

import fcntl
import os
import random
import re
import socket
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .procs import StackError

ENV_VAR = "E2EMAIL_TEST_NET"
LOCK_DIR = Path(tempfile.gettempdir()) / "e2email-test-nets"
_PREFIX = re.compile(r"127\.(\d{1,3})\.(\d{1,3})")


@dataclass
class Net:
    """An address block ``127.A.B.0/24`` reserved for this session."""

    prefix: str
    _lock_fd: int = field(repr=False, default=-1)
    _next_free: int = field(repr=False, default=100)

    def ip(self, n: int) -> str:
        """The address ``127.A.B.n``."""
        if not 1 <= n <= 254:
            raise ValueError(f"host number out of range: {n}")
        return f"{self.prefix}.{n}"

    def alloc_ip(self) -> str:
        """A fresh address in the block (from .100 up) for services added by tests."""
        if self._next_free > 254:
            raise StackError(f"no free addresses left in {self.prefix}.0/24")
        ip = self.ip(self._next_free)
        self._next_free += 1
        return ip

    def release(self) -> None:
        """Give the block back (close and unlock the lock file)."""
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1


def _port_free(ip: str, port: int) -> bool:
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        with socket.socket(socket.AF_INET, kind) as sock:
            try:
                sock.bind((ip, port))
            except OSError:
                return False
    return True


def _try_reserve(prefix: str) -> Net | None:
    LOCK_DIR.mkdir(mode=0o1777, exist_ok=True)
    fd = os.open(LOCK_DIR / f"{prefix}.lock", os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    if not _port_free(f"{prefix}.1", 53):
        os.close(fd)
        return None
    return Net(prefix, fd)


def reserve(attempts: int = 50) -> Net:
    """Reserve the forced block (``E2EMAIL_TEST_NET``) or a random free one."""
    forced = os.environ.get(ENV_VAR)
    if forced:
        match = _PREFIX.fullmatch(forced.strip())
        if not match or not all(0 <= int(g) <= 255 for g in match.groups()):
            raise StackError(f"{ENV_VAR}={forced!r}: expected 127.A.B")
        net = _try_reserve(forced.strip())
        if net is None:
            raise StackError(f"{ENV_VAR}={forced}: block in use by another test session")
        return net
    rng = random.SystemRandom()
    for _ in range(attempts):
        net = _try_reserve(f"127.{rng.randint(100, 250)}.{rng.randint(1, 254)}")
        if net is not None:
            return net
    raise StackError(f"no free 127.A.B.0/24 block found after {attempts} attempts")
