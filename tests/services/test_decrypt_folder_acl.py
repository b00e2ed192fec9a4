"""A folder the user may only read (RFC 4314 rights ``lr``): the copy modes work on it.

A second Dovecot from the stack's harness, with the ACL plugin (vfile backend) and imap_acl,
so that MYRIGHTS and a refused read-write SELECT (stdlib imaplib raises ``readonly`` when the
server answers ``[READ-ONLY]``) prove the ACL bites before e2email runs. ``--to-folder`` and
``--to-maildir`` must decrypt everything and leave the folder exactly as it was; ``--in-place``
must refuse with one line and exit 64, having written nothing.
"""

from __future__ import annotations

import imaplib
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.services import imapcheck as check
from tests.services import imapcorpus as corpus
from tests.stack import Endpoint
from tests.stack.dovecot import NOBODY, Dovecot
from tests.support import Cli, GpgHome, cli_env

pytestmark = pytest.mark.stack

HOST = "imap-acl.example.test"
GOOD = ("pgpmime", "signed", "attach", "inline", "smime")


class AclDovecot(Dovecot):
    """The stack's Dovecot with per-mailbox ACL files (``dovecot-acl`` in each folder)."""

    def _config(self) -> str:
        return super()._config() + (
            "mail_plugins = acl\n"
            "protocol imap {\n  mail_plugins = $mail_plugins imap_acl\n}\n"
            "plugin {\n  acl = vfile\n}\n"
        )


class _View:
    """The stack, seen through the ACL Dovecot (for the imapcheck helpers)."""

    def __init__(self, stack: Any, endpoint: Endpoint) -> None:
        self.imap_tls, self.ca_pem, self.users = endpoint, stack.ca_pem, stack.users


@pytest.fixture(scope="module")
def server(stack: Any) -> Iterator[tuple[_View, Dovecot]]:
    ip = stack.alloc_ip()
    stack.dns.add_records("example.test", [f"imap-acl A {ip}"])
    dovecot = AclDovecot(
        stack.dir / "dovecot-acl",
        stack.procs,
        ip=ip,
        cert=stack.pki.issue([HOST]),
        users={check.BOB: stack.users[check.BOB]},
    )
    dovecot.prepare()
    dovecot.start()
    dovecot.wait_ready()
    yield _View(stack, Endpoint(HOST, ip, 993)), dovecot
    assert dovecot.daemon is not None
    stack.procs.stop([dovecot.daemon])


def read_only_box(view: _View, dovecot: Dovecot, samples: list[corpus.Sample]) -> str:
    """A folder holding ``samples`` whose owner then keeps only lookup and read."""
    box = "ReadOnly-" + uuid.uuid4().hex[:8]
    check.append(view, box, samples)
    acl = dovecot.maildir(check.BOB) / f".{box}" / "dovecot-acl"
    acl.write_text("owner lr\n")
    os.chown(acl, NOBODY, NOBODY)
    with check.imap(view) as c:
        typ, data = c.myrights(box)
        assert typ == "OK" and data[0].split()[-1] == b"lr", data
        with pytest.raises(imaplib.IMAP4.readonly):
            c.select(box)  # read-write: the server answers [READ-ONLY]
        del c.untagged_responses["READ-ONLY"]  # or imaplib refuses the LOGOUT too
    return box


def test_copy_modes_work_on_a_folder_the_user_may_only_read(
    stack: Any, server: tuple[_View, Dovecot], homes: dict[str, GpgHome], tmp_path: Path
) -> None:
    view, dovecot = server
    samples = [
        s for s in corpus.build(corpus.Producer(homes["alice"]), uuid.uuid4().hex[:8])
        if s.name in GOOD
    ]  # fmt: skip
    box = read_only_box(view, dovecot, samples)
    before = check.state(view, box)
    cli = Cli(check.config(tmp_path, stack, homes["bob"].path, host=HOST), cli_env(tmp_path))

    def run(*args: str) -> tuple[int, dict[str, Any], str]:
        p = cli("imap", "decrypt", "--account", "bob", "--folder", box, *args, "--json")
        out = json.loads(p.stdout) if p.stdout.strip() else {}
        return p.returncode, out, p.stderr.decode()

    for args in (("--to-folder", box + "-Copies"), ("--to-maildir", str(tmp_path / "Mail"))):
        code, report, err = run(*args)
        assert code == 0, err
        assert report["decrypted"] == len(GOOD) and report["failed"] == [], report
        assert check.state(view, box) == before, f"{args[0]} changed a read-only folder"
    copies = check.messages(view, box + "-Copies")
    assert sorted(m.header("Message-ID") for m in copies) == sorted(s.message_id for s in samples)
    assert len(list((tmp_path / "Mail" / "cur").iterdir())) == len(GOOD)

    code, report, err = run("--to-folder", box + "-Copies")
    assert code == 0 and report["skipped_existing"] == len(GOOD), err

    code, _, err = run("--in-place")
    assert code == 64, err
    assert err.startswith("e2email: ") and "read-only" in err and len(err.splitlines()) == 1
    assert check.state(view, box) == before
