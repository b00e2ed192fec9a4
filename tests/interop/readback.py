"""The reverse direction of the matrix: a message another engine wrote, put in bob's IMAP
folder, read by ``e2email imap decrypt`` exactly as a user would run it."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from tests.services import imapcheck as check
from tests.services import imapcorpus as corpus
from tests.support import Cli, cli_env


def decrypted_by_e2email(stack: Any, tmp: Path, raw: bytes, kind: str, marker: str) -> check.Msg:
    """APPEND ``raw``, run ``imap decrypt --to-folder``; the copy, checked readable and signed."""
    box = "Readback-" + uuid.uuid4().hex[:8]
    check.append(stack, box, [corpus.Sample(kind, raw, marker, True)])
    bob = corpus.make_home("bob", "alice")
    try:
        cfg = check.config(tmp, stack, bob.path)
        p = Cli(cfg, cli_env(tmp))("imap", "decrypt", "--account", "bob", "--folder", box,
                                   "--to-folder", box + ".D", "--json")  # fmt: skip
    finally:
        bob.close()
    assert p.returncode == 0, p.stdout.decode() + p.stderr.decode()
    assert json.loads(p.stdout)["kinds"] == {kind: 1}
    [copy] = check.messages(stack, box + ".D")
    assert marker.encode() in copy.raw
    assert (copy.header("E2email-Signature") or "").startswith("good"), copy.header(
        "E2email-Signature"
    )
    return copy
