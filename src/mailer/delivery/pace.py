"""The sending pace shared by every runner: ``[sending] rate`` and ``hourly_cap``.

One row of ``send_pace`` (scope ``all``: one provider account) holds the pace of every
runner on the database, updated in one short transaction per batch (PostgreSQL: the row
``FOR UPDATE``; SQLite: the write lock):

* ``rate`` (messages per second) is a virtual schedule: ``tat`` is the time the
  messages booked so far have used up. A batch of *n* books ``n / rate`` seconds after
  ``max(now, tat)`` and leaves at the end of its slot, so over any span no more than
  ``rate × span`` messages leave, whatever the number of runners;
* ``hourly_cap``: at most that many messages per clock hour (``hour_start``,
  ``hour_count``); a batch that does not fit waits for the next hour.

A runner waits before it marks a batch in flight (the batch is still ``pending``), in
short sleeps, so a stop or a pause ends the wait. 429 answers and ``X-RateLimit-Reset``
are still honoured by the backend on top of this.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from sqlalchemy import Engine, select

from .. import db
from ..config import Sending
from .pool import writing

log = logging.getLogger(__name__)

SCOPE = "all"
#: the longest single sleep while waiting for a slot (a stop is noticed within it)
SLICE = 0.5


def book(engine: Engine, n: int, rate: float | None, hourly_cap: int | None) -> float:
    """Book *n* messages; the epoch time at which they may leave."""
    p = db.send_pace
    now = time.time()
    with writing(engine) as conn:
        row = conn.execute(select(p).where(p.c.name == SCOPE).with_for_update()).first()
        if row is None:  # the first booking: runners starting together may both get here
            db.insert_once(conn, p, "name", name=SCOPE, tat=now, hour_start=0.0, hour_count=0)
            row = conn.execute(select(p).where(p.c.name == SCOPE).with_for_update()).one()
        tat, hour_start, hour_count = float(row.tat), float(row.hour_start), int(row.hour_count)
        leave = now
        if hourly_cap:
            hour = float(int(now // 3600) * 3600)
            if hour > hour_start:
                hour_start, hour_count = hour, 0
            if hour_count + n > hourly_cap and hour_count:
                hour_start, hour_count = hour_start + 3600, 0  # the next hour
            leave = max(leave, hour_start)
            hour_count += n
        if rate:
            start = max(leave, tat)
            tat = start + n / rate
            leave = tat
        conn.execute(
            p.update()
            .where(p.c.name == SCOPE)
            .values(tat=tat, hour_start=hour_start, hour_count=hour_count)
        )
    return leave


def wait_for_slot(
    engine: Engine, settings: Sending, n: int, stopped: Callable[[], bool] | None = None
) -> bool:
    """Wait until *n* messages may leave under the shared pace; False when *stopped*
    said so first (the slot is given up)."""
    if not settings.rate and not settings.hourly_cap:
        return True
    leave = book(engine, n, settings.rate, settings.hourly_cap)
    while True:
        left = leave - time.time()
        if left <= 0:
            return True
        if stopped is not None and stopped():
            return False
        time.sleep(min(SLICE, left))
