"""Acceptance held by the batch: what a delivery's status reads as.

A provider that answers one request for a whole batch (SendGrid: one ``202`` and one
message id for up to 1,000 recipients) has that answer recorded once, on the batch row:
``status = 'accepted'``, ``provider_id``, ``finished_at`` and ``accepted_count``, how many
of its deliveries it accepted. Those deliveries are not rewritten; they keep ``pending``
and *read* as accepted, with the batch's message id and time. (Rewriting a thousand rows
and their status index was most of a send's database work: ~3.5 ms per 1,000 recipients
on SQLite, ~11 ms on PostgreSQL, under the one write lock the send's threads share.)

A delivery's own row still records everything said of it alone: a failure at build, an
SMTP server's answer per message, ``unknown``, a later ``processed`` event. So:

* a delivery ``pending`` in a batch that holds its acceptance (:func:`holds`) is accepted,
  accepted at the batch's ``finished_at``, with the batch's ``provider_id``;
* every other delivery is what its row says.

Every reader of deliveries' status goes through this module: counts by status
(:func:`status_counts`, :func:`accepted_count`, :func:`settled_count`) add the batches'
``accepted_count`` to what the ``(campaign_id, status)`` index counts (no delivery row is
read); rows read one by one use :func:`status_of`, :func:`accepted_at_of` and
:func:`provider_id_of` over :func:`with_batch`. Writers keep ``accepted_count`` exact: a
held delivery is never updated (cancelling skips them, :func:`not_held`), and erasing one
lowers its batch's count (:func:`forget`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, not_, or_, select
from sqlalchemy.engine import Connection
from sqlalchemy.sql import FromClause

from .tables import DeliveryStatus, batches, deliveries

ACCEPTED, PENDING = DeliveryStatus.ACCEPTED.value, DeliveryStatus.PENDING.value


def holds() -> ColumnElement[bool]:
    """A batch whose row holds its pending deliveries' acceptance."""
    b = batches
    return and_(b.c.status == ACCEPTED, b.c.accepted_count.is_not(None))


def _held_row() -> ColumnElement[bool]:
    """In a query over :func:`with_batch`: this delivery is accepted through its batch."""
    return and_(deliveries.c.status == PENDING, holds())


def with_batch(source: FromClause | None = None) -> FromClause:
    """*source* (``deliveries``, or a join that has it) outer-joined to each delivery's batch."""
    d, b = deliveries, batches
    return (source if source is not None else d).outerjoin(b, b.c.id == d.c.batch_id)


def status_of() -> ColumnElement[Any]:
    """A delivery's status, its batch's acceptance applied (over :func:`with_batch`)."""
    return case((_held_row(), ACCEPTED), else_=deliveries.c.status)


def accepted_at_of() -> ColumnElement[Any]:
    """When a delivery was accepted (over :func:`with_batch`): its own time, else its batch's."""
    return case((_held_row(), batches.c.finished_at), else_=deliveries.c.accepted_at)


def provider_id_of() -> ColumnElement[Any]:
    """The provider's message id of a delivery (over :func:`with_batch`)."""
    return case((_held_row(), batches.c.provider_id), else_=deliveries.c.provider_message_id)


def not_held(campaign_id: int) -> ColumnElement[bool]:
    """For an UPDATE of *campaign_id*'s deliveries: not one whose batch holds its acceptance."""
    d, b = deliveries, batches
    holding = select(b.c.id).where(b.c.campaign_id == campaign_id, holds())
    return or_(d.c.batch_id.is_(None), not_(d.c.batch_id.in_(holding)))


def held_count(conn: Connection, campaign_ids: Sequence[int], since: datetime | None = None) -> int:
    """How many deliveries of *campaign_ids* are accepted through their batches (those
    accepted at or after *since* only, when given): the batches' ``accepted_count`` summed."""
    b = batches
    query = select(func.coalesce(func.sum(b.c.accepted_count), 0)).where(
        b.c.campaign_id.in_(list(campaign_ids)), holds()
    )
    if since is not None:
        query = query.where(b.c.finished_at >= since)
    return int(conn.execute(query).scalar_one())


def status_counts(conn: Connection, campaign_id: int) -> dict[str, int]:
    """*campaign_id*'s deliveries counted by status (accepted through a batch counted as
    accepted): the ``(campaign_id, status)`` index and the campaign's batches, no
    delivery row read."""
    d = deliveries
    counts: dict[str, int] = {
        str(k): int(n)
        for k, n in conn.execute(
            select(d.c.status, func.count())
            .where(d.c.campaign_id == campaign_id)
            .group_by(d.c.status)
        ).all()
    }
    held = held_count(conn, [campaign_id]) if counts.get(PENDING) else 0
    if held:
        counts[ACCEPTED] = counts.get(ACCEPTED, 0) + held
        counts[PENDING] -= held
        if not counts[PENDING]:
            del counts[PENDING]
    return counts


def accepted_count(
    conn: Connection, campaign_ids: Sequence[int], since: datetime | None = None
) -> int:
    """How many deliveries of *campaign_ids* were accepted (at or after *since*, when given)."""
    d = deliveries
    query = select(func.count()).where(
        d.c.campaign_id.in_(list(campaign_ids)), d.c.status == ACCEPTED
    )
    if since is not None:
        query = query.where(d.c.accepted_at >= since)
    return int(conn.execute(query).scalar_one()) + held_count(conn, campaign_ids, since)


def settled_count(conn: Connection, campaign_ids: Sequence[int]) -> int:
    """How many deliveries of *campaign_ids* were handed to the backend (not pending)."""
    d = deliveries
    own = conn.execute(
        select(func.count()).where(d.c.campaign_id.in_(list(campaign_ids)), d.c.status != PENDING)
    ).scalar_one()
    return int(own) + held_count(conn, campaign_ids)


def forget(conn: Connection, subscriber_id: int) -> None:
    """Before *subscriber_id*'s deliveries are deleted (erasure): the batches that hold
    the acceptance of one of them count one fewer."""
    d, b = deliveries, batches
    theirs = select(d.c.batch_id).where(d.c.subscriber_id == subscriber_id, d.c.status == PENDING)
    conn.execute(
        b.update().where(b.c.id.in_(theirs), holds()).values(accepted_count=b.c.accepted_count - 1)
    )
