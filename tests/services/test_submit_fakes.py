"""Submission against misbehaving servers: nothing lost, nothing sent twice, nothing partial.

Each case asserts on what the fake server received (every command and every message) and on
what sits in the outbox afterwards.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from e2email.adapters.store.outbox import Outbox
from e2email.errors import (
    EX_NOPERM,
    EX_TEMPFAIL,
    EX_UNAVAILABLE,
    AuthenticationError,
    PartialDeliveryError,
    PermanentFailure,
    PolicyRefusedError,
    TemporaryFailure,
)
from e2email.model import Address
from e2email.services import queue
from e2email.services.submit import Copy, submit
from tests.fakes.fixtures import fake_pki_fixture  # noqa: F401
from tests.fakes.pki import FakePki
from tests.fakes.smtp import FakeSmtp, Script, serve
from tests.services.fakes_support import USER, fake_runtime

ALICE = Address("alice", "example.test")
BOB, CAROL, DAVE = (Address(n, "example.test") for n in ("bob", "carol", "dave"))
DATA = b"From: alice@example.test\r\nTo: bob@example.test\r\nSubject: [...]\r\n\r\nciphertext\r\n"


def verbs(fake: FakeSmtp) -> list[str]:
    fake.close()
    return [c.split(" ")[0].upper() for s in fake.sessions for _, c in s.commands]


def outbox(tmp_path: Path) -> Outbox:
    return Outbox(tmp_path / "outbox")


def test_success_sends_exactly_the_bytes(tmp_path: Path, fake_pki: FakePki) -> None:
    with serve(Script(), (fake_pki.cert, fake_pki.key)) as fake:
        rt = fake_runtime(tmp_path, fake, fake_pki)
        result = submit(rt, rt.account("work", None), ALICE, [Copy((BOB, CAROL), DATA)])
        assert result.accepted == (BOB, CAROL) and not result.queued
        [msg] = fake.messages
    assert msg.data == DATA and msg.recipients == [str(BOB), str(CAROL)]
    assert msg.sender == USER and "SIZE=" in msg.params and "REQUIRETLS" not in msg.params
    assert outbox(tmp_path).entries() == []


@pytest.mark.parametrize(
    "script",
    [
        Script(final_replies=[b"451 4.3.0 try again later\r\n"]),
        Script(data_reply=b"451 4.3.0 busy\r\n"),
        Script(reset_after_data_bytes=20),
        Script(rcpt_replies={"bob@example.test": b"450 4.2.0 mailbox busy\r\n"}),
        Script(starttls_reply=b"220 go ahead\r\n250 AUTH PLAIN INJECTED\r\n"),
        Script(starttls_reply=b"502 5.5.1 no\r\n"),
        Script(clear_caps=("AUTH PLAIN",)),
    ],
    ids=[
        "451-after-data",
        "451-to-data",
        "reset-mid-data",
        "450-rcpt",
        "injection",
        "502",
        "no-tls",
    ],
)
def test_temporary_failures_queue_the_exact_bytes(
    tmp_path: Path, fake_pki: FakePki, script: Script
) -> None:
    with serve(script, (fake_pki.cert, fake_pki.key)) as fake:
        rt = fake_runtime(tmp_path, fake, fake_pki)
        result = submit(rt, rt.account("work", None), ALICE, [Copy((BOB,), DATA)], message_id="<m>")
        assert fake.messages == []
        fake.close()
        clear = b"".join(bytes(s.clear) for s in fake.sessions)
    assert result.accepted == () and len(result.queued) == 1 and result.deferred
    assert b"AUTH" not in clear.upper()
    box = outbox(tmp_path)
    with box.claim(result.queued[0]) as claim:
        assert claim is not None
        assert claim.data == DATA  # exactly what would have been sent
        assert claim.envelope.recipients == ("bob@example.test",)
        assert claim.envelope.account == "work" and claim.envelope.message_id == "<m>"


def test_with_the_outbox_off_a_temporary_failure_is_75(tmp_path: Path, fake_pki: FakePki) -> None:
    script = Script(final_replies=[b"451 4.3.0 try again later\r\n"])
    with serve(script, (fake_pki.cert, fake_pki.key)) as fake:
        rt = fake_runtime(tmp_path, fake, fake_pki, outbox=False)
        with pytest.raises(TemporaryFailure, match="not queued") as e:
            submit(rt, rt.account("work", None), ALICE, [Copy((BOB,), DATA)])
    assert e.value.exit_code == EX_TEMPFAIL
    assert not (tmp_path / "outbox").exists()


def test_unreachable_server_queues(tmp_path: Path, fake_pki: FakePki) -> None:
    with serve(Script(), (fake_pki.cert, fake_pki.key)) as fake:
        rt = fake_runtime(tmp_path, fake, fake_pki)
    # the fake is closed now: connection refused
    result = submit(rt, rt.account("work", None), ALICE, [Copy((BOB,), DATA)])
    assert len(result.queued) == 1 and "cannot connect" in (result.deferred or "")


def test_partial_rcpt_refusal_sends_nothing_and_names_the_recipient(
    tmp_path: Path, fake_pki: FakePki
) -> None:
    script = Script(rcpt_replies={"carol@example.test": b"550 5.1.1 no such user\r\n"})
    with serve(script, (fake_pki.cert, fake_pki.key)) as fake:
        rt = fake_runtime(tmp_path, fake, fake_pki)
        with pytest.raises(PartialDeliveryError, match=r"carol@example\.test: 550") as e:
            submit(rt, rt.account("work", None), ALICE, [Copy((BOB, CAROL), DATA)])
        assert e.value.exit_code == EX_UNAVAILABLE
        assert "bob@example.test" not in str(e.value)
        sent = verbs(fake)
    assert "DATA" not in sent and "RSET" in sent
    assert outbox(tmp_path).entries() == []


def test_every_copys_recipients_are_checked_before_any_data(
    tmp_path: Path, fake_pki: FakePki
) -> None:
    # To/Cc copy first, then a Bcc copy whose recipient is refused: the first must not go out.
    script = Script(rcpt_replies={"dave@example.test": b"550 5.1.1 unknown\r\n"})
    copies = [Copy((BOB, CAROL), DATA), Copy((DAVE,), DATA + b"bcc copy\r\n")]
    with serve(script, (fake_pki.cert, fake_pki.key)) as fake:
        rt = fake_runtime(tmp_path, fake, fake_pki)
        with pytest.raises(PartialDeliveryError, match=r"dave@example\.test"):
            submit(rt, rt.account("work", None), ALICE, copies)
        assert "DATA" not in verbs(fake) and fake.messages == []


def test_failure_after_the_first_copy_queues_only_the_rest(
    tmp_path: Path, fake_pki: FakePki
) -> None:
    script = Script(final_replies=[b"250 2.0.0 Ok: first\r\n", b"451 4.3.0 later\r\n"])
    copies = [Copy((BOB,), DATA), Copy((DAVE,), DATA + b"bcc\r\n")]
    with serve(script, (fake_pki.cert, fake_pki.key)) as fake:
        rt = fake_runtime(tmp_path, fake, fake_pki)
        result = submit(rt, rt.account("work", None), ALICE, copies)
        assert [m.recipients for m in fake.messages] == [["bob@example.test"]]
    assert result.accepted == (BOB,) and len(result.queued) == 1
    assert "1 of 2 copies were accepted" in (result.deferred or "")
    [entry] = outbox(tmp_path).entries()
    assert entry.envelope.recipients == ("dave@example.test",)


def test_wrong_password_is_77_and_nothing_queued(tmp_path: Path, fake_pki: FakePki) -> None:
    with serve(Script(), (fake_pki.cert, fake_pki.key)) as fake:
        rt = fake_runtime(tmp_path, fake, fake_pki, password="wrong")
        with pytest.raises(AuthenticationError) as e:
            submit(rt, rt.account("work", None), ALICE, [Copy((BOB,), DATA)])
        assert e.value.exit_code == EX_NOPERM
        assert "MAIL" not in verbs(fake)
    assert outbox(tmp_path).entries() == []


REQUIRETLS = ("AUTH PLAIN LOGIN", "SIZE 1000000", "REQUIRETLS")


def test_require_tls_is_set_when_offered(tmp_path: Path, fake_pki: FakePki) -> None:
    with serve(Script(tls_caps=REQUIRETLS), (fake_pki.cert, fake_pki.key)) as fake:
        rt = fake_runtime(tmp_path, fake, fake_pki)
        submit(rt, rt.account("work", None), ALICE, [Copy((BOB,), DATA)], require_tls=True)
        preferred = Copy((BOB,), DATA, prefer_require_tls=True)
        submit(rt, rt.account("work", None), ALICE, [preferred])
        assert [m.params.split() for m in fake.messages] == [
            ["SIZE=78", "REQUIRETLS"],
            ["SIZE=78", "REQUIRETLS"],
        ]


def test_require_tls_not_offered_refuses_and_queues_nothing(
    tmp_path: Path, fake_pki: FakePki
) -> None:
    with serve(Script(), (fake_pki.cert, fake_pki.key)) as fake:
        rt = fake_runtime(tmp_path, fake, fake_pki)
        with pytest.raises(PolicyRefusedError, match="REQUIRETLS") as e:
            submit(rt, rt.account("work", None), ALICE, [Copy((BOB,), DATA)], require_tls=True)
        assert e.value.exit_code == EX_NOPERM
        # preferred but not offered: sent without it
        submit(rt, rt.account("work", None), ALICE, [Copy((BOB,), DATA, prefer_require_tls=True)])
        assert [m.params for m in fake.messages] == ["SIZE=78"]
        assert verbs(fake).count("MAIL") == 1
    assert outbox(tmp_path).entries() == []


def test_flush_uses_one_connection_and_sends_each_once(tmp_path: Path, fake_pki: FakePki) -> None:
    script = Script(final_replies=[b"451 4.3.0 later\r\n"] * 3)
    with serve(script, (fake_pki.cert, fake_pki.key)) as fake:
        rt = fake_runtime(tmp_path, fake, fake_pki)
        for n in range(3):
            submit(rt, rt.account("work", None), ALICE, [Copy((BOB,), DATA + b"%d\r\n" % n)])
        assert len(outbox(tmp_path).entries()) == 3 and fake.messages == []
        before = len(fake.sessions)
        outcomes = queue.flush(rt)
        assert [o.state for o in outcomes] == ["sent"] * 3
        assert len(fake.sessions) == before + 1  # one connection for the whole account
        assert sorted(m.data for m in fake.messages) == [DATA + b"%d\r\n" % n for n in range(3)]
        assert queue.flush(rt) == []  # nothing left, nothing sent twice
        assert len(fake.messages) == 3
    assert queue.worst(outcomes) is None


def test_flush_keeps_deferred_and_moves_refused(tmp_path: Path, fake_pki: FakePki) -> None:
    script = Script(
        final_replies=[b"451 a\r\n", b"451 b\r\n", b"554 5.7.1 rejected for good\r\n", b"451 c\r\n"]
    )
    with serve(script, (fake_pki.cert, fake_pki.key)) as fake:
        rt = fake_runtime(tmp_path, fake, fake_pki)
        for n in range(2):
            submit(rt, rt.account("work", None), ALICE, [Copy((BOB,), DATA + b"%d\r\n" % n)])
        outcomes = queue.flush(rt)
    assert [o.state for o in outcomes] == ["failed", "deferred"]
    problem = queue.worst(outcomes)
    assert problem is not None and problem.exit_code == EX_UNAVAILABLE
    entries = outbox(tmp_path).entries()
    # attempt 1 was the submission that queued them, attempt 2 the flush
    assert [(e.failed, e.status.attempts) for e in entries] == [(False, 2), (True, 2)]
    assert "554" in (entries[1].status.last_error or "")


def test_flush_with_wrong_password_keeps_everything_77(tmp_path: Path, fake_pki: FakePki) -> None:
    with serve(Script(final_replies=[b"451 later\r\n"]), (fake_pki.cert, fake_pki.key)) as fake:
        rt = fake_runtime(tmp_path, fake, fake_pki)
        submit(rt, rt.account("work", None), ALICE, [Copy((BOB,), DATA)])
        bad = fake_runtime(tmp_path, fake, fake_pki, password="wrong")
        outcomes = queue.flush(bad)
        assert fake.messages == []
    assert [o.state for o in outcomes] == ["deferred"]
    problem = queue.worst(outcomes)
    assert problem is not None and problem.exit_code == EX_NOPERM
    assert len(outbox(tmp_path).entries()) == 1


def test_non_ascii_address_without_smtputf8_is_69_not_queued(
    tmp_path: Path, fake_pki: FakePki
) -> None:
    jose = Address("josé", "example.test")
    with serve(Script(), (fake_pki.cert, fake_pki.key)) as fake:  # no SMTPUTF8 advertised
        rt = fake_runtime(tmp_path, fake, fake_pki)
        with pytest.raises(PermanentFailure, match="SMTPUTF8") as e:
            submit(rt, rt.account("work", None), ALICE, [Copy((jose,), DATA, utf8=True)])
        assert e.value.exit_code == EX_UNAVAILABLE
        assert "MAIL" not in verbs(fake)
    assert outbox(tmp_path).entries() == []
