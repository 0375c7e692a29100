"""Campaigns as stored: where each one stands, for people and for scripts.

The read side of sending. This module owns :class:`CampaignResult` and
:func:`campaign_result` (a campaign's status and delivery counts), :func:`find_campaign`
(the latest campaign of an issue to a list) and :func:`list_campaigns` (what
``mailer campaigns`` shows). Both see only sends to a list (``kind = 'send'``): a
tracked ``mailer send-test`` leaves a ``test`` campaign row that is never listed, never
resumed and never blocks a real send of the issue. It writes nothing: creating and
running campaigns is :mod:`mailer.send`, the batch and delivery bookkeeping
:mod:`mailer.ledger`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, and_, case, func, select

from .. import db
from ..errors import DeliveryError
from .recovery import resolve_from_events

CS, DS = db.CampaignStatus, db.DeliveryStatus
SEND = db.CampaignKind.SEND.value
#: error prefix of a delivery skipped because its subscriber left during the send
#: (the ledger writes it; :func:`campaign_result` counts those apart from failures)
SKIPPED = "skipped: "


@dataclass
class CampaignResult:
    """Where a campaign stands after a run (or, for a dry run, what it would send)."""

    campaign_id: int | None
    status: str
    total: int = 0
    accepted: int = 0
    failed: int = 0
    unknown: int = 0
    pending: int = 0
    skipped: int = 0
    error: str | None = None
    dry_run: bool = False
    by_language: dict[str, int] = field(default_factory=dict)
    already_sent: bool = False
    #: ``mailer check``'s warnings (a dry run shows them)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.dry_run or (self.status == CS.SENT and self.unknown == 0)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.campaign_id,
            "status": self.status,
            "total": self.total,
            "accepted": self.accepted,
            "failed": self.failed,
            "unknown": self.unknown,
            "pending": self.pending,
            "skipped": self.skipped,
            "error": self.error,
            "dry_run": self.dry_run,
            "by_language": self.by_language,
            "warnings": self.warnings,
        }


def campaign_result(engine: Engine, campaign_id: int) -> CampaignResult:
    """The campaign's status and delivery counts as stored: one pass over its deliveries
    (by status, language and whether a failure was a skip), which every runner of a big
    campaign pays once more as it exits."""
    c, d = db.campaigns, db.deliveries
    skip = case((and_(d.c.status == DS.FAILED.value, d.c.error.like(SKIPPED + "%")), 1), else_=0)
    rows = select(d.c.status, d.c.language, skip.label("skip")).where(
        d.c.campaign_id == campaign_id
    )
    parts = rows.subquery()
    counted = select(parts.c.status, parts.c.language, parts.c.skip, func.count()).group_by(
        parts.c.status, parts.c.language, parts.c.skip
    )
    counts: dict[str, int] = {}
    langs: dict[str, int] = {}
    skipped = 0
    with db.read(engine) as conn:
        row = conn.execute(select(c).where(c.c.id == campaign_id)).mappings().one()
        for status, language, skip_flag, n in conn.execute(counted):
            counts[status] = counts.get(status, 0) + int(n)
            langs[str(language)] = langs.get(str(language), 0) + int(n)
            skipped += int(n) if skip_flag else 0
    return CampaignResult(
        campaign_id=campaign_id,
        status=row["status"],
        total=int(row["recipients"] or 0),
        accepted=int(counts.get(DS.ACCEPTED.value, 0)),
        failed=int(counts.get(DS.FAILED.value, 0)) - skipped,
        unknown=int(counts.get(DS.UNKNOWN.value, 0)),
        pending=int(counts.get(DS.PENDING.value, 0)),
        skipped=skipped,
        error=row["error"],
        by_language=langs,
    )


def find_campaign(engine: Engine, slug: str, list_id: int) -> dict[str, Any] | None:
    """The latest campaign of issue *slug* to list *list_id* that is not cancelled."""
    c = db.campaigns
    with db.read(engine) as conn:
        row = (
            conn.execute(
                select(c)
                .where(
                    c.c.issue_slug == slug,
                    c.c.list_id == list_id,
                    c.c.status != CS.CANCELLED.value,
                    c.c.kind == SEND,
                )
                .order_by(c.c.id.desc())
                .limit(1)
            )
            .mappings()
            .first()
        )
    return dict(row) if row else None


def list_campaigns(engine: Engine, campaign_id: int | None = None) -> list[dict[str, Any]]:
    """Campaigns (newest first) with their list, status and counts by delivery state.
    Deliveries held unknown that the provider's events show it had are settled first
    (:func:`mailer.delivery.recovery.resolve_from_events`)."""
    c, lst, d = db.campaigns, db.lists, db.deliveries
    with db.read(engine) as conn:
        held = select(d.c.campaign_id).where(d.c.status == DS.UNKNOWN.value).distinct()
        if campaign_id is not None:
            held = held.where(d.c.campaign_id == campaign_id)
        ids = [int(r[0]) for r in conn.execute(held).all()]
    for cid in ids:
        resolve_from_events(engine, cid)
    q = (
        select(c, lst.c.name.label("list_name"))
        .join(lst, lst.c.id == c.c.list_id)
        .where(c.c.kind == SEND)
    )
    if campaign_id is not None:
        q = q.where(c.c.id == campaign_id)
    out: list[dict[str, Any]] = []
    with db.read(engine) as conn:
        rows = conn.execute(q.order_by(c.c.id.desc())).mappings().all()
        if campaign_id is not None and not rows:
            raise DeliveryError(
                f"there is no campaign {campaign_id}", hint="see `mailer campaigns`."
            )
        for row in rows:
            counts = {
                str(k): int(v)
                for k, v in conn.execute(
                    select(d.c.status, func.count())
                    .where(d.c.campaign_id == row["id"])
                    .group_by(d.c.status)
                ).all()
            }
            total = int(row["recipients"] or 0)
            settled = sum(v for k, v in counts.items() if k != DS.PENDING.value)
            out.append(
                {
                    "id": int(row["id"]),
                    "issue": row["issue_slug"],
                    "list": row["list_name"],
                    "status": row["status"],
                    "backend": row["backend"],
                    "subject": row["subject"],
                    "recipients": total,
                    "pending": counts.get(DS.PENDING.value, 0),
                    "accepted": counts.get(DS.ACCEPTED.value, 0),
                    "failed": counts.get(DS.FAILED.value, 0),
                    "unknown": counts.get(DS.UNKNOWN.value, 0),
                    "progress": round(100.0 * settled / total, 1) if total else 0.0,
                    "error": row["error"],
                    "paused_by": row["paused_by"],
                    "scheduled_at": _iso(row["scheduled_at"]),
                    "started_at": _iso(row["started_at"]),
                    "finished_at": _iso(row["finished_at"]),
                }
            )
    return out


def _iso(value: Any) -> str | None:
    return value.isoformat() + "Z" if value is not None else None
