"""The rows of one batch: queuing a page of new recipients, taking a pending batch back,
marking a batch in flight, settling one the provider accepted whole.

:class:`mailer.delivery.ledger.Ledger` builds its batches from what these functions read
and write, each in one transaction: :func:`queue_page` writes the batch row and its
``pending`` deliveries *before* anything leaves (the ledger's first rule);
:func:`take_pending` claims a batch written before but not sent (resume, a batch put
back in line) and settles the recipients who left the list meanwhile. The two writes every
batch makes after that, :func:`mark_in_flight` and :func:`accept_whole`, run as bare
statements compiled once per dialect (:class:`.recipients.Bare`).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import Engine, bindparam, func, select
from sqlalchemy.engine import Connection

from .. import db
from . import claims
from .bare import Bare, driver_time
from .campaigns import SKIPPED
from .pool import writing
from .recipients import PageReader, insert_deliveries, raw_attributes
from .recovery import BATCH_SENDING

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
    ``IntegrityError`` when another runner queued one of them first.

    On SQLite the page is read before the write lock is taken (a WAL read does not wait
    for writers, and the send's lanes record their answers meanwhile); the write
    transaction then checks that every member read is still a subscribed member of the
    list (:meth:`.recipients.PageReader.still_members`) and reads the page again under the
    lock if one is not (erased, unsubscribed, left the list in between). PostgreSQL reads
    it in the write transaction, locking the memberships it takes (several runners)."""
    b = db.batches
    bid = 0
    early = None
    if engine.dialect.name == "sqlite":
        with db.read(engine) as conn:
            early = reader.page(conn, after, size)
    # SQLite: no foreign-key lookups for this transaction's rows (three per delivery, a
    # tenth of the queue's and accept's database work): each refers to a row this very
    # transaction made or read (the page, or the check that its members are still there),
    # and it holds SQLite's one write lock from its BEGIN to its COMMIT, so no other writer
    # (erasure deletes a subscriber) runs in between: the batch it inserts, the subscribers
    # of the page, the campaign being sent (never deleted). Uniqueness (a recipient queued
    # at most once per campaign) is an index, checked as always.
    with writing(db.trusting(engine)) as conn:
        if early is not None and reader.still_members(conn, early[0]):
            rows, cursor = early
        else:
            rows, cursor = reader.page(conn, after, size)
        if rows:
            bid = int(
                conn.execute(
                    b.insert().values(
                        campaign_id=campaign_id,
                        status=DS.PENDING.value,
                        size=len(rows),
                        language=language,  # every delivery of it: campaigns.by_language
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


_HOT: dict[str, dict[str, Bare]] = {}


def _hot(dialect: Any) -> dict[str, Bare]:
    """The per-batch statements compiled for *dialect* (once per process)."""
    found = _HOT.get(dialect.name)
    if found is None:
        b, d = db.batches, db.deliveries
        bid: Any = bindparam("bid")
        now: Any = bindparam("now")
        statements = {
            "fly": b.update()
            .where(b.c.id == bid)
            .values(
                status=BATCH_SENDING,
                attempts=b.c.attempts + 1,
                owner=bindparam("owner"),
                heartbeat_at=now,
            ),
            # one answer for the whole batch: the batch holds its deliveries' acceptance
            # (mailer.db.held); they keep ``pending``, none of them is rewritten
            "accept_held": b.update()
            .where(b.c.id == bid)
            .values(
                status=DS.ACCEPTED.value,
                error=None,
                finished_at=now,
                provider_id=bindparam("pid"),
                accepted_count=select(func.count())
                .where(d.c.batch_id == bid, d.c.status == DS.PENDING.value)
                .scalar_subquery(),
            ),
            "accept_batch": b.update()
            .where(b.c.id == bid)
            .values(status=DS.ACCEPTED.value, error=None, finished_at=now),
        }
        found = _HOT[dialect.name] = {
            k: Bare(v.compile(dialect=dialect)) for k, v in statements.items()
        }
    return found


def mark_in_flight(engine: Engine, batch_id: int, me: str) -> None:
    """Batch *batch_id* is about to leave (``sending``, owned by *me*, one more attempt):
    from the commit on, a crash makes it ``unknown``.

    The one commit of a batch that must survive a power cut (:func:`mailer.db.durable`:
    the WAL synced before the request leaves); lost, the batch would read ``pending``
    after the reboot and go out a second time. It also makes durable every commit before
    it (its ``pending`` rows, earlier batches' answers). The other two (:func:`queue_page`,
    :func:`accept_whole`) may be lost to a power cut without harm, so they are not synced:
    a lost ``pending`` batch never left (it is queued again from the members' pages); a lost
    acceptance leaves the batch ``sending``, which a resume holds ``unknown`` (never sent
    twice, never silently lost) until the provider's events or the operator settle it."""
    with writing(db.durable(engine)) as conn:
        now = driver_time(conn.dialect, db.utcnow())
        _hot(conn.dialect)["fly"].run(conn, bid=batch_id, owner=me, now=now)


def accept_whole(conn: Connection, batch_id: int, provider_id: str | None, rows: bool) -> None:
    """In *conn*'s transaction: the provider accepted batch *batch_id*, and the batch is
    settled. *rows*: the answer covered the whole batch at once (SendGrid's): the batch
    row records it, with *provider_id* and how many deliveries were still ``pending``,
    which from now on read as accepted (:mod:`mailer.db.held`). Otherwise each delivery
    has recorded its own answer already."""
    hot = _hot(conn.dialect)
    now = driver_time(conn.dialect, db.utcnow())
    if rows:
        hot["accept_held"].run(conn, bid=batch_id, pid=provider_id, now=now)
    else:
        hot["accept_batch"].run(conn, bid=batch_id, now=now)
