"""The rows of one batch: queuing a page of new recipients, taking a pending batch back.

:class:`mailer.delivery.ledger.Ledger` builds its batches from what these functions read
and write, each in one transaction: :func:`queue_page` writes the batch row and its
``pending`` deliveries *before* anything leaves (the ledger's first rule);
:func:`take_pending` claims a batch written before but not sent (resume, a batch put
back in line) and settles the recipients who left the list meanwhile.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import Engine, select

from .. import db
from . import claims
from .campaigns import SKIPPED
from .pool import writing
from .recipients import PageReader, insert_deliveries, raw_attributes

DS = db.DeliveryStatus


def queue_page(
    engine: Engine,
    campaign_id: int,
    me: str,
    reader: PageReader,
    language: str,
    after: int,
    size: int,
) -> tuple[int, list[Any], int]:
    """Read the next page after subscriber id *after* and queue it as a pending batch owned
    by *me*: (the batch id, 0 when the page was empty; its rows; the new cursor). Raises
    ``IntegrityError`` when another runner queued one of them first."""
    b = db.batches
    bid = 0
    with writing(engine) as conn:
        rows, cursor = reader.page(conn, after, size)
        if rows:
            bid = int(
                conn.execute(
                    b.insert().values(
                        campaign_id=campaign_id,
                        status=DS.PENDING.value,
                        size=len(rows),
                        owner=me,
                        heartbeat_at=db.utcnow(),
                    )
                ).inserted_primary_key[0]  # type: ignore[index]
            )
            insert_deliveries(conn, campaign_id, bid, language, rows)
    return bid, rows, cursor


def take_pending(
    engine: Engine, campaign_id: int, me: str, held: Collection[int], shared: bool
) -> tuple[int, list[Any]] | None:
    """Claim a pending batch (:func:`.claims.take_pending`) and read its still-pending
    recipients: (batch id, rows of subscriber id, email, name, attributes, status,
    language), or None. Recipients no longer subscribed are marked failed; a batch left
    with nobody is closed and the next one taken."""
    b, d, s = db.batches, db.deliveries, db.subscribers
    subscribed = db.SubscriberStatus.SUBSCRIBED.value
    while True:
        with writing(engine) as conn:
            bid = claims.take_pending(conn, campaign_id, me, held, shared)
            if bid is None:
                return None
            rows = conn.execute(
                select(
                    d.c.subscriber_id,
                    s.c.email,
                    s.c.name,
                    raw_attributes(),
                    s.c.status,
                    d.c.language,
                )
                .join(s, s.c.id == d.c.subscriber_id)
                .where(d.c.batch_id == bid, d.c.status == DS.PENDING.value)
                .order_by(d.c.id)
            ).all()
            for r in rows:
                if r[4] != subscribed:
                    conn.execute(
                        d.update()
                        .where(d.c.campaign_id == campaign_id, d.c.subscriber_id == r[0])
                        .values(status=DS.FAILED.value, error=f"{SKIPPED}{r[4]} during the send")
                    )
            keep = [r for r in rows if r[4] == subscribed]
            if keep:
                return bid, keep
            conn.execute(
                b.update()
                .where(b.c.id == bid)
                .values(status=DS.ACCEPTED.value, finished_at=db.utcnow())
            )
