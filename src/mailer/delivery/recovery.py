"""Crash recovery of a campaign's ledger: settling what a stopped sender left behind.

Run by :meth:`mailer.ledger.Ledger.run` before its loop (kill -9 at any instant):

* ``pending`` batches never left: the ledger sends them as they are;
* a ``sending`` batch was in flight. Batch backends (SendGrid): its pending
  deliveries become ``unknown``. Per-message backends: messages go in delivery
  order and each acceptance is committed, so only the *first* pending delivery
  can have been in flight: the backend is asked (the outbox checks whether the file
  exists), else it becomes ``unknown``; the rest of the batch is sent.
* with several runners on one campaign (PostgreSQL, :mod:`mailer.delivery.claims`) only
  batches whose owner is stale are settled: a live runner's batches in flight are its own;
* ``unknown`` deliveries are held and reported; ``retry_unknown=True``
  (``--retry-unknown``) sends them again on the operator's word (:func:`release_unknown`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy import Engine, and_, select

from .. import db
from ..backends.base import Recipient
from .claims import is_stale, lock_if_unchanged

log = logging.getLogger(__name__)

DS = db.DeliveryStatus
#: batch states besides the delivery states: in flight
BATCH_SENDING = "sending"
IN_FLIGHT = "in flight when the sender stopped"

#: asks the backend whether the message to *recipient* of batch *batch id*, in
#: *language*, left: True (it did), False (it did not), None (cannot tell)
Probe = Callable[[int, Recipient, str], "bool | None"]


def release_unknown(engine: Engine, campaign_id: int) -> int:
    """``--retry-unknown``: put held deliveries back in line; returns how many."""
    b, d = db.batches, db.deliveries
    held = and_(d.c.campaign_id == campaign_id, d.c.status == DS.UNKNOWN.value)
    with db.transaction(engine) as conn:
        ids = [r[0] for r in conn.execute(select(d.c.batch_id).where(held).distinct())]
        n = conn.execute(d.update().where(held).values(status=DS.PENDING.value, error=None))
        if ids:
            conn.execute(b.update().where(b.c.id.in_(ids)).values(status=DS.PENDING.value))
    return int(n.rowcount or 0)


def recover(
    engine: Engine,
    campaign_id: int,
    *,
    per_message: bool,
    probe: Probe | None,
    language_of: Callable[[str | None], str],
    me: str = "",
    shared: bool = False,
) -> None:
    """Settle batches left in flight by a sender that stopped (crash, kill -9).

    *per_message* is how the backend that sent them worked; *probe* is None when that
    backend cannot be asked (another one is in use now); *language_of* maps a stored
    delivery language to one the campaign has contents for. *shared* (several runners):
    settle only batches whose owner is stale (*me* is this runner), each locked with
    ``SKIP LOCKED`` (:func:`~mailer.delivery.claims.lock_if_unchanged`) so two runners
    never settle one batch together, and a live runner's batches are never locked."""
    b, d, s = db.batches, db.deliveries, db.subscribers
    now = db.utcnow()
    with db.transaction(engine) as conn:
        query = select(b.c.id, b.c.owner, b.c.heartbeat_at).where(
            b.c.campaign_id == campaign_id, b.c.status == BATCH_SENDING
        )
        for bid, owner, beat in conn.execute(query).all():
            if shared and not is_stale(owner, beat, me, now):
                continue  # a live runner's batch in flight: its answer is coming
            if shared and not lock_if_unchanged(conn, bid, BATCH_SENDING, owner, beat):
                continue  # another runner is settling it, or its owner just answered
            if not per_message:
                conn.execute(
                    d.update()
                    .where(d.c.batch_id == bid, d.c.status == DS.PENDING.value)
                    .values(status=DS.UNKNOWN.value, error=IN_FLIGHT, updated_at=now)
                )
                conn.execute(
                    b.update().where(b.c.id == bid).values(status=DS.UNKNOWN.value, owner=None)
                )
                log.warning("campaign %s: batch %s was in flight: held unknown", campaign_id, bid)
                continue
            first = conn.execute(
                select(d.c.subscriber_id, s.c.email, s.c.name, d.c.language)
                .join(s, s.c.id == d.c.subscriber_id)
                .where(d.c.batch_id == bid, d.c.status == DS.PENDING.value)
                .order_by(d.c.id)
                .limit(1)
            ).first()
            if first is not None:
                verdict: bool | None = None
                if probe is not None:
                    who = Recipient(first[0], first[1], first[2] or "", {}, {})
                    verdict = probe(bid, who, language_of(first[3]))
                if verdict is not False:
                    conn.execute(
                        d.update()
                        .where(d.c.campaign_id == campaign_id, d.c.subscriber_id == first[0])
                        .values(
                            status=DS.ACCEPTED.value if verdict else DS.UNKNOWN.value,
                            error=None if verdict else IN_FLIGHT,
                            accepted_at=now if verdict else None,
                            updated_at=now,
                        )
                    )
            conn.execute(
                b.update().where(b.c.id == bid).values(status=DS.PENDING.value, owner=None)
            )


#: events that show the provider had the message (SendGrid's own, or a reader's open/click)
SEEN = ("processed", "delivered", "deferred", "bounce", "dropped", "spamreport", "open", "click")


def resolve_from_events(engine: Engine, campaign_id: int) -> int:
    """Deliveries held ``unknown`` that the provider's events show it had (``processed``,
    ``delivered``, …, attributed by the ``custom_args`` campaign and subscriber) become
    ``accepted``; a batch with nothing left unknown becomes accepted. Returns how many."""
    b, d, e = db.batches, db.deliveries, db.events
    seen = (
        select(e.c.id)
        .where(
            e.c.campaign_id == d.c.campaign_id,
            e.c.subscriber_id == d.c.subscriber_id,
            e.c.type.in_(SEEN),
        )
        .exists()
    )
    now = db.utcnow()
    with db.transaction(engine) as conn:
        done = conn.execute(
            d.update()
            .where(d.c.campaign_id == campaign_id, d.c.status == DS.UNKNOWN.value, seen)
            .values(
                status=DS.ACCEPTED.value,
                accepted_at=now,
                updated_at=now,
                error="accepted: the provider's events show it had the message",
            )
        )
        n = int(done.rowcount or 0)
        if n:
            still = (
                select(d.c.id)
                .where(d.c.batch_id == b.c.id, d.c.status == DS.UNKNOWN.value)
                .exists()
            )
            conn.execute(
                b.update()
                .where(b.c.campaign_id == campaign_id, b.c.status == DS.UNKNOWN.value, ~still)
                .values(status=DS.ACCEPTED.value, finished_at=now)
            )
            log.info("campaign %s: %s unknown deliveries accepted from events", campaign_id, n)
    return n
