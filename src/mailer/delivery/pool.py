"""Batches in flight: up to ``[sending] concurrency`` requests of one campaign at once.

This module owns the lanes of a send: one backend per lane (each with its own client or
SMTP connection: the SendGrid client and ``smtplib`` are not shared between threads),
:class:`InFlight`, the loop that keeps every lane busy, and :func:`writing`, the write
transaction the lanes and the preparing thread take turns on. The ledger's rules are per
batch and unchanged (see :mod:`mailer.delivery.ledger`): the calling thread *prepares*
batches (selects their recipients and records them ``pending``) while others are in
flight, up to one per lane ahead, so a lane that gets its answer finds the next batch
ready; a lane thread marks its batch in flight, sends it and records what the provider
said. A batch is marked in flight only by the lane that sends it, never while it waits.
With one lane (``concurrency = 1``) of a provider that makes it wait, the next batch is
prepared while the current one is in flight too, and handed over once its answer is read.

Killed at any instant, every batch is in one of the ledger's states, and
:mod:`mailer.delivery.recovery` settles each in-flight batch on its own.
"""

from __future__ import annotations

import gc
import logging
import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager

from sqlalchemy import Engine
from sqlalchemy.engine import Connection

from .. import db
from ..backends import Backend
from ..backends.base import Batch

log = logging.getLogger(__name__)

#: prepares the next batch (calling thread), given the ids of the batches held by lanes
Take = Callable[[set[int]], "Batch | None"]
#: sends one prepared batch on one lane (lane thread): None when it went through, else the error
Send = Callable[[Backend, Batch], "str | None"]

_locks: dict[str, threading.RLock] = {}
_locks_guard = threading.Lock()


def _write_lock(engine: Engine) -> threading.RLock | None:
    """This process's lock for writing to *engine*'s SQLite file (None: PostgreSQL)."""
    if engine.dialect.name != "sqlite":
        return None
    key = str(engine.url)
    with _locks_guard:
        lock = _locks.get(key)
        if lock is None:
            lock = _locks[key] = threading.RLock()
        return lock


@contextmanager
def writing(engine: Engine) -> Iterator[Connection]:
    """A write transaction (``db.transaction``) of the send loop. On SQLite this process's
    writers take turns on a lock first: SQLite has one writer at a time, and a thread that
    finds the file locked by another thread of this process would otherwise sleep in
    SQLite's busy handler (1, 2, 5, 10… ms) instead of starting when the other commits.
    Another process (``mailer serve``) still meets the busy timeout as before."""
    lock = _write_lock(engine)
    if lock is None:
        with db.transaction(engine) as conn:
            yield conn
        return
    with lock, db.transaction(engine) as conn:
        yield conn


