"""Auto-pause on bad signals: complaints and bounces while a campaign is sending.

This module owns the watch the send loop keeps between batches (:class:`SignalWatch`),
the rule that decides a campaign must stop (:func:`verdict`) and the operator's resume
(:func:`resume`). The events themselves are recorded by others (the SendGrid webhook in
:mod:`mailer.web.webhook`, the bounce mailbox in :mod:`mailer.bounces`): the web endpoint
never imports delivery, the sender reads what they wrote.

The rule, counted from ``campaigns.signals_since`` (the operator's last resume; from the
start when never resumed), over the deliveries accepted since then:

* complaints (``spamreport``) pause when there are at least :data:`MIN_COMPLAINTS` of
  them and they are more than ``[sending] max_complaint_rate`` of what was accepted;
* bounces (``bounce``) pause when there are at least :data:`MIN_BOUNCES` of them and
  they are more than ``[sending] max_bounce_rate`` of what was accepted;
* in both cases only once at least ``min(MIN_SAMPLE, half the campaign's recipients)``
  deliveries were accepted since then.

Why: one complaint is noise (a reader who clicked the wrong button) and never pauses a
send; two in the first thousand (0.2%) is already two thirds of the way to the 0.3% at
which Gmail and Yahoo block a sender. The sample floor of 1,000 keeps a big list from
pausing on its first batch; halving it for a small list means a list of 300 still pauses
when 2 of its first 150 complain, instead of never reaching the floor at all.

The check is one aggregate query on the events of the campaign (indexed by campaign and
type); the accepted count is read only when the counts could trip the rule. The loop runs it
at most every :data:`CHECK_SECONDS`, after a batch's answer, so a pause lands within one
batch of the events being recorded (the batches in flight finish and are recorded).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, func, select

from .. import db
from ..config import Sending
from .outcomes import set_campaign
from .pool import writing

log = logging.getLogger(__name__)

CS, DS, ET = db.CampaignStatus, db.DeliveryStatus, db.EventType
#: ``campaigns.paused_by`` of a campaign this module paused
PAUSED_BY = "signals"
#: fewer complaints than this never pause a send (one is noise)
MIN_COMPLAINTS = 2
#: fewer bounces than this never pause a send
MIN_BOUNCES = 5
#: accepted deliveries needed before a rate counts (halved down to half a small list)
MIN_SAMPLE = 1000
#: the loop checks at most this often (seconds)
CHECK_SECONDS = 0.5


@dataclass(frozen=True)
class Signals:
    """What the provider reported since ``signals_since``."""

    accepted: int
    complaints: int
    bounces: int


def read_signals(engine: Engine, campaign_id: int, *, need_accepted: bool = True) -> Signals:
    """Complaints, bounces and (when *need_accepted*) accepted deliveries of the campaign
    since its ``signals_since``."""
    c, e = db.campaigns, db.events
    with db.read(engine) as conn:
        since: datetime | None = conn.execute(
            select(c.c.signals_since).where(c.c.id == campaign_id)
        ).scalar()
        q = (
            select(e.c.type, func.count())
            .where(
                e.c.campaign_id == campaign_id,
                e.c.type.in_((ET.SPAMREPORT.value, ET.BOUNCE.value)),
            )
            .group_by(e.c.type)
        )
        if since is not None:
            q = q.where(e.c.created_at >= since)
        counts = {str(k): int(v) for k, v in conn.execute(q).all()}
        accepted = 0
        if need_accepted:
            accepted = db.held.accepted_count(conn, [campaign_id], since)
    return Signals(accepted, counts.get(ET.SPAMREPORT.value, 0), counts.get(ET.BOUNCE.value, 0))


def verdict(signals: Signals, sending: Sending, recipients: int) -> str | None:
    """Why the campaign must pause (the reason the operator reads), or None."""
    floor = min(MIN_SAMPLE, max(1, recipients // 2))
    n = signals.accepted
    if n < floor:
        return None
    if signals.complaints >= MIN_COMPLAINTS and signals.complaints > sending.max_complaint_rate * n:
        return (
            f"spam complaints: {signals.complaints} of {n} accepted "
            f"({100.0 * signals.complaints / n:.2f}%, over max_complaint_rate "
            f"{100.0 * sending.max_complaint_rate:g}%)"
        )
    if signals.bounces >= MIN_BOUNCES and signals.bounces > sending.max_bounce_rate * n:
        return (
            f"bounces: {signals.bounces} of {n} accepted "
            f"({100.0 * signals.bounces / n:.2f}%, over max_bounce_rate "
            f"{100.0 * sending.max_bounce_rate:g}%)"
        )
    return None


def pause_message(reason: str) -> str:
    """``campaigns.error`` of a campaign paused on signals."""
    return (
        f"paused on bad signals: {reason}. Look at the list and the content first; "
        "run `mailer send` again to resume (it asks; --yes accepts)."
    )


def pause(engine: Engine, campaign_id: int, reason: str) -> None:
    """Pause the campaign (if still sending) with *reason*, ``paused_by = 'signals'``."""
    with writing(engine) as conn:
        set_campaign(
            conn,
            campaign_id,
            status=CS.PAUSED.value,
            paused_by=PAUSED_BY,
            error=pause_message(reason),
        )
    log.warning("campaign %s paused: %s", campaign_id, reason)


class SignalWatch:
    """Between batches: at most every :data:`CHECK_SECONDS`, read the signals and pause the
    campaign when :func:`verdict` says so. Call it after each batch's answer; True means
    the campaign was paused (the loop stops preparing batches)."""

    def __init__(
        self,
        engine: Engine,
        campaign_id: int,
        sending: Sending,
        recipients: Callable[[], int],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine, self.cid, self.sending = engine, campaign_id, sending
        self.recipients = recipients
        self.clock = clock
        self._last = clock()

    def __call__(self) -> bool:
        now = self.clock()
        if now - self._last < CHECK_SECONDS:
            return False
        self._last = now
        quick = read_signals(self.engine, self.cid, need_accepted=False)
        if quick.complaints < MIN_COMPLAINTS and quick.bounces < MIN_BOUNCES:
            return False  # nothing that could trip the rule: no count of the deliveries
        reason = verdict(read_signals(self.engine, self.cid), self.sending, self.recipients())
        if reason is None:
            return False
        pause(self.engine, self.cid, reason)
        return True


def paused_on_signals(campaign: dict[str, object] | None) -> str | None:
    """The reason a campaign row was paused on signals (its ``error``), or None."""
    if campaign is None or campaign.get("status") != CS.PAUSED.value:
        return None
    if campaign.get("paused_by") != PAUSED_BY:
        return None
    return str(campaign.get("error") or "paused on bad signals")


def resume(engine: Engine, campaign_id: int) -> None:
    """The operator's word: clear ``paused_by`` and count signals from now on."""
    c = db.campaigns
    with writing(engine) as conn:
        conn.execute(
            c.update()
            .where(c.c.id == campaign_id)
            .values(paused_by=None, signals_since=db.utcnow(), error=None)
        )
