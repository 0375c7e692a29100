"""Scheduled campaigns as `mailer schedule list` and `run-due` see them (read only).

Kept apart from :mod:`.schedules` (which validates and stores schedules through the
delivery stage) so that ``run-due`` reads them without importing what it does not run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, and_, or_, select

from .. import db
from .when import to_local


@dataclass(frozen=True)
class ScheduleRow:
    """One scheduled campaign as `mailer schedule list` shows it."""

    id: int
    issue: str
    list_name: str
    status: str
    scheduled_at: datetime  # naive UTC
    zone: str
    late: bool
    send_late: bool
    backend: str
    provider_batch_id: str | None = None  # handed to SendGrid with send_at

    @property
    def local(self) -> datetime:
        return to_local(self.scheduled_at, self.zone)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "issue": self.issue,
            "list": self.list_name,
            "status": self.status,
            "scheduled_at_utc": self.scheduled_at.replace(tzinfo=UTC).isoformat(),
            "scheduled_at_local": self.local.isoformat(),
            "zone": self.zone,
            "late": self.late,
            "send_late": self.send_late,
            "backend": self.backend,
            "provider_batch_id": self.provider_batch_id,
        }


ACTIVE = (db.CampaignStatus.SCHEDULED, db.CampaignStatus.SENDING, db.CampaignStatus.PAUSED)


def list_schedules(
    engine: Engine, *, statuses: Sequence[str] | None = ACTIVE, held_late: bool = False
) -> list[ScheduleRow]:
    """Campaigns that have a schedule time, soonest first (*statuses* None: all of them;
    *held_late*: only scheduled ones marked late and not allowed to send late)."""
    c, lst = db.campaigns, db.lists
    query = (
        select(
            c.c.id,
            c.c.issue_slug,
            lst.c.name,
            c.c.status,
            c.c.scheduled_at,
            c.c.schedule_tz,
            c.c.late,
            c.c.send_late,
            c.c.backend,
            c.c.provider_batch_id,
        )
        .join(lst, lst.c.id == c.c.list_id)
        .where(c.c.scheduled_at.is_not(None), c.c.kind == db.CampaignKind.SEND.value)
        .order_by(c.c.scheduled_at, c.c.id)
    )
    if statuses is not None:
        at_sendgrid = and_(  # sent with send_at, still to go out
            c.c.provider_batch_id.is_not(None),
            c.c.status == db.CampaignStatus.SENT.value,
            c.c.scheduled_at > db.utcnow(),
        )
        query = query.where(or_(c.c.status.in_([str(s) for s in statuses]), at_sendgrid))
    if held_late:
        query = query.where(
            c.c.status == db.CampaignStatus.SCHEDULED.value,
            c.c.late.is_(True),
            c.c.send_late.is_(False),
        )
    with db.read(engine) as conn:
        return [
            ScheduleRow(
                id=r[0],
                issue=r[1],
                list_name=r[2],
                status=r[3],
                scheduled_at=r[4],
                zone=r[5] or "UTC",
                late=bool(r[6]),
                send_late=bool(r[7]),
                provider_batch_id=r[9],
                backend=r[8],
            )
            for r in conn.execute(query)
        ]
