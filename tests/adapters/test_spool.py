"""Spools: a copy in a nameless file, re-readable in bounded chunks, stored by copying; a
growing spool is read while it is written and hands its writer's failure to the reader."""

from __future__ import annotations

import gc
import hashlib
import os
import threading
from pathlib import Path

import pytest

from e2email.adapters.spool import GrowingSpool, Spool
from e2email.adapters.store.outbox import Envelope, Outbox, decode, open_entry
from e2email.errors import CryptoError, InternalError

ENV = Envelope("work", "alice@example.test", ("bob@example.test",))


def spool_of(tmp_path: Path, data: bytes) -> Spool:
    spool = GrowingSpool(tmp_path)
    spool.write(data)
    spool.finish()
    return spool


def test_a_spool_has_no_name_and_reads_any_number_of_times(tmp_path: Path) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    spool = spool_of(tmp_path, data)
    assert os.listdir(tmp_path) == []  # nothing on disk another process could open by name
    assert len(spool) == spool.size == spool.known_size == len(data)
    pieces = list(spool.chunks(1 << 20))
    assert [len(p) for p in pieces] == [1 << 20] * 3 + [17]  # bounded pieces, never whole
    assert b"".join(pieces) == data == spool.read()  # pread: a second reader starts over
    assert spool.sha256() == hashlib.sha256(data).hexdigest()
    spool.close()


def test_dropping_the_last_reference_closes_the_file_without_a_warning(tmp_path: Path) -> None:
    before = len(os.listdir("/proc/self/fd"))
    spool = spool_of(tmp_path, b"x" * 10)
    assert len(os.listdir("/proc/self/fd")) == before + 1
    del spool
    gc.collect()  # filterwarnings = error: a ResourceWarning would fail this test
    assert len(os.listdir("/proc/self/fd")) == before


def test_a_reader_follows_the_writer_until_it_finishes(tmp_path: Path) -> None:
    spool = GrowingSpool(tmp_path)
    spool.write(b"first ")
    assert spool.known_size is None  # not final: SMTP declares no SIZE for it
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.extend(spool.chunks()))
    reader.start()
    for word in (b"second ", b"third"):
        spool.write(word)
    spool.finish()
    reader.join(10)
    assert b"".join(got) == b"first second third" and spool.known_size == 18


def test_a_failed_writer_fails_the_reader_instead_of_ending_the_data(tmp_path: Path) -> None:
    spool = GrowingSpool(tmp_path)
    spool.write(b"the beginning\r\n")
    pieces = spool.chunks()
    assert next(pieces) == b"the beginning\r\n"
    spool.fail(CryptoError("gpg could not encrypt"))
    with pytest.raises(CryptoError):
        next(pieces)  # not StopIteration: a short message must never look complete
    with pytest.raises(CryptoError):
        _ = spool.size


def test_outbox_stores_a_spool_by_copying_the_file(tmp_path: Path) -> None:
    data = os.urandom(2 * 1024 * 1024) + b"\r\n.\r\n"
    box = Outbox(tmp_path / "outbox")
    entry_id = box.add(ENV, spool_of(tmp_path, data))
    envelope, stored = decode(box.queue_path(entry_id).read_bytes(), entry_id)
    assert stored == data and envelope.recipients == ENV.recipients
    with box.claim(entry_id) as claim:
        assert claim is not None
        assert claim.content.size == len(data) and claim.content.read() == data
        claim.done()


def test_a_damaged_entry_is_refused_when_read_in_chunks(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "outbox")
    entry_id = box.add(ENV, spool_of(tmp_path, b"A" * (3 << 20)))
    path = box.queue_path(entry_id)
    with path.open("r+b") as f:  # one byte changed in the middle of the data
        f.seek(-(1 << 20), os.SEEK_END)
        f.write(b"B")
    fd = os.open(path, os.O_RDONLY)
    try:
        with pytest.raises(InternalError, match="checksum"):
            open_entry(fd, entry_id)
    finally:
        os.close(fd)


@pytest.mark.parametrize(
    ("writes", "ready"),
    [
        ([b"Subject: x\r\n\r\n", b"QUJD\r\nREVG\r\n"], True),
        ([b"Subject: x\r\n\r\n", b".hidden\r\n"], False),  # a line starting with a dot
        ([b"a line\n"], False),  # a bare LF
        ([b"split CR\r", b"\nLF"], False),  # CRLF across writes: scanned apart, not trusted
        ([b"no line end yet", b".not at a line start\r\n"], True),
    ],
)
def test_a_spool_knows_whether_it_goes_into_data_unchanged(
    tmp_path: Path, writes: list[bytes], ready: bool
) -> None:
    spool = GrowingSpool(tmp_path)
    for data in writes:
        spool.write(data)
    assert spool.data_ready() is ready


def test_vouched_base64_lines_are_not_scanned_but_other_writes_are(tmp_path: Path) -> None:
    spool = GrowingSpool(tmp_path)
    spool.write(b"QUJD\r\n", lines=True)
    assert spool.data_ready()
    spool.write(b"\r\n.dot\r\n")
    assert not spool.data_ready()  # and it stays so: a later clean write cannot undo it
    spool.write(b"QUJD\r\n", lines=True)
    assert not spool.data_ready()