@contextmanager
def heap_frozen() -> Iterator[None]:
    """While a send runs, the objects alive before it (the imported modules, SQLAlchemy's
    tables and caches: hundreds of thousands) are left out of the garbage collector's
    full passes (``gc.freeze``), which would otherwise walk them all every few dozen
    batches (~50 ms each, holding the GIL). Afterwards they are collected as before."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def waits(backend: Backend) -> bool:
    """Whether a send on *backend* waits for a provider (it has ``fork``: SendGrid, SMTP):
    then even one lane gets a thread of its own, so the next batch is prepared while the
    provider answers. A backend without it (the memory backend) sends at once: its batches
    go one after the other on the calling thread."""
    return getattr(backend, "fork", None) is not None


def lanes(backend: Backend, concurrency: int) -> list[Backend]:
    """*backend* plus ``concurrency - 1`` forks of it (its ``fork()``: same settings, own
    connection). A backend without ``fork`` (the memory backend, users' own) gets one lane."""
    fork = getattr(backend, "fork", None)
    if concurrency <= 1 or fork is None:
        return [backend]
    return [backend, *(fork() for _ in range(concurrency - 1))]


class InFlight:
    """Keep every lane busy with the batches *take* prepares; yields ``(batch, error)`` as
    each batch's answer comes (in the order answers come, not the order batches left).

    Each lane is a thread that takes the next prepared batch from a line as soon as it is
    free, so a lane never waits for the preparing thread to notice its answer. Up to one
    batch per lane waits in that line (recorded ``pending``, not in flight); those still
    waiting when the loop stops are :attr:`left`, for the caller to put back in line.
    One lane alone: see :meth:`_one_lane_ahead` (and :meth:`_one_lane` for a backend that
    does not wait)."""

    def __init__(
        self,
        lanes: list[Backend],
        take: Take,
        send: Send,
        ahead: Callable[[Batch], None] | None = None,
    ) -> None:
        self.lanes, self.take, self.send = lanes, take, send
        #: work a batch can have done before it leaves (the backend's ``prepare``: SendGrid
        #: encodes its body), done by the preparing thread when every lane is busy anyway
        self.ahead = ahead
        #: set when *take* had nothing more and no batch was in flight
        self.exhausted = False
        #: prepared batches that never went to a lane (the loop stopped first)
        self.left: list[Batch] = []

    def run(self, keep_going: Callable[[], bool]) -> Iterator[tuple[Batch, str | None]]:
        """Batches until *take* has none or *keep_going* says no (checked before each batch
        is prepared). Closing the iterator, or an error from a lane, lets the batches in
        flight finish and record their answers first."""
        if len(self.lanes) == 1:
            if waits(self.lanes[0]):
                yield from self._one_lane_ahead(keep_going)
            else:
                yield from self._one_lane(keep_going)
            return
        line: queue.SimpleQueue[Batch | None] = queue.SimpleQueue()
        answers: queue.SimpleQueue[tuple[Batch, str | None, BaseException | None]]
        answers = queue.SimpleQueue()

        def lane_loop(lane: Backend) -> None:
            while (batch := line.get()) is not None:
                try:
                    answers.put((batch, self.send(lane, batch), None))
                except BaseException as exc:  # handed to the loop, which raises it
                    answers.put((batch, None, exc))

        threads = [
            threading.Thread(target=lane_loop, args=(lane,), name=f"mailer-send-{i}", daemon=True)
            for i, lane in enumerate(self.lanes)
        ]
        for thread in threads:
            thread.start()
        held: set[int] = set()  # in the line or in flight: not answered yet
        #: *take* had nothing: ask again only once an answer came (a lane may put one back)
        dry = stopping = False
        try:
            while True:
                while True:  # answers first: they free lanes and may put batches back
                    try:
                        batch, error, exc = answers.get_nowait()
                    except queue.Empty:
                        break
                    held.discard(batch.batch_id)
                    dry = False
                    if exc is not None:
                        raise exc
                    yield batch, error
                if not stopping and not dry and len(held) < 2 * len(self.lanes):
                    if not keep_going():  # no new batch; the ones in flight answer first
                        stopping = True
                        self._take_back(line, held)
                        continue
                    taken = self.take(held)
                    if taken is None:
                        dry = True
                        if not held:
                            self.exhausted = True
                            return
                        continue
                    if self.ahead is not None and len(held) >= len(self.lanes):
                        self.ahead(taken)  # every lane is busy: it will wait in line
                    held.add(taken.batch_id)
                    line.put(taken)
                    continue
                if not held:
                    return
                batch, error, exc = answers.get()
                held.discard(batch.batch_id)
                dry = False
                if exc is not None:
                    raise exc
                yield batch, error
        finally:  # stopped, or an error: the batches in flight finish, their lanes record
            self._take_back(line, held)
            for _ in threads:
                line.put(None)
            for thread in threads:
                thread.join()

    def _take_back(self, line: queue.SimpleQueue[Batch | None], held: set[int]) -> None:
        """The batches still waiting in line, taken back before any lane takes them."""
        while True:
            try:
                waiting = line.get_nowait()
            except queue.Empty:
                return
            if waiting is not None:
                self.left.append(waiting)
                held.discard(waiting.batch_id)

    def _one_lane_ahead(self, keep_going: Callable[[], bool]) -> Iterator[tuple[Batch, str | None]]:
        """One lane that waits for its provider (``concurrency = 1``): the next batch is
        prepared (and :attr:`ahead` done) on this thread while the current one is in flight
        on the lane's, and handed to the lane only once the current one's answer has been
        yielded and *keep_going* still says yes. So batches leave one after the other, each
        after the loop has seen the previous answer (a pause after failed batches stops
        before the next one leaves), and the one prepared ahead is :attr:`left` when the
        loop stops first."""
        lane = self.lanes[0]
        flying: tuple[Batch, Future[str | None]] | None = None
        ready: Batch | None = None
        stopping = False
        with ThreadPoolExecutor(1, thread_name_prefix="mailer-send") as pool:
            try:
                while True:
                    if ready is None and not stopping:
                        if keep_going():
                            ready = self.take({flying[0].batch_id} if flying else set())
                            if ready is None and flying is None:
                                self.exhausted = True
                                return
                            if ready is not None and flying is not None and self.ahead:
                                self.ahead(ready)  # the lane is busy: it will wait for it
                        else:
                            stopping = True  # the one in flight answers first
                    if flying is not None:
                        batch, answer = flying
                        flying = None  # nothing in flight while the loop reads the answer
                        yield batch, answer.result()
                        continue
                    if ready is None or stopping or not keep_going():
                        return
                    flying, ready = (ready, pool.submit(self.send, lane, ready)), None
            finally:
                if ready is not None:
                    self.left.append(ready)

    def _one_lane(self, keep_going: Callable[[], bool]) -> Iterator[tuple[Batch, str | None]]:
        """One lane of a backend that does not wait (:func:`waits`): no thread, one batch
        after the other."""
        lane = self.lanes[0]
        while keep_going():
            batch = self.take(set())
            if batch is None:
                self.exhausted = True
                return
            yield batch, self.send(lane, batch)
