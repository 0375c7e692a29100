"""The counts behind every rate, per set of campaigns, and the comparison of an issue
with the previous campaigns to the same lists (``Stats.comparison``).

:func:`base_counts` is shared by the issue's own figures (``collect.py``) and by each
comparison row, so a rate means the same thing in both places. Scanner events are left
out of every count.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import distinct, func, select
from sqlalchemy.engine import Connection

from .. import db
from .model import ComparisonRow, rate

E = db.EventType

#: how many earlier campaigns of the same list the comparison shows
PREVIOUS = 5


@dataclass
class BaseCounts:
    """The counts rates are made of, for one or more campaigns."""

    accepted: int
    delivered: int
    unique_opens: int
    unique_clickers: int
    unsubscribes: int

    @property
    def recipients(self) -> int:
        """Delivered when the provider reports deliveries, else accepted."""
        return self.delivered or self.accepted


def count_events(
    conn: Connection, ids: Sequence[int], types: tuple[E, ...], *, unique: bool
) -> int:
    """Non-scanner events of *types* in campaigns *ids* (distinct subscribers if *unique*)."""
    ev = db.events
    what = func.count(distinct(ev.c.subscriber_id)) if unique else func.count()
    query = select(what).where(
        ev.c.campaign_id.in_(list(ids)),
        ev.c.type.in_([t.value for t in types]),
        ev.c.is_scanner.is_(False),
    )
    return int(conn.execute(query).scalar() or 0)


def base_counts(conn: Connection, ids: Sequence[int]) -> BaseCounts:
    """The counts of campaigns *ids* that every rate is made of."""
    return BaseCounts(
        accepted=db.held.accepted_count(conn, ids),
        delivered=count_events(conn, ids, (E.DELIVERED,), unique=True),
        unique_opens=count_events(conn, ids, (E.OPEN,), unique=True),
        unique_clickers=count_events(conn, ids, (E.CLICK,), unique=True),
        unsubscribes=count_events(conn, ids, (E.UNSUBSCRIBE,), unique=True),
    )


def iso(value: datetime | None) -> str | None:
    """A stored (naive UTC) time as ISO 8601, seconds precision."""
    return None if value is None else value.replace(microsecond=0).isoformat()


def comparison(conn: Connection, ids: Sequence[int], slug: str) -> list[ComparisonRow]:
    """This issue's campaigns, then up to ``PREVIOUS`` earlier campaigns per list of
    theirs (other issues that started sending), newest first."""
    c, li = db.campaigns, db.lists
    when = func.coalesce(c.c.started_at, c.c.created_at)
    columns = (c.c.id, c.c.issue_slug, c.c.subject, li.c.name, when.label("date"))
    joined = c.join(li, li.c.id == c.c.list_id)
    own = conn.execute(
        select(*columns, c.c.list_id).select_from(joined).where(c.c.id.in_(list(ids)))
    ).all()
    picked: list[tuple[Any, bool]] = [(r, True) for r in sorted(own, key=lambda r: r.id)]
    seen = set(ids)
    for list_id in sorted({r.list_id for r in own}):
        first = min((r.date for r in own if r.list_id == list_id and r.date), default=None)
        query = (
            select(*columns)
            .select_from(joined)
            .where(
                c.c.list_id == list_id,
                c.c.kind == db.CampaignKind.SEND.value,
                c.c.issue_slug != slug,
                c.c.started_at.is_not(None),
            )
            .order_by(when.desc(), c.c.id.desc())
            .limit(PREVIOUS)
        )
        if first is not None:
            query = query.where(when <= first)
        for r in conn.execute(query).all():
            if r.id not in seen:
                seen.add(r.id)
                picked.append((r, False))
    rows = []
    for r, current in picked:
        n = base_counts(conn, [int(r.id)])
        rows.append(
            ComparisonRow(
                campaign=int(r.id),
                slug=str(r.issue_slug),
                subject=stored_subject(conn, int(r.id), r.subject),
                list=str(r.name),
                date=iso(r.date),
                recipients=n.recipients,
                unique_open_rate=rate(n.unique_opens, n.recipients),
                click_rate=rate(n.unique_clickers, n.recipients),
                unsubscribe_rate=rate(n.unsubscribes, n.recipients),
                current=current,
            )
        )
    current_rows = [r for r in rows if r.current]
    earlier = sorted((r for r in rows if not r.current), key=lambda r: r.date or "", reverse=True)
    return current_rows + earlier


def _stored_subject(conn: Connection, campaign_id: int) -> str:
    """The subject stored with the campaign's contents (first language), or ``""``."""
    cc = db.campaign_contents
    found = conn.execute(
        select(cc.c.subject).where(cc.c.campaign_id == campaign_id).order_by(cc.c.language).limit(1)
    ).scalar()
    return str(found or "")


def stored_subject(conn: Connection, campaign_id: int, subject: str | None) -> str:
    """The campaign's subject, or the one stored with its contents when it is empty."""
    return str(subject or "") or _stored_subject(conn, campaign_id)
