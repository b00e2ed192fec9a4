"""Spools: a finished message in a temporary file, read back in chunks, never whole in memory.

A 100 MB attachment becomes a ~190 MB PGP/MIME copy; holding that as ``bytes`` (and then
splitting, stuffing and joining it for SMTP, and again for the outbox) costs several times the
message in RSS (performance.md). A :class:`Spool` is an open file whose name is already gone:
it can be read any number of times (``pread``, so readers never share an offset), it is
freed when closed or garbage-collected, and nothing else on the machine can open it.

A :class:`GrowingSpool` is one still being written: protection writes a large copy into it
in one thread while the SMTP client in another already sends what is there, so encryption
and submission overlap. Readers wait for more, and get the writer's exception if it fails.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

CHUNK = 1 << 20


class Spool:
    """A read-only byte range of an open file: ``size`` bytes from ``offset``."""

    def __init__(self, file: BinaryIO, offset: int = 0, size: int | None = None) -> None:
        self._file = file
        self._fd = file.fileno()
        self.offset = offset
        self._size = os.fstat(self._fd).st_size - offset if size is None else size
        self._closer = weakref.finalize(self, file.close)

    @property
    def size(self) -> int:
        """The length in bytes."""
        return self._size

    @property
    def known_size(self) -> int | None:
        """The length if it is final already (a growing spool's is not)."""
        return self._size

    def _end(self, pos: int) -> int:
        """Where what can be read from ``pos`` on ends (a growing spool waits for more)."""
        return self.offset + self._size

    def data_ready(self) -> bool:
        """True if all written so far is known to go into SMTP DATA as it is (CRLF line
        ends, no line starting with a dot); False when unknown."""
        return False

    def chunks(self, size: int = CHUNK) -> Iterator[bytes]:
        """The bytes in pieces of at most ``size``."""
        pos = self.offset
        while pos < (end := self._end(pos)):
            piece = os.pread(self._fd, min(size, end - pos), pos)
            if not piece:
                raise OSError(f"spool truncated at {pos - self.offset} bytes")
            pos += len(piece)
            yield piece

    def read(self) -> bytes:
        """All of it as one object (small messages, and tests)."""
        return b"".join(self.chunks())

    def sha256(self) -> str:
        """Hex SHA-256 of the bytes, read chunk by chunk."""
        digest = hashlib.sha256()
        for piece in self.chunks():
            digest.update(piece)
        return digest.hexdigest()

    def copy_to(self, fd: int) -> None:
        """Append the bytes to the open file ``fd`` (in the kernel when it can)."""
        pos, end = self.offset, self.offset + self.size
        try:
            while pos < end:
                n = os.copy_file_range(self._fd, fd, end - pos, pos)
                if n == 0:
                    raise OSError(f"spool truncated at {pos - self.offset} of {self.size} bytes")
                pos += n
        except OSError as e:
            if pos != self.offset or e.errno is None:
                raise
            for piece in self.chunks():  # file systems (or kernels) without copy_file_range
                view = memoryview(piece)
                while view:
                    view = view[os.write(fd, view) :]

    def close(self) -> None:
        """Release the file now (it is released at garbage collection otherwise)."""
        self._closer()

    def __len__(self) -> int:
        return self.size

    def __bool__(self) -> bool:  # never through __len__, which waits for a growing spool
        return True


class GrowingSpool(Spool):
    """A spool its writer is still appending to; ``finish()`` or ``fail()`` ends it.

    ``chunks()`` follows the writer, waiting for more; ``size`` (and so ``read``, ``sha256``,
    ``copy_to``) waits for the end. Either raises the writer's exception if it failed.
    """

    def __init__(self, directory: Path | None = None) -> None:
        file = tempfile.TemporaryFile(dir=directory)  # noqa: SIM115 - closed by Spool.close/GC
        super().__init__(file, 0, 0)
        self._changed = threading.Condition()
        self._done = False
        self._error: BaseException | None = None
        self._ready = True  # every write so far is DATA-ready
        self._line_start = True  # the next write begins a line

    # -- the writer ---------------------------------------------------------------------------

    def write(self, data: bytes, *, lines: bool = False) -> None:
        """Append ``data`` and wake the readers.

        ``lines``: the writer vouches that ``data`` has CRLF line ends only and no line
        starting with a dot (base64 text), so it is not scanned; anything else is.
        """
        if not data:
            return
        if self._ready and not lines:
            self._ready = _data_ready(data, self._line_start)
        self._line_start = data.endswith(b"\n")
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]
        with self._changed:
            self._size += len(data)
            self._changed.notify_all()

    def finish(self) -> None:
        """Nothing more will be written."""
        with self._changed:
            self._done = True
            self._changed.notify_all()

    def fail(self, error: BaseException) -> None:
        """The writer failed: readers raise ``error`` instead of reading on."""
        with self._changed:
            self._error, self._done = error, True
            self._changed.notify_all()

    # -- readers ------------------------------------------------------------------------------

    @property
    def size(self) -> int:
        """The final length, once the writer finished."""
        with self._changed:
            while not self._done:
                self._changed.wait()
            self._raise()
            return self._size

    @property
    def known_size(self) -> int | None:
        """The length if the writer finished, else None."""
        with self._changed:
            self._raise()
            return self._size if self._done else None

    def _end(self, pos: int) -> int:
        with self._changed:
            while not self._done and self.offset + self._size <= pos:
                self._changed.wait()
            self._raise()
            return self.offset + self._size

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def data_ready(self) -> bool:
        """True while every write so far was DATA-ready (vouched for, or scanned)."""
        return self._ready


def _data_ready(data: bytes, line_start: bool) -> bool:
    """CRLF line ends only, and no line starting with a dot (RFC 5321 4.5.2)."""
    if (line_start and data.startswith(b".")) or b"\n." in data:
        return False
    return data.count(b"\n") == data.count(b"\r\n")
