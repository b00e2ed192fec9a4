"""Spools: a finished message in a temporary file, read back in chunks, never whole in memory.

A 100 MB attachment becomes a ~190 MB PGP/MIME copy; holding that as ``bytes`` (and then
splitting, stuffing and joining it for SMTP, and again for the outbox) costs several times the
message in RSS (performance.md). A :class:`Spool` is an open file whose name is already gone:
it can be read any number of times (``pread``, so readers never share an offset), it is
freed when closed or garbage-collected, and nothing else on the machine can open it.
"""

from __future__ import annotations

import hashlib
import os
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
        self.size = os.fstat(self._fd).st_size - offset if size is None else size
        self._closer = weakref.finalize(self, file.close)

    @classmethod
    def adopt(cls, path: Path) -> Spool:
        """Take over a file that was just written: open it, then remove its name."""
        file = path.open("rb")
        path.unlink()
        return cls(file)

    def chunks(self, size: int = CHUNK) -> Iterator[bytes]:
        """The bytes in pieces of at most ``size``."""
        pos, end = self.offset, self.offset + self.size
        while pos < end:
            piece = os.pread(self._fd, min(size, end - pos), pos)
            if not piece:
                raise OSError(f"spool truncated at {pos - self.offset} of {self.size} bytes")
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
