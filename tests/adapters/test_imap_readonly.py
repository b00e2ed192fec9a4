"""The adapter's read-only view of a folder (``ImapSession.examine``), against the stack's
Dovecot: it offers no writing method, it reads with EXAMINE and BODY.PEEK (the server keeps
\\Recent and \\Seen, checked with stdlib imaplib), and it refuses to run once the session has
opened another folder (it would read the wrong one)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from e2email.adapters import tls
from e2email.adapters.dns import Resolver
from e2email.adapters.imap import ImapSession, ReadOnlyFolder
from e2email.errors import E2emailError
from tests.services import imapcheck as check
from tests.services.imapcorpus import BASE_DATE, Sample, crlf

pytestmark = pytest.mark.stack


def session(stack: Any) -> ImapSession:
    s = ImapSession.open(
        stack.imap_tls.host,
        993,
        security="tls",
        context=tls.client_context(stack.ca_pem),
        resolver=Resolver((stack.nameserver,)),
        timeout=10,
    )
    s.login(check.BOB, stack.users[check.BOB])
    return s


def test_the_view_reads_without_writing_and_only_while_its_folder_is_open(stack: Any) -> None:
    assert not any(
        hasattr(ReadOnlyFolder, name)
        for name in ("add_flags", "uid_expunge", "append", "select", "create")
    ), "the read-only view must not offer a method that writes"
    box = "View-" + uuid.uuid4().hex[:8]
    raw = crlf(b"From: a@example.test\nSubject: unseen\nMessage-ID: <v@example.test>\n\nhi\n")
    check.append(stack, box, [Sample("m", raw, "", False, (), BASE_DATE)])
    before = check.state(stack, box)
    s = session(stack)
    try:
        view = s.examine(box)
        [uid] = view.search(["ALL"])
        [m] = view.fetch([uid])
        assert m.raw == raw and "\\Seen" not in m.flags
        assert b"Message-ID" in view.fetch_headers([uid], ["Message-ID"])[uid]
        s.examine("INBOX")
        with pytest.raises(E2emailError, match="no longer the folder open"):
            view.fetch([uid])
    finally:
        s.logout()
    after = check.state(stack, box)
    assert after == before and after.status["RECENT"] == 1 and after.status["UNSEEN"] == 1
