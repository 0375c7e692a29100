"""Recording a batch's outcome in the ledger: what the provider said, and the batch settled.

This module owns the write side of one batch once it is prepared: :func:`transmit` hands an
in-flight batch to a backend and records its answer (:func:`record`: per recipient,
:func:`close_batch`: the batch and its unreported rows), :func:`drop_unbuildable` settles
the recipients whose message cannot be built, :func:`set_campaign` changes a campaign
that is still ``sending`` (paused, failed) and :func:`finish_campaign` marks it sent (or
paused while recipients are held unknown) once no batch is open. The rules (recorded
before it leaves, accepted only after the provider says so, unknown when no answer came)
are :mod:`mailer.delivery.ledger`'s; the loop that prepares and flies batches lives there.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.engine import Connection

from .. import db
from ..backends import Backend
from ..backends.base import (
    Batch,
    Outcome,
    Recipient,
    TransientFailure,
    UnknownOutcome,
    may_have_problems,
    message_problem,
    redact,
)
from ..errors import MailerError, ProviderRejected
from . import claims, recovery
from .batchrows import accept_whole
from .pool import writing
from .recipients import eligible, unnested

log = logging.getLogger(__name__)

CS, DS = db.CampaignStatus, db.DeliveryStatus

#: (subscriber id, outcome, provider message id, error)
Reported = tuple[int, Outcome, str | None, str | None]


def set_campaign(conn: Connection, campaign_id: int, **values: Any) -> None:
    """Update campaign *campaign_id* while it is ``sending`` (else leave it as it is)."""
    c = db.campaigns
    conn.execute(
        c.update().where(c.c.id == campaign_id, c.c.status == CS.SENDING.value).values(**values)
    )


def record_in(conn: Connection, batch: Batch, items: Sequence[Reported]) -> None:
    """Write what the provider said about these recipients of *batch* (in *conn*'s transaction)."""
    d = db.deliveries
    now = db.utcnow()
    groups: dict[tuple[Outcome, str | None, str | None], list[int]] = {}
    for sid, outcome, pid, err in items:
        groups.setdefault((outcome, pid, err), []).append(sid)
    for (outcome, pid, err), sids in groups.items():
        values: dict[str, Any] = {
            "status": outcome,
            "provider_message_id": pid,
            "error": err,
            "updated_at": now,
        }
        if outcome == DS.ACCEPTED.value:
            values["accepted_at"] = now
        base = d.update().where(d.c.batch_id == batch.batch_id, d.c.status == "pending")
        if len(sids) == len(batch.recipients):
            conn.execute(base.values(**values))
            continue
        for i in range(0, len(sids), 500):
            conn.execute(base.where(d.c.subscriber_id.in_(sids[i : i + 500])).values(**values))


def record(engine: Engine, batch: Batch, items: Sequence[Reported]) -> None:
    """Write what the provider said about these recipients (one transaction)."""
    if items:
        with writing(engine) as conn:
            record_in(conn, batch, items)


def close_batch(
    engine: Engine,
    batch: Batch,
    status: str,
    error: str | None = None,
    items: Sequence[Reported] = (),
) -> None:
    """Record *items*, then settle the batch and its unreported rows, in one transaction.

    ``pending`` puts the batch back in line for any runner (it never left)."""
    b, d = db.batches, db.deliveries
    if status == DS.ACCEPTED.value and error is None and (not items or _one_answer(batch, items)):
        with writing(engine) as conn:  # the usual answer: bare statements
            accept_whole(conn, batch.batch_id, items[0][2] if items else None, rows=bool(items))
        return
    with writing(engine) as conn:
        if items:
            record_in(conn, batch, items)
        if status in (DS.UNKNOWN.value, DS.FAILED.value):
            conn.execute(
                d.update()
                .where(d.c.batch_id == batch.batch_id, d.c.status == DS.PENDING.value)
                .values(status=status, error=error, updated_at=db.utcnow())
            )
        values: dict[str, Any] = {"status": status, "error": error}
        if status == DS.PENDING.value:
            values["owner"] = None  # back in line: any runner may take it
        else:
            values["finished_at"] = db.utcnow()
        conn.execute(b.update().where(b.c.id == batch.batch_id).values(**values))


def _one_answer(batch: Batch, items: Sequence[Reported]) -> bool:
    """Whether *items* accept every recipient of *batch* with one provider message id and
    no error (SendGrid's answer)."""
    if len(items) != len(batch.recipients) or not items:
        return False
    return {(o, p, e) for _s, o, p, e in items} == {(DS.ACCEPTED.value, items[0][2], None)}


def drop_unbuildable(engine: Engine, batch: Batch) -> Batch:
    """Mark ``failed`` (with the reason) the recipients whose message cannot be built
    (:func:`~mailer.backends.base.message_problem`); the batch without them."""
    if not may_have_problems(batch):
        return batch
    bad: list[Reported] = []
    good: list[Recipient] = []
    for r in batch.recipients:
        problem = message_problem(batch, r)
        if problem is None:
            good.append(r)
        else:
            log.warning(
                "campaign %s: subscriber %s: %s", batch.campaign_id, r.subscriber_id, problem
            )
            bad.append((r.subscriber_id, DS.FAILED.value, None, problem))
    if not bad:
        return batch
    record(engine, batch, bad)
    return replace(batch, recipients=good)


def transmit(engine: Engine, batch: Batch, backend: Backend) -> str | None:
    """Hand an in-flight batch to *backend* and record what it says: None when it went
    through, else the error (the batch is back in line, unknown or failed)."""
    reported: list[Reported] = []
    per_message = backend.per_message
    cid = batch.campaign_id

    def report(r: Recipient, outcome: Outcome, pid: str | None, err: str | None) -> None:
        err = redact(err) if err else err
        if per_message:
            # durable before the next message leaves: recovery takes only the first
            # pending delivery of a batch in flight for one that may have left
            record(db.durable(engine), batch, [(r.subscriber_id, outcome, pid, err)])
        else:
            reported.append((r.subscriber_id, outcome, pid, err))

    try:
        backend.send(batch, report)
    except TransientFailure as exc:
        close_batch(engine, batch, DS.PENDING.value, redact(exc.message), reported)
        return redact(exc.message)
    except UnknownOutcome as exc:
        close_batch(engine, batch, DS.UNKNOWN.value, redact(exc.message), reported)
        return redact(exc.message)
    except ProviderRejected as exc:
        close_batch(engine, batch, DS.FAILED.value, redact(str(exc))[:2000], reported)
        with writing(engine) as conn:
            set_campaign(conn, cid, status=CS.FAILED.value, error=redact(str(exc))[:4000])
        raise
    except MailerError as exc:  # configuration, credentials: pause, fix, resume
        close_batch(engine, batch, DS.PENDING.value, redact(exc.message), reported)
        with writing(engine) as conn:
            set_campaign(conn, cid, status=CS.PAUSED.value, error=redact(str(exc))[:4000])
        raise
    except BaseException:
        record(engine, batch, reported)  # the batch stays in flight: resume settles it
        raise
    close_batch(engine, batch, DS.ACCEPTED.value, None, reported)
    return None


class Finish(enum.Enum):
    """What :func:`finish_campaign` found."""

    #: the campaign is no longer ``sending``: marked sent or paused now, or by another runner
    DONE = "done"
    #: batches are still pending or in flight (another runner's): nothing done
    OPEN = "open"
    #: no batch open but a subscribed member is not queued yet: nothing done
    LEFT = "left"


def finish_campaign(engine: Engine, campaign_id: int, *, shared: bool) -> Finish:
    """Mark the campaign sent, or paused while recipients are held unknown, once no batch is
    open and (*shared*) no member is left unqueued; else nothing done (:class:`Finish`).
    *shared*: several runners send it (PostgreSQL), so the last one to finish decides,
    under a lock."""
    d = db.deliveries
    recovery.resolve_from_events(engine, campaign_id)  # what the provider's events show
    with writing(db.durable(engine)) as conn:  # what the operator is told survives a power cut
        if shared and claims.lock_campaign(conn, campaign_id) != CS.SENDING.value:
            return Finish.DONE  # marked sent by another runner (or paused, cancelled)
        if claims.open_batches(conn, campaign_id):
            return Finish.OPEN
        if shared and _members_left(conn, campaign_id):
            # another runner is queuing them right now (its page locked, SKIP LOCKED hid it
            # from us, its batch not committed yet), or its page went back (it stopped):
            # not finished; look again shortly
            return Finish.LEFT
        unknown = conn.execute(
            select(func.count()).where(
                d.c.campaign_id == campaign_id, d.c.status == DS.UNKNOWN.value
            )
        ).scalar_one()
        if unknown:
            set_campaign(
                conn,
                campaign_id,
                status=CS.PAUSED.value,
                error=f"{unknown} recipient(s) held as unknown: the request left but no "
                "answer came, so the provider may have accepted it. Check the provider's "
                "activity log; run `mailer send ISSUE --list LIST --retry-unknown` to send "
                "them again.",
            )
        else:
            set_campaign(
                conn, campaign_id, status=CS.SENT.value, finished_at=db.utcnow(), error=None
            )
    return Finish.DONE


def _members_left(conn: Connection, campaign_id: int) -> bool:
    """Whether a subscribed member of the campaign's list is not queued yet. A plain read:
    rows another runner has locked are seen, its uncommitted batch is not, so a page being
    queued at this moment counts as left."""
    c = db.campaigns
    list_id = conn.execute(select(c.c.list_id).where(c.c.id == campaign_id)).scalar_one()
    unnested(conn)  # under the campaign's lock: read each side once
    return bool(conn.execute(select(eligible(campaign_id, list_id).exists())).scalar())
