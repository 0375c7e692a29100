"""Batches in flight: up to ``[sending] concurrency`` requests of one campaign at once.

This module owns the lanes of a send: one backend per lane (each with its own client or
SMTP connection: the SendGrid client and ``smtplib`` are not shared between threads),
and :class:`InFlight`, the loop that keeps every lane busy. The ledger's rules are per
batch and unchanged (see :mod:`mailer.delivery.ledger`): the calling thread *prepares*
the next batch (selects its recipients and records it ``pending``) while the others are
in flight; a lane thread marks its batch in flight, sends it and records what the
provider said. A batch is handed to a lane only when that lane is free, so a batch is
never marked in flight while waiting in a queue.

Killed at any instant, every batch is in one of the ledger's states, and
:mod:`mailer.delivery.recovery` settles each in-flight batch on its own.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from ..backends import Backend
from ..backends.base import Batch

log = logging.getLogger(__name__)

#: prepares the next batch (calling thread), given the ids of the batches held by lanes
Take = Callable[[set[int]], "Batch | None"]
#: sends one prepared batch on one lane (lane thread): None when it went through, else the error
Send = Callable[[Backend, Batch], "str | None"]


def lanes(backend: Backend, concurrency: int) -> list[Backend]:
    """*backend* plus ``concurrency - 1`` forks of it (its ``fork()``: same settings, own
    connection). A backend without ``fork`` (the memory backend, users' own) gets one lane."""
    fork = getattr(backend, "fork", None)
    if concurrency <= 1 or fork is None:
        return [backend]
    return [backend, *(fork() for _ in range(concurrency - 1))]


class InFlight:
    """Keep every lane busy with the batches *take* prepares; yields ``(batch, error)`` as
    each batch's answer comes (in the order answers come, not the order batches left)."""

    def __init__(self, lanes: list[Backend], take: Take, send: Send) -> None:
        self.lanes, self.take, self.send = lanes, take, send
        #: set when *take* had nothing more and no batch was in flight
        self.exhausted = False

    def run(self, keep_going: Callable[[], bool]) -> Iterator[tuple[Batch, str | None]]:
        """Batches until *take* has none or *keep_going* says no (checked before each batch
        is prepared). Closing the iterator, or an error from a lane, lets the batches in
        flight finish and record their answers first."""
        if len(self.lanes) == 1:
            yield from self._one_lane(keep_going)
            return
        free = list(self.lanes)
        held: set[int] = set()
        flying: dict[Future[str | None], tuple[Batch, Backend]] = {}
        prepared: Batch | None = None
        stopping = False
        with ThreadPoolExecutor(len(self.lanes), thread_name_prefix="mailer-send") as pool:
            while True:
                if prepared is None and not stopping:
                    if keep_going():
                        prepared = self.take(held)
                        if prepared is not None:
                            held.add(prepared.batch_id)
                        elif not flying:
                            self.exhausted = True
                            return
                    else:
                        stopping = True
                if prepared is not None and free and not stopping:
                    lane = free.pop()
                    flying[pool.submit(self.send, lane, prepared)] = (prepared, lane)
                    prepared = None
                    continue
                if not flying:
                    return
                done, _ = wait(flying, return_when=FIRST_COMPLETED)
                for future in done:
                    batch, lane = flying.pop(future)
                    free.append(lane)
                    held.discard(batch.batch_id)
                    yield batch, future.result()

    def _one_lane(self, keep_going: Callable[[], bool]) -> Iterator[tuple[Batch, str | None]]:
        """One lane: no thread, one batch after the other (``concurrency = 1``)."""
        lane = self.lanes[0]
        while keep_going():
            batch = self.take(set())
            if batch is None:
                self.exhausted = True
                return
            yield batch, self.send(lane, batch)
