"""Batch ownership: several runners sending one campaign (PostgreSQL).

Every runner that finds a campaign ``sending`` helps with it (``schedule.worker``), so
each batch names its ``owner`` (``process.runner_id``) and when that runner last said it
was alive (``heartbeat_at``). This module owns those two columns:

* a runner *claims* a batch when it prepares it (``Ledger.next_new``: new rows, chosen
  with ``FOR UPDATE SKIP LOCKED`` so two runners never pick the same page) or takes a
  pending one (:func:`take_pending`: one nobody owns, or whose owner is stale); the
  batch list is read without locks and only the batch taken is locked
  (:func:`lock_if_unchanged`), so runners never wait on each other's batches;
* :class:`BatchHeartbeat` refreshes ``heartbeat_at`` of the runner's batches while it
  sends; a batch whose owner is gone (its PID gone on this host, or no heartbeat for
  :data:`mailer.process.LEASE`) is settled by the usual rules
  (:mod:`mailer.delivery.recovery`): in flight → ``unknown``, pending → sent again;
* :func:`open_batches` tells a runner that ran out of work whether others still have
  batches open, so the campaign is marked sent only by the last one.

On SQLite one runner sends a campaign (the campaign lock is exclusive): every batch not
held by this process is its own to take.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Collection
from datetime import datetime

from sqlalchemy import Engine, func, select
from sqlalchemy.engine import Connection

from .. import db
from ..process import claim_is_stale
from .pool import writing

log = logging.getLogger(__name__)

DS = db.DeliveryStatus
#: how often (seconds) a sending runner refreshes its batches' heartbeat
HEARTBEAT_SECONDS = 30.0


def is_shared(engine: Engine) -> bool:
    """Whether several runners may send one campaign together (PostgreSQL)."""
    return engine.dialect.name == "postgresql"


def is_stale(owner: str | None, heartbeat: datetime | None, me: str, now: datetime) -> bool:
    """A batch's owner no longer counts: none recorded, this very process name (a process
    that died and whose PID came back), or :func:`mailer.process.claim_is_stale`."""
    if owner is None or owner == me:
        return True
    return claim_is_stale(owner, heartbeat, now)


def lock_if_unchanged(
    conn: Connection, batch_id: int, status: str, owner: str | None, beat: datetime | None
) -> bool:
    """Lock batch *batch_id* (``FOR UPDATE SKIP LOCKED``) if it still has the *status*,
    *owner* and heartbeat read a moment ago; False when another runner holds or changed it.

    Runners read the batch list without locks and lock only the one batch they take, so
    a runner looking for work never holds the row locks of batches other runners are
    about to mark in flight or settle (which would make them wait for it)."""
    b = db.batches
    query = select(b.c.id).where(
        b.c.id == batch_id,
        b.c.status == status,
        b.c.owner.is_(None) if owner is None else b.c.owner == owner,
        b.c.heartbeat_at.is_(None) if beat is None else b.c.heartbeat_at == beat,
    )
    return conn.execute(query.with_for_update(skip_locked=True)).first() is not None


def take_pending(
    conn: Connection, campaign_id: int, me: str, held: Collection[int], shared: bool
) -> int | None:
    """Claim the first pending batch of the campaign this runner may send (not in *held*,
    the batches this process has prepared or in flight); its id, or None. Shared: only
    the batch taken is locked (:func:`lock_if_unchanged`)."""
    b = db.batches
    query = select(b.c.id, b.c.owner, b.c.heartbeat_at).where(
        b.c.campaign_id == campaign_id, b.c.status == DS.PENDING.value
    )
    if held:
        query = query.where(b.c.id.not_in(sorted(held)))
    query = query.order_by(b.c.id).limit(50)
    now = db.utcnow()
    for bid, owner, beat in conn.execute(query).all():
        if shared:
            if not is_stale(owner, beat, me, now):
                continue  # prepared by a live runner: about to leave
            if not lock_if_unchanged(conn, bid, DS.PENDING.value, owner, beat):
                continue  # another runner took it first
        conn.execute(b.update().where(b.c.id == bid).values(owner=me, heartbeat_at=now))
        return int(bid)
    return None


def open_batches(conn: Connection, campaign_id: int) -> int:
    """Batches of the campaign still pending or in flight (anyone's)."""
    b = db.batches
    return int(
        conn.execute(
            select(func.count()).where(
                b.c.campaign_id == campaign_id, b.c.status.in_([DS.PENDING.value, "sending"])
            )
        ).scalar_one()
    )


def lock_campaign(conn: Connection, campaign_id: int) -> str:
    """Serialise the runners' last steps on one campaign (its row, ``FOR UPDATE``); the
    campaign's status once locked (another runner may have just marked it sent)."""
    c = db.campaigns
    query = select(c.c.status).where(c.c.id == campaign_id).with_for_update()
    return str(conn.execute(query).scalar())


class BatchHeartbeat:
    """Refresh ``heartbeat_at`` of this runner's open batches every *interval* seconds."""

    def __init__(self, engine: Engine, campaign_id: int, me: str, interval: float) -> None:
        self.engine, self.campaign_id, self.me, self.interval = engine, campaign_id, me, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mailer-batch-beat", daemon=True)

    def beat(self) -> None:
        b = db.batches
        with writing(self.engine) as conn:
            conn.execute(
                b.update()
                .where(
                    b.c.campaign_id == self.campaign_id,
                    b.c.owner == self.me,
                    b.c.status.in_([DS.PENDING.value, "sending"]),
                )
                .values(heartbeat_at=db.utcnow())
            )

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.beat()
            except Exception as exc:  # keep sending; the lease is long
                log.warning("campaign %s: batch heartbeat failed: %s", self.campaign_id, exc)

    def __enter__(self) -> BatchHeartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
