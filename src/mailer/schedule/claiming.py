"""Claiming scheduled campaigns: one runner per campaign, stale claims taken over, and
(PostgreSQL) helping with a campaign another runner is sending.

* In one write transaction (SQLite: ``BEGIN IMMEDIATE``, so the whole step is serial;
  PostgreSQL: ``SELECT … FOR UPDATE SKIP LOCKED``) pick the next candidate and
  ``UPDATE … SET status='sending', claimed_by=me WHERE id=? AND status='scheduled'``;
  the claim holds only if exactly one row changed.
* A ``sending`` campaign claimed by a runner is taken over (resumed from the sender's
  ledger) when its claim is stale (:func:`mailer.process.claim_is_stale`).
* A campaign due more than ``[schedule] max_delay`` ago is *held*: marked ``late``
  (:func:`mark_late`), and claimed only with ``send_late``.
* PostgreSQL, ``join``: with nothing of its own to claim, a runner takes a campaign
  another live runner is sending, to help with it. A runner that found the due campaign
  locked by a claim not committed yet waits for it (:func:`claimed_elsewhere`).

What runs a claimed campaign, and the heartbeat of its claim, is :mod:`.worker`'s.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Engine, and_, or_, select

from .. import db
from ..process import LEASE, claim_is_stale

log = logging.getLogger(__name__)

SEND = db.CampaignKind.SEND.value


@dataclass(frozen=True)
class Claim:
    """A campaign this runner now owns."""

    campaign_id: int
    resumed: bool  # taken over from a runner that died
    late: bool
    helping: bool = False  # another live runner claimed it: this one sends batches too


def mark_late(engine: Engine, now: datetime, max_delay: timedelta) -> list[int]:
    """Flag scheduled campaigns due more than *max_delay* ago as late; return their ids."""
    c = db.campaigns
    cond = and_(
        c.c.status == db.CampaignStatus.SCHEDULED.value,
        c.c.kind == SEND,
        c.c.scheduled_at < now - max_delay,
        c.c.late.is_(False),
    )
    with db.transaction(engine) as conn:
        ids = [int(r[0]) for r in conn.execute(select(c.c.id).where(cond))]
        if ids:
            conn.execute(c.update().where(c.c.id.in_(ids), cond).values(late=True))
    return ids


def due_condition(
    now: datetime, max_delay: timedelta, *, send_late: bool, exclude: frozenset[int]
) -> ColumnElement[bool]:
    """Scheduled campaigns (sends to a list) due at *now* and not held late, none of *exclude*."""
    c = db.campaigns
    due = and_(
        c.c.status == db.CampaignStatus.SCHEDULED.value,
        c.c.kind == SEND,
        c.c.scheduled_at <= now,
        c.c.id.not_in(exclude),
    )
    if not send_late:
        on_time = and_(c.c.late.is_(False), c.c.scheduled_at >= now - max_delay)
        due = and_(due, or_(on_time, c.c.send_late.is_(True)))
    return due


def claimed_elsewhere(
    engine: Engine,
    *,
    now: datetime,
    me: str,
    max_delay: timedelta,
    send_late: bool = False,
    exclude: frozenset[int] = frozenset(),
) -> bool:
    """PostgreSQL: whether a due campaign :func:`claim_next` skipped is being claimed by
    another runner right now (its row locked, its claim not committed yet), or was claimed
    since (it is ``sending`` now, so :func:`claim_next` would join it). A runner started
    together with the claimant looks again a moment later and helps instead of finding
    nothing to do."""
    if engine.dialect.name != "postgresql":
        return False  # SQLite: claims are serial (BEGIN IMMEDIATE), nothing is skipped
    c = db.campaigns
    due = due_condition(now, max_delay, send_late=send_late, exclude=exclude)
    joinable = and_(
        c.c.status == db.CampaignStatus.SENDING.value,
        c.c.kind == SEND,
        c.c.claimed_by.is_not(None),
        c.c.claimed_by != me,
        c.c.id.not_in(exclude),
    )
    with db.read(engine) as conn:
        return conn.execute(select(c.c.id).where(or_(due, joinable)).limit(1)).first() is not None


def claim_next(
    engine: Engine,
    *,
    now: datetime,
    me: str,
    max_delay: timedelta,
    send_late: bool = False,
    lease: timedelta = LEASE,
    exclude: frozenset[int] = frozenset(),
    join: bool = False,
) -> Claim | None:
    """Atomically take the next campaign to send (a stale one first), or None. *join*
    (PostgreSQL): else a campaign another runner is sending, to help with it."""
    c = db.campaigns
    with db.transaction(engine) as conn:
        stale_q = (
            select(c.c.id, c.c.claimed_by, c.c.claimed_at, c.c.late)
            .where(
                c.c.status == db.CampaignStatus.SENDING.value,
                c.c.kind == SEND,
                c.c.claimed_by.is_not(None),
                or_(c.c.claimed_by != me, c.c.claimed_at.is_(None)),
                c.c.id.not_in(exclude),
            )
            .order_by(c.c.id)
            .with_for_update(skip_locked=True)
        )
        for cid, owner, at, late in conn.execute(stale_q).all():
            if not claim_is_stale(owner, at, now, lease):
                continue
            guard = c.c.claimed_at.is_(None) if at is None else c.c.claimed_at == at
            done = conn.execute(
                c.update()
                .where(
                    c.c.id == cid,
                    c.c.status == db.CampaignStatus.SENDING.value,
                    c.c.claimed_by == owner,
                    guard,
                )
                .values(claimed_by=me, claimed_at=now)
            )
            if done.rowcount == 1:
                log.warning("campaign %s: resuming after %s stopped", cid, owner)
                return Claim(int(cid), resumed=True, late=bool(late))
        due = due_condition(now, max_delay, send_late=send_late, exclude=exclude)
        row = conn.execute(
            select(c.c.id, c.c.scheduled_at)
            .where(due)
            .order_by(c.c.scheduled_at, c.c.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        ).first()
        if row is None:
            if not join or conn.dialect.name != "postgresql":
                return None
            helped = conn.execute(
                select(c.c.id)
                .where(
                    c.c.status == db.CampaignStatus.SENDING.value,
                    c.c.kind == SEND,
                    c.c.claimed_by.is_not(None),
                    c.c.claimed_by != me,
                    c.c.id.not_in(exclude),
                )
                .order_by(c.c.id)
                .limit(1)
            ).first()
            if helped is None:
                return None
            return Claim(int(helped[0]), resumed=False, late=False, helping=True)
        done = conn.execute(
            c.update()
            .where(c.c.id == row[0], c.c.status == db.CampaignStatus.SCHEDULED.value)
            .values(status=db.CampaignStatus.SENDING.value, claimed_by=me, claimed_at=now)
        )
        if done.rowcount != 1:  # pragma: no cover - the lock makes this unreachable
            return None
        return Claim(int(row[0]), resumed=False, late=row[1] < now - max_delay)
