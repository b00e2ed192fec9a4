"""``--in-place`` on a server without UIDPLUS: copies are stored, originals are kept (marked),
and the summary says so -- nothing is expunged with a plain EXPUNGE, which would also remove
every other message the user had marked deleted.

A second Dovecot from the stack's harness, with ``imap_capability`` leaving UIDPLUS out (the
session's own Dovecot offers it, as every modern server does).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.services import imapcheck as check
from tests.services import imapcorpus as corpus
from tests.stack import Endpoint
from tests.stack.dovecot import Dovecot
from tests.support import Cli, cli_env

pytestmark = pytest.mark.stack

HOST = "imap-nouidplus.example.test"
CAPABILITIES = "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ MULTIAPPEND"


class NoUidplusDovecot(Dovecot):
    """The stack's Dovecot, advertising no UIDPLUS."""

    def _config(self) -> str:
        return super()._config() + f"imap_capability = {CAPABILITIES}\n"


@pytest.fixture(scope="module")
def server(stack: Any) -> Iterator[tuple[Endpoint, Dovecot]]:
    ip = stack.alloc_ip()
    stack.dns.add_records("example.test", [f"imap-nouidplus A {ip}"])
    dovecot = NoUidplusDovecot(
        stack.dir / "dovecot-nouidplus",
        stack.procs,
        ip=ip,
        cert=stack.pki.issue([HOST]),
        users={check.BOB: stack.users[check.BOB]},
    )
    dovecot.prepare()
    dovecot.start()
    dovecot.wait_ready()
    yield Endpoint(HOST, ip, 993), dovecot
    assert dovecot.daemon is not None
    stack.procs.stop([dovecot.daemon])


def test_without_uidplus_originals_are_kept_and_marked(
    stack: Any, server: tuple[Endpoint, Dovecot], tmp_path: Path
) -> None:
    endpoint, _ = server
    alice, bob = corpus.make_home("alice", "bob"), corpus.make_home("bob", "alice")
    try:
        tag = uuid.uuid4().hex[:8]
        good = [
            s for s in corpus.build(corpus.Producer(alice), tag) if s.name in ("signed", "smime")
        ]
        box = "NoUidplus-" + tag
        view = _View(stack, endpoint)
        check.append(view, box, good)
        with check.imap(view) as c:
            c.select(box)
            c.store("1", "+FLAGS", "(\\Deleted)")  # the user's own pending deletion
        cfg = check.config(tmp_path, stack, bob.path, host=HOST)
        p = Cli(cfg, cli_env(tmp_path))("imap", "decrypt", "--account", "bob", "--folder", box,
                                        "--in-place", "--json")  # fmt: skip
        assert p.returncode == 0, p.stderr.decode()
        report = json.loads(p.stdout)
        assert report["decrypted"] == 2 and report["removed"] == 0 and report["kept"] == 2
        assert any("UIDPLUS" in n for n in report["notes"])
        left = check.messages(view, box)
        assert len(left) == 4, "originals kept beside their copies"
        originals = [m for m in left if not m.header("E2email-Decrypted")]
        assert all("$E2emailDecrypted" in m.flags for m in originals)
        assert sum("\\Deleted" in m.flags for m in originals) == 1, "only the user's own mark"
    finally:
        alice.close()
        bob.close()


class _View:
    """The stack, seen through the second Dovecot (for the imapcheck helpers)."""

    def __init__(self, stack: Any, endpoint: Endpoint) -> None:
        self.imap_tls, self.ca_pem, self.users = endpoint, stack.ca_pem, stack.users
