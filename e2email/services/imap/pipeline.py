"""The fast half of folder decryption: fetch, decrypt on every core, hand back batches.

One thread FETCHes batches from the source folder (opened read-only: EXAMINE, BODY.PEEK) while
worker threads decrypt, each
owning one long-lived gpg (``adapters.openpgp.stream``; performance.md: starting gpg costs more than
decrypting a 4 KB message), so fetching, decrypting and the caller's writing overlap. A worker first
looks the original up in the destination's index: one whose copy is already there (same
SHA-256, same Message-ID) is not decrypted again. Every per-message problem becomes a
``Result`` value; only connection faults stop the run.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import cast

from e2email.adapters.cms.reader import SmimeReader
from e2email.adapters.imap import Fetched, ReadOnlyFolder
from e2email.adapters.openpgp.stream import GpgStream
from e2email.core import reader
from e2email.core.rawmime import split_entity
from e2email.errors import ConfigError, E2emailError
from e2email.services.imap import targets
from e2email.services.read import open_envelope, smime_reader
from e2email.services.runtime import Runtime


@dataclass(frozen=True)
class Result:
    """One message after decryption: a copy to store, or why there is none (``existing``:
    the destination already holds its copy, so it was not decrypted again)."""

    message: Fetched
    kind: str
    copy: targets.Copy | None = None
    skipped: str | None = None
    failed: str | None = None
    message_id: str | None = None
    existing: bool = False


def classify(m: Fetched) -> reader.Envelope:
    """``reader.classify``, with a malformed message turned into a refused one."""
    try:
        return reader.classify(m.raw)
    except E2emailError as e:
        return reader.Envelope(reader.Kind.NESTED, split_entity(b""), note=str(e))


_DONE = object()


def run(
    rt: Runtime,
    source: ReadOnlyFolder,
    uids: list[int],
    batch_size: int,
    index: targets.Index,
    workers: int = 0,
) -> Iterator[list[Result]]:
    """Fetch on one thread, decrypt on ``workers`` threads, yield batches of results."""
    workers = workers or max(2, os.cpu_count() or 2)
    jobs: queue.Queue[object] = queue.Queue(maxsize=batch_size * 2)
    results: queue.Queue[object] = queue.Queue()
    stop = threading.Event()
    threads = [
        threading.Thread(
            target=_fetcher, args=(source, uids, batch_size, jobs, results, stop, workers)
        )
    ]
    o = rt.settings.openpgp
    smime = _SmimeOnce(rt)
    for _ in range(workers):
        gpg = GpgStream(o.gnupghome, o.gpg_binary)
        threads.append(
            threading.Thread(target=_worker, args=(gpg, smime, index, jobs, results, stop))
        )
    for t in threads:
        t.start()
    try:
        yield from _batches(results, workers, batch_size)
    finally:
        stop.set()
        _drain(jobs)
        for t in threads:
            t.join()


def _batches(results: queue.Queue[object], workers: int, size: int) -> Iterator[list[Result]]:
    finished, batch = 0, list[Result]()
    while finished < workers:
        item = results.get() if not batch else _get(results)
        if item is None:
            yield batch
            batch = []
            continue
        if item is _DONE:
            finished += 1
        elif isinstance(item, BaseException):
            raise item
        else:
            batch.append(cast(Result, item))
            if len(batch) >= size:
                yield batch
                batch = []
    if batch:
        yield batch


def _get(q: queue.Queue[object]) -> object | None:
    try:
        return q.get(timeout=0.05)
    except queue.Empty:
        return None


def _drain(q: queue.Queue[object]) -> None:
    while True:
        try:
            q.get_nowait()
        except queue.Empty:
            return


def _fetcher(
    source: ReadOnlyFolder,
    uids: list[int],
    batch_size: int,
    jobs: queue.Queue[object],
    results: queue.Queue[object],
    stop: threading.Event,
    workers: int,
) -> None:
    try:
        for chunk in chunks(uids, batch_size):
            for m in source.fetch(chunk):
                while not stop.is_set():
                    try:
                        jobs.put(m, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
    except BaseException as e:  # reported by the consumer, which stops the run
        results.put(e)
    finally:
        for _ in range(workers):
            _put_done(jobs, stop)


def _put_done(jobs: queue.Queue[object], stop: threading.Event) -> None:
    """Tell one worker to finish; when stopping, make room by dropping unstarted jobs."""
    while True:
        try:
            jobs.put(_DONE, timeout=0.1)
            return
        except queue.Full:
            if stop.is_set():
                _drain(jobs)


class _SmimeOnce:
    """The S/MIME reader, built on first use (it may run the passphrase command)."""

    def __init__(self, rt: Runtime) -> None:
        self.rt, self._lock = rt, threading.Lock()
        self._reader: SmimeReader | None = None

    def __call__(self) -> SmimeReader:
        with self._lock:
            if self._reader is None:
                self._reader = smime_reader(self.rt)
            return self._reader


def _worker(
    gpg: GpgStream,
    smime: _SmimeOnce,
    index: targets.Index,
    jobs: queue.Queue[object],
    results: queue.Queue[object],
    stop: threading.Event,
) -> None:
    try:
        while True:
            try:
                job = jobs.get(timeout=0.1)
            except queue.Empty:
                if stop.is_set():
                    break
                continue
            if job is _DONE or stop.is_set():
                break
            try:
                results.put(_process(cast(Fetched, job), gpg, smime, index))
            except ConfigError as e:
                results.put(e)
                break
    finally:
        gpg.close()
        results.put(_DONE)


def _process(m: Fetched, gpg: GpgStream, smime: _SmimeOnce, index: targets.Index) -> Result:
    """Classify, decrypt and rebuild one message; every failure becomes a value."""
    env = classify(m)
    if not env.encrypted:
        if env.kind is reader.Kind.NESTED:
            return Result(m, env.kind.value, failed=env.note, message_id=env.message_id)
        return Result(m, env.kind.value, skipped=env.note, message_id=env.message_id)
    if present(m, env, index):
        return Result(m, env.kind.value, message_id=env.message_id, existing=True)
    try:
        engine = smime() if env.kind is reader.Kind.SMIME else SmimeReader(None, [])
        opened = open_envelope(env, m.raw, gpg, engine)
    except ConfigError:
        raise  # gpg cannot run, the S/MIME key is unreadable: stop the run, say what to fix
    except E2emailError as e:
        return Result(m, env.kind.value, failed=str(e), message_id=env.message_id)
    except Exception as e:  # a bug on one message must not stop the folder
        reason = f"internal error ({type(e).__name__}); please report it"
        return Result(m, env.kind.value, failed=reason, message_id=env.message_id)
    copy_id = split_entity(opened.message.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n").get("Message-ID")
    copy = targets.Copy(
        m.uid,
        opened.original_sha256,
        copy_id.value if copy_id else "",
        opened.message,
        targets.copy_flags(m.flags),
        m.internaldate,
    )
    return Result(m, env.kind.value, copy=copy, message_id=env.message_id)


def present(m: Fetched, env: reader.Envelope, index: targets.Index) -> bool:
    """True if the destination holds this original's copy (known before decrypting only for
    an original with a Message-ID: the copy keeps it)."""
    mid = env.message_id
    return mid is not None and index.holds((reader.original_sha256(m.raw), mid))


def chunks(items: list[int], size: int) -> Iterator[list[int]]:
    """``items`` in slices of ``size``."""
    for i in range(0, len(items), max(1, size)):
        yield items[i : i + size]
