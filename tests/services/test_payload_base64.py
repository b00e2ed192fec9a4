"""Base64 bodies in 76-character CRLF lines (RFC 2045 6.8), however the input is cut."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from e2email.core.base64text import base64_lines
from e2email.services.protect.payload import CHUNK, base64_file


@pytest.mark.parametrize("n", [0, 1, 2, 3, 56, 57, 58, 113, 114, 1000, CHUNK, CHUNK + 5])
def test_lines_are_76_characters_joined_by_crlf(n: int) -> None:
    data = os.urandom(n)
    out = base64_lines(data)
    lines = out.split(b"\r\n") if out else []
    assert all(len(line) == 76 for line in lines[:-1]) and all(len(x) <= 76 for x in lines)
    assert base64.b64decode(b"".join(lines)) == data
    assert not out.endswith(b"\r\n")


def test_a_file_over_several_chunks_decodes_to_itself(tmp_path: Path) -> None:
    data = os.urandom(2 * CHUNK + 1234)
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    text = b"".join(base64_file(path))
    assert max(len(line) for line in text.split(b"\r\n")) == 76
    assert b"\n" not in text.replace(b"\r\n", b"")
    assert base64.b64decode(text.replace(b"\r\n", b"")) == data
