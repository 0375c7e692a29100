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

from sqlalchemy import Engine, func, select
from sqlalchemy.engine import Connection

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
    """The campaign's status and delivery counts as stored, read on one snapshot (every
    runner of a big campaign reads them once more as it exits, so none of them reads every
    delivery row): counts by status from the ``(campaign_id, status)`` index and the
    batches (:func:`mailer.db.held.status_counts`), skips among the failed rows only,
    counts by language from the batches (:func:`by_language`)."""
    c, d = db.campaigns, db.deliveries
    failed = DS.FAILED.value
    with db.snapshot(engine) as conn:
        row = conn.execute(select(c).where(c.c.id == campaign_id)).mappings().one()
        counts = db.held.status_counts(conn, campaign_id)
        skipped = 0
        if counts.get(failed):
            skipped = conn.execute(
                select(func.count()).where(
                    d.c.campaign_id == campaign_id,
                    d.c.status == failed,
                    d.c.error.like(SKIPPED + "%"),
                )
            ).scalar_one()
        langs = by_language(conn, campaign_id, sum(counts.values()))
    return CampaignResult(
        campaign_id=campaign_id,
        status=row["status"],
        total=int(row["recipients"] or 0),
        accepted=counts.get(DS.ACCEPTED.value, 0),
        failed=counts.get(failed, 0) - int(skipped),
        unknown=counts.get(DS.UNKNOWN.value, 0),
        pending=counts.get(DS.PENDING.value, 0),
        skipped=int(skipped),
        error=row["error"],
        by_language=langs,
    )


def by_language(conn: Connection, campaign_id: int, queued: int) -> dict[str, int]:
    """The campaign's deliveries by language (sorted; a delivery without one counts as
    ``"None"``), *queued* being how many it has in all.

    Read from its batches when they tell it exactly: each batch is queued with its
    deliveries in one transaction, all of them in the batch's ``language``, and ``size``
    of them; no delivery's batch or language changes afterwards, and only erasure
    (``mailer subscribers forget``) deletes one. So when every batch has a language, every
    delivery has a batch and the sizes add up to *queued*, no batch lost any delivery and
    the sums of sizes by language are the counts. Else (batches made before schema
    version 7, an erased recipient) the deliveries themselves are counted."""
    b, d = db.batches, db.deliveries
    sizes = conn.execute(
        select(b.c.language, func.sum(b.c.size))
        .where(b.c.campaign_id == campaign_id)
        .group_by(b.c.language)
    ).all()
    exact = all(lang is not None for lang, _n in sizes)
    exact = exact and sum(int(n or 0) for _lang, n in sizes) == queued
    if exact and queued:
        # `campaign_id + 0`: found through the batch_id index (none, as a rule), not by
        # reading every delivery of the campaign
        unbatched = select(d.c.id).where(d.c.batch_id.is_(None), d.c.campaign_id + 0 == campaign_id)
        exact = conn.execute(unbatched.limit(1)).first() is None
    if not exact:
        sizes = conn.execute(
            select(d.c.language, func.count())
            .where(d.c.campaign_id == campaign_id)
            .group_by(d.c.language)
        ).all()
    counted: dict[str, int] = {}
    for lang, n in sizes:
        if n:
            counted[str(lang)] = counted.get(str(lang), 0) + int(n)
    return dict(sorted(counted.items()))


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
            counts = db.held.status_counts(conn, int(row["id"]))
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
