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

Killed at any instant, every batch is in one of the ledger's states, and
:mod:`mailer.delivery.recovery` settles each in-flight batch on its own.
"""

from __future__ import annotations

import gc
import logging
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
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

    Up to one batch per lane is prepared ahead (recorded ``pending``, not yet in flight);
    the ones still waiting when the loop stops are :attr:`left`, for the caller to put
    back in line."""

    def __init__(
        self,
        lanes: list[Backend],
        take: Take,
        send: Send,
        ahead: Callable[[Batch], None] | None = None,
    ) -> None:
        self.lanes, self.take, self.send = lanes, take, send
        #: work a batch waiting for a lane can have done before it leaves (the backend's
        #: ``prepare``: SendGrid encodes its body), done by this thread when it would
        #: otherwise wait; a batch that leaves first has its lane do it
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
            yield from self._one_lane(keep_going)
            return
        free = list(self.lanes)
        held: set[int] = set()
        ready: deque[Batch] = deque()
        flying: dict[Future[str | None], tuple[Batch, Backend]] = {}
        stopping = False
        #: *take* had nothing: ask again only once an answer came (a lane may put one back)
        dry = False
        done_ahead: set[int] = set()
        try:
            with ThreadPoolExecutor(len(self.lanes), thread_name_prefix="mailer-send") as pool:
                while True:
                    while ready and free and not stopping:
                        lane, batch = free.pop(), ready.popleft()
                        flying[pool.submit(self.send, lane, batch)] = (batch, lane)
                    answered = [f for f in flying if f.done()]
                    if not answered and not stopping and not dry and len(ready) < len(self.lanes):
                        if not keep_going():
                            stopping = True
                            continue
                        taken = self.take(held)
                        if taken is None:
                            dry = True
                            if not flying and not ready:
                                self.exhausted = True
                                return
                        else:
                            held.add(taken.batch_id)
                            ready.append(taken)
                        continue
                    if not flying:
                        return
                    if not answered and self.ahead is not None and not stopping:
                        waiting = next((b for b in ready if b.batch_id not in done_ahead), None)
                        if waiting is not None:
                            done_ahead.add(waiting.batch_id)
                            self.ahead(waiting)
                            continue
                    if not answered:
                        answered = list(wait(flying, return_when=FIRST_COMPLETED)[0])
                    for future in answered:
                        batch, lane = flying.pop(future)
                        free.append(lane)
                        held.discard(batch.batch_id)
                        done_ahead.discard(batch.batch_id)
                        dry = False
                        yield batch, future.result()
        finally:
            self.left = list(ready)

    def _one_lane(self, keep_going: Callable[[], bool]) -> Iterator[tuple[Batch, str | None]]:
        """One lane: no thread, one batch after the other (``concurrency = 1``)."""
        lane = self.lanes[0]
        while keep_going():
            batch = self.take(set())
            if batch is None:
                self.exhausted = True
                return
            yield batch, self.send(lane, batch)
