"""Cancelling a campaign that nobody is sending (stuck ``sending``, ``paused``, ``draft``).

A campaign is "not being sent" when no process holds its lock
(:func:`mailer.delivery.send.campaign_lock`, taken by every sender for the whole run)
and no run-due runner holds a live claim on it. Cancelling keeps its ledger: what was
accepted stays accepted; deliveries still ``pending`` or ``unknown`` are marked failed
with the reason, so nothing of it is ever sent afterwards.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.engine import Engine

from .. import db
from ..errors import DeliveryError
from ..process import claim_is_stale
from .send import campaign_lock

log = logging.getLogger(__name__)

CS, DS = db.CampaignStatus, db.DeliveryStatus
#: statuses :func:`cancel_campaign` stops (a scheduled one is the scheduler's to cancel)
CANCELLABLE = (CS.DRAFT.value, CS.SENDING.value, CS.PAUSED.value, CS.FAILED.value)
CANCELLED_NOTE = "cancelled before it was sent"


@dataclass(frozen=True)
class Cancelled:
    """What :func:`cancel_campaign` did."""

    campaign_id: int
    was: str  # the status before
    accepted: int  # recipients who had already got it


def cancel_campaign(engine: Engine, campaign_id: int) -> Cancelled:
    """Cancel campaign *campaign_id* if no live process is sending it; else DeliveryError."""
    c, d = db.campaigns, db.deliveries
    with db.read(engine) as conn:
        row = conn.execute(select(c).where(c.c.id == campaign_id)).mappings().first()
    if row is None:
        raise DeliveryError(f"there is no campaign {campaign_id}", hint="see `mailer campaigns`.")
    status = str(row["status"])
    if status not in CANCELLABLE:
        raise DeliveryError(
            f"campaign {campaign_id} is {status}; only a draft, sending, paused or failed "
            "campaign can be cancelled here",
            hint="a scheduled one: `mailer schedule cancel ID`; what was sent cannot be recalled.",
        )
    owner = row["claimed_by"]
    if (
        status == CS.SENDING.value
        and owner
        and not claim_is_stale(owner, row["claimed_at"], db.utcnow())
    ):
        raise DeliveryError(
            f"campaign {campaign_id} is being sent right now by {owner}",
            hint="stop that runner (SIGTERM) first, then cancel.",
        )
    # campaign_lock raises DeliveryError when a sender holds it
    with campaign_lock(engine, campaign_id), db.transaction(engine) as conn:
        conn.execute(
            d.update()
            .where(
                d.c.campaign_id == campaign_id,
                d.c.status.in_((DS.PENDING.value, DS.UNKNOWN.value)),
                db.held.not_held(campaign_id),  # accepted through their batch: they left
            )
            .values(status=DS.FAILED.value, error=CANCELLED_NOTE, updated_at=db.utcnow())
        )
        done = conn.execute(
            c.update()
            .where(c.c.id == campaign_id, c.c.status == status)
            .values(
                status=CS.CANCELLED.value,
                finished_at=db.utcnow(),
                claimed_by=None,
                claimed_at=None,
                error=f"cancelled (was {status})",
            )
        )
        if done.rowcount != 1:
            raise DeliveryError(
                f"campaign {campaign_id} changed while it was being cancelled",
                hint="see `mailer campaigns` and try again.",
            )
        accepted = db.held.accepted_count(conn, [campaign_id])
    log.info("campaign %s cancelled (was %s)", campaign_id, status)
    return Cancelled(campaign_id, status, int(accepted))
