"""CRC-24 (RFC 9580 6.1), the ASCII Armor checksum, computed by libgcrypt (gpg's own library).

e2email armors gpg's binary output itself (gpg's armor encoder costs it three times its
encryption, performance.md), and gpg 2.2 misreads armor without a checksum line whenever
the base64 ends without padding. CRC-24 in Python runs at a few MB/s; libgcrypt's, reached
through ctypes, at several GB/s. ``new()`` is None when libgcrypt cannot be loaded: the
caller then lets gpg armor.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
from typing import Any

MD_CRC24_RFC2440 = 304  # GCRY_MD_CRC24_RFC2440 in gcrypt.h

_lock = threading.Lock()
_lib: Any = None
_tried = False


def _load() -> Any:
    """libgcrypt with the signatures used here, initialised once; None if unavailable."""
    global _lib, _tried  # noqa: PLW0603 - one library handle per process
    with _lock:
        if not _tried:
            _tried = True
            try:
                lib = _open()
                lib.gcry_check_version.restype = ctypes.c_char_p
                lib.gcry_check_version.argtypes = [ctypes.c_char_p]
                lib.gcry_md_open.argtypes = [
                    ctypes.POINTER(ctypes.c_void_p),
                    ctypes.c_int,
                    ctypes.c_uint,
                ]
                lib.gcry_md_write.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
                lib.gcry_md_read.argtypes = [ctypes.c_void_p, ctypes.c_int]
                lib.gcry_md_read.restype = ctypes.POINTER(ctypes.c_ubyte)
                lib.gcry_md_close.argtypes = [ctypes.c_void_p]
                if lib.gcry_check_version(None) is not None:  # initialises the library
                    _lib = lib
            except (OSError, AttributeError):
                _lib = None
        return _lib


def _open() -> Any:
    """The library by its usual soname; else ask ld.so.cache (find_library runs ldconfig)."""
    try:
        return ctypes.CDLL("libgcrypt.so.20")
    except OSError:
        name = ctypes.util.find_library("gcrypt")
        if name is None:
            raise
        return ctypes.CDLL(name)


class Crc24:
    """A running CRC-24 over the bytes given to ``update``."""

    def __init__(self, lib: Any, handle: ctypes.c_void_p) -> None:
        self._lib, self._handle = lib, handle

    def update(self, data: bytes) -> None:
        """Add ``data``."""
        self._lib.gcry_md_write(self._handle, data, len(data))

    def digest(self) -> bytes:
        """The three checksum bytes (and the end of this object)."""
        value = bytes(self._lib.gcry_md_read(self._handle, 0)[:3])
        self._lib.gcry_md_close(self._handle)
        return value


def new() -> Crc24 | None:
    """A fresh CRC-24, or None when libgcrypt is not available."""
    lib = _load()
    if lib is None:
        return None
    handle = ctypes.c_void_p()
    if lib.gcry_md_open(ctypes.byref(handle), MD_CRC24_RFC2440, 0) != 0:
        return None
    return Crc24(lib, handle)
