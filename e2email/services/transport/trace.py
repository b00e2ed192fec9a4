"""The ``trace`` use case: the hops a delivered message took, from its Received headers."""

from __future__ import annotations

import email
import email.policy
from pathlib import Path

from e2email.core.received import Hop, trace
from e2email.errors import MessageError, UsageError

MAX_HEADER_BYTES = 1024 * 1024


def read_headers(path: str) -> bytes:
    """The header section of a message file ('-' = stdin is handled by the caller)."""
    try:
        with Path(path).open("rb") as f:
            data = f.read(MAX_HEADER_BYTES)
    except OSError as e:
        raise UsageError(f"cannot read {path}: {e.strerror}") from None
    return data


def hops(raw: bytes) -> list[Hop]:
    """Every Received field of the message, oldest hop first (RFC 5321 4.4)."""
    end = min((i for i in (raw.find(b"\r\n\r\n"), raw.find(b"\n\n")) if i >= 0), default=len(raw))
    msg = email.message_from_bytes(raw[: end + 2], policy=email.policy.compat32)
    values = [str(v) for v in msg.get_all("Received") or []]
    if not values and not msg.keys():
        raise MessageError("no message headers found")
    return trace(values)
