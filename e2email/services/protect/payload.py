"""Entities as byte streams: segments from ``core/mime.py`` with their streams read from files.

A large attachment is read in chunks and base64-encoded on the fly (RFC 2045 6.8: 76-character
lines), so gpg can encrypt a 100 MB message without the message ever being one Python object.
Copies are assembled into spools (a nameless temporary file in the job's private directory):
the SMTP client and the outbox read them in chunks, the client even while one is written.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import BinaryIO

from e2email.adapters.spool import GrowingSpool, Spool
from e2email.core.base64text import base64_lines
from e2email.core.mime import Segment, Stream
from e2email.errors import UsageError

CHUNK = 57 * 16 * 1024  # a whole number of base64 input groups per line (57 bytes -> 76 chars)


def base64_file(path: Path) -> Iterator[bytes]:
    """The file as base64 in 76-character lines, chunk by chunk (RFC 2045 6.8).

    Lines are separated by CRLF; the last one has none, because the line break after a
    stream's place in the body is already there.
    """
    try:
        with path.open("rb") as f:
            pending = b""
            while chunk := f.read(CHUNK):
                if pending:
                    yield pending + b"\r\n"
                pending = base64_lines(chunk)
            if pending:
                yield pending
    except OSError as e:
        raise UsageError(f"cannot read attachment {path}: {e.strerror}") from None


def chunks(segments: Iterable[Segment], files: Mapping[str, Path]) -> Iterator[bytes]:
    """The bytes of the segments, streams expanded from their files."""
    for seg in segments:
        if isinstance(seg, Stream):
            yield from base64_file(files[seg.ref])
        elif seg:
            yield seg


class SegmentReader(io.RawIOBase):
    """A read-only binary file over segments, for python-gnupg's stdin pump."""

    def __init__(self, segments: Iterable[Segment], files: Mapping[str, Path]) -> None:
        super().__init__()
        self._chunks = chunks(segments, files)
        self._buffer = b""
        self._offset = 0

    def readable(self) -> bool:
        """Always True."""
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        """Fill ``b`` from the current chunk, fetching the next when it runs out."""
        while self._offset >= len(self._buffer):
            nxt = next(self._chunks, None)
            if nxt is None:
                return 0
            self._buffer, self._offset = nxt, 0
        n = min(len(b), len(self._buffer) - self._offset)
        b[:n] = self._buffer[self._offset : self._offset + n]
        self._offset += n
        return n


def reader(segments: Iterable[Segment], files: Mapping[str, Path]) -> BinaryIO:
    """A buffered binary file over the segments."""
    return io.BufferedReader(SegmentReader(segments, files), buffer_size=1 << 16)


def to_bytes(segments: Iterable[Segment], files: Mapping[str, Path]) -> bytes:
    """All of it in memory (what the S/MIME builder needs)."""
    return b"".join(chunks(segments, files))


def size(segments: Iterable[Segment], files: Mapping[str, Path]) -> int:
    """The encoded size without reading any file (base64 with CRLF lines)."""
    total = 0
    for seg in segments:
        if isinstance(seg, Stream):
            n = files[seg.ref].stat().st_size
            encoded = 4 * ((n + 2) // 3)
            total += encoded + 2 * max(0, (encoded + 75) // 76 - 1)
        else:
            total += len(seg)
    return total


class Assembly:
    """A copy written piece by piece into a spool (read by SMTP as it grows, if it is live)."""

    def __init__(self, spool: GrowingSpool) -> None:
        self.spool = spool

    def add(self, data: bytes) -> None:
        """Append bytes."""
        self.spool.write(data)

    def add_all(self, pieces: Iterable[bytes]) -> None:
        """Append every piece."""
        for piece in pieces:
            self.spool.write(piece)

    def add_lines(self, text: bytes) -> None:
        """Append base64 text (CRLF lines, no dots): SMTP need not scan it again."""
        self.spool.write(text, lines=True)

    def finish(self) -> Spool:
        """The copy is complete."""
        self.spool.finish()
        return self.spool
