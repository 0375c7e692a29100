"""How many a campaign is sent to: the total, counted on one snapshot while batches go out.

:class:`mailer.delivery.ledger.Ledger` stores the campaign's ``recipients`` (what progress
bars, ``mailer campaigns`` and the signal floor of :mod:`mailer.delivery.signals` divide by)
with :func:`count_total`: the deliveries already queued, by status, plus the members not
yet queued (:func:`mailer.delivery.recipients.eligible`, the one anti-join of a send).

Both counts read one snapshot (SQLite: a read transaction; PostgreSQL: repeatable read),
so batches queued meanwhile move recipients from one count to the other and leave the sum
alone. That lets :func:`count_meanwhile` count on a thread of its own, once the snapshot
is taken, while the first batches go out: the anti-join over a list of a million members
takes about a second, which the send no longer waits for.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future

from sqlalchemy import Engine, func, select

from .. import db
from .outcomes import set_campaign
from .pool import writing
from .recipients import eligible, unnested

DS = db.DeliveryStatus


def count_total(
    engine: Engine,
    campaign_id: int,
    list_id: int,
    *,
    joining: bool = False,
    snapshot: threading.Event | None = None,
) -> tuple[int, int]:
    """(recipients in all, recipients already settled) — and store the total.

    A runner that joins a campaign others are sending (*joining*) takes the total its
    starter stored. On PostgreSQL the anti-join runs without nested loops, so the
    statistics of a ``deliveries`` table that fills during the send cannot turn it into a
    nested loop that re-reads the campaign's deliveries for every member (minutes instead
    of milliseconds). *snapshot* is set once the snapshot is taken (or counting failed)."""
    c = db.campaigns
    try:
        with db.snapshot(engine) as conn:
            queued = db.held.status_counts(conn, campaign_id)
            if snapshot is not None:
                snapshot.set()
            settled = int(sum(v for k, v in queued.items() if k != DS.PENDING.value))
            if joining:
                stored = conn.execute(select(c.c.recipients).where(c.c.id == campaign_id)).scalar()
                if stored:
                    return int(stored), settled
            unnested(conn)
            fresh = conn.execute(
                select(func.count()).select_from(eligible(campaign_id, list_id).subquery())
            ).scalar_one()
    finally:
        if snapshot is not None:
            snapshot.set()
    total = int(sum(queued.values()) + fresh)
    with writing(engine) as conn:
        set_campaign(conn, campaign_id, recipients=total)
    return total, settled


def count_meanwhile(
    engine: Engine, campaign_id: int, list_id: int, *, joining: bool = False
) -> Future[tuple[int, int]]:
    """:func:`count_total` on a thread of its own, returned once its snapshot is taken:
    its future holds (total, settled) or the error. Wait for it before the campaign can be
    marked sent (the total is stored only while it is ``sending``)."""
    snapshot = threading.Event()
    future: Future[tuple[int, int]] = Future()

    def count() -> None:
        try:
            future.set_result(
                count_total(engine, campaign_id, list_id, joining=joining, snapshot=snapshot)
            )
        except BaseException as exc:
            future.set_exception(exc)

    threading.Thread(target=count, name="mailer-count", daemon=True).start()
    snapshot.wait()
    return future
