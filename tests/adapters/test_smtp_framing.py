"""DATA framing: CRLF line ends and dot-stuffing (RFC 5321 4.5.2), across chunk borders."""

from __future__ import annotations

import pytest

from e2email.adapters import smtp
from e2email.adapters.smtp import Capabilities, Reply, stuffed


def test_dot_stuffing_and_crlf() -> None:
    out = b"".join(stuffed([b"a\n.b\r\n..c\n."]))
    assert out == b"a\r\n..b\r\n...c\r\n..\r\n"


def test_chunk_borders_do_not_matter() -> None:
    data = b"line1\n.dot\nline3\r\n.\nend"
    whole = b"".join(stuffed([data]))
    pieces = b"".join(stuffed([data[i : i + 3] for i in range(0, len(data), 3)]))
    assert whole == pieces
    assert b"\r\n.\r\n" not in whole  # the terminator can never appear inside


def test_capabilities_parse() -> None:
    reply = Reply(250, ("mx greets you", "PIPELINING", "AUTH PLAIN LOGIN", "STARTTLS", "SIZE 1000"))
    caps = Capabilities.from_reply(reply)
    assert caps.has("starttls") and caps.has("SIZE")
    assert caps.auth_mechanisms() == {"PLAIN", "LOGIN"}


def test_a_line_longer_than_the_limit_passes_in_bounded_pieces(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(smtp, "LONG_LINE", 8)
    data = b".starts with a dot and runs on and on\r\n.next\r\n" + b"x" * 50 + b"\r"
    pieces = list(stuffed([data[i : i + 5] for i in range(0, len(data), 5)]))
    assert max(len(p) for p in pieces) <= 16
    expected = b"..starts with a dot and runs on and on\r\n..next\r\n" + b"x" * 50 + b"\r\n"
    assert b"".join(pieces) == expected == b"".join(stuffed([data]))


def test_text_known_ready_goes_on_unchanged_and_unknown_text_is_stuffed() -> None:
    clean = [b"From: a\r\n\r\nQUJD\r\n", b"REVG\r\nR0hJ", b"\r\n"]
    assert b"".join(stuffed(clean, lambda: True)) == b"".join(clean)
    assert b"".join(stuffed([b"a\n.b\n"], lambda: False)) == b"a\r\n..b\r\n"
    # the last partial line is always normalised: DATA must end with CRLF
    assert b"".join(stuffed([b"QUJD\r\nREVG"], lambda: True)) == b"QUJD\r\nREVG\r\n"
