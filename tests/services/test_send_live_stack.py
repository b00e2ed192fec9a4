"""A large attachment is sent while it is encrypted (protect.start_copies); when the server
cannot be reached, the outbox still gets the whole encrypted copy, and a flush delivers it."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from e2email.services.protect import copies as protect
from tests.services.protect_helpers import make_cli
from tests.services.test_protect_large_stack import attachment_digest
from tests.support import GpgHome, account_toml

SIZE = protect.LIVE_FROM + 123_457  # just over the size that is sent while being built


def test_unreachable_server_queues_the_whole_copy_and_flush_delivers_it(
    stack: Any, tmp_path: Path, gpg_home: Callable[..., GpgHome]
) -> None:
    alice = gpg_home(secret=["alice"], public=["bob"])
    bob = gpg_home(secret=["bob"], public=["alice"])
    data = os.urandom(SIZE)
    big = tmp_path / "big.bin"
    big.write_bytes(data)
    outbox = f'\n[outbox]\npath = "{tmp_path / "outbox"}"\n'
    for d in ("down", "up"):
        (tmp_path / d).mkdir()
    nowhere = stack.alloc_ip()  # nothing listens there
    down = make_cli(tmp_path / "down", stack, alice.path, smime=False, extra=outbox)
    down.config.write_text(
        down.config.read_text().replace(
            f'smtp_host = "{stack.submission.host}"', f'smtp_host = "{nowhere}"'
        )
    )
    args = ["send", "--from", "alice@example.test", "--to", "bob@example.test"]
    p = down(*args, "--subject", "big", "--attach", str(big), stdin=b"see attached\n")
    assert p.returncode == 0, p.stderr.decode()  # queued: 0 (contract.md)
    [entry] = list((tmp_path / "outbox" / "queue").glob("*.msg"))
    assert entry.stat().st_size > SIZE * 4 // 3  # the whole copy, armored
    before = stack.sink.snapshot()
    up = make_cli(tmp_path / "up", stack, alice.path, smime=False, extra=outbox)
    assert account_toml(stack) in up.config.read_text()
    p = up("queue", "flush")
    assert p.returncode == 0, p.stderr.decode()
    [raw] = stack.sink.wait_new(before, 1, timeout=60)
    ct = tmp_path / "ct.asc"
    ct.write_bytes(raw[raw.index(b"-----BEGIN PGP MESSAGE-----") :])
    out = tmp_path / "pt.eml"
    d = bob.run("--status-fd", "2", "--output", str(out), "--decrypt", str(ct), check=False)
    assert d.returncode == 0 and b"GOODMDC" in d.stderr, d.stderr.decode()[-2000:]
    assert attachment_digest(out.read_bytes()) == hashlib.sha256(data).hexdigest()
