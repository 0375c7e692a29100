"""``mailer stats``: what happened to an issue after it was sent.

:func:`issue_stats` adds up every campaign of one issue (all the lists it went to; or one
campaign with ``campaign_id``) into a plain :class:`Stats`: sent, accepted, delivered,
bounced, unique opens, clicks and unique clickers per story (block), share clicks per
network per story, follow clicks per network, unsubscribes and complaints. Scanner
events (``is_scanner``) are left out of every figure and counted apart. Clicks are
attributed by the event's block/kind (set from the link row by ``/c/``, or from the
UTM parameters by the SendGrid webhook), falling back to the link row.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, and_, distinct, func, select
from sqlalchemy.engine import Connection

from .. import db
from ..errors import TrackingError

E = db.EventType


@dataclass
class StoryStats:
    """Clicks on one story (block) of the issue."""

    block: str
    clicks: int = 0
    unique_clickers: int = 0
    #: share clicks per network (``share:<network>`` links)
    shares: dict[str, int] = field(default_factory=dict)


@dataclass
class Stats:
    """The figures of one issue (see the module docstring)."""

    slug: str
    campaigns: list[int]
    #: deliveries handed to the backend (accepted, failed or unknown; not pending)
    sent: int = 0
    accepted: int = 0
    delivered: int = 0
    bounced: int = 0
    opens: int = 0
    unique_opens: int = 0
    clicks: int = 0
    unique_clickers: int = 0
    unsubscribes: int = 0
    complaints: int = 0
    stories: list[StoryStats] = field(default_factory=list)
    #: follow clicks per network (``follow:<network>`` links)
    follows: dict[str, int] = field(default_factory=dict)
    scanner_clicks: int = 0
    scanner_opens: int = 0

    def as_dict(self) -> dict[str, Any]:
        """The same numbers as plain JSON-able data."""
        return asdict(self)


def resolve_slug(issue: str) -> str:
    """The slug of ISSUE given as an issue file path or as a slug."""
    path = Path(issue)
    if path.suffix in (".yaml", ".yml") or path.exists():
        from ..build.issue import issue_slug

        return issue_slug(path)
    return issue


def _campaigns(conn: Connection, slug: str, campaign_id: int | None) -> list[int]:
    c = db.campaigns
    query = select(c.c.id).where(c.c.issue_slug == slug)
    if campaign_id is not None:
        query = query.where(c.c.id == campaign_id)
    return [int(i) for i in conn.execute(query.order_by(c.c.id)).scalars()]


def _count(conn: Connection, ids: list[int], types: tuple[E, ...], *, unique: bool) -> int:
    ev = db.events
    what = func.count(distinct(ev.c.subscriber_id)) if unique else func.count()
    query = select(what).where(
        ev.c.campaign_id.in_(ids),
        ev.c.type.in_([t.value for t in types]),
        ev.c.is_scanner.is_(False),
    )
    return int(conn.execute(query).scalar() or 0)


def _clicks(conn: Connection, ids: list[int], stats: Stats) -> None:
    ev, ln = db.events, db.links
    block = func.coalesce(ev.c.block, ln.c.block, "")
    kind = func.coalesce(ev.c.kind, ln.c.kind, "other")
    joined = ev.outerjoin(ln, ln.c.id == ev.c.link_id)
    where = and_(ev.c.campaign_id.in_(ids), ev.c.type == E.CLICK.value, ev.c.is_scanner.is_(False))
    by_kind = conn.execute(
        select(block, kind, func.count()).select_from(joined).where(where).group_by(block, kind)
    ).all()
    by_block = {
        str(b): int(n)
        for b, n in conn.execute(
            select(block, func.count(distinct(ev.c.subscriber_id)))
            .select_from(joined)
            .where(where, ~kind.like("follow:%"))
            .group_by(block)
        )
    }
    order = {
        str(b): int(first)
        for b, first in conn.execute(
            select(ln.c.block, func.min(ln.c.id))
            .where(ln.c.campaign_id.in_(ids))
            .group_by(ln.c.block)
        )
    }
    stories: dict[str, StoryStats] = {}
    for b, k, n in by_kind:
        b, k, n = str(b), str(k), int(n)
        stats.clicks += n
        if k.startswith("follow:"):
            net = k.split(":", 1)[1]
            stats.follows[net] = stats.follows.get(net, 0) + n
            continue
        story = stories.setdefault(b, StoryStats(b, unique_clickers=by_block.get(b, 0)))
        story.clicks += n
        if k.startswith("share:"):
            net = k.split(":", 1)[1]
            story.shares[net] = story.shares.get(net, 0) + n
    stats.stories = sorted(stories.values(), key=lambda s: (order.get(s.block, 1 << 62), s.block))
    stats.follows = dict(sorted(stats.follows.items()))
    stats.unique_clickers = _count(conn, ids, (E.CLICK,), unique=True)


def issue_stats(engine: Engine, issue: str, *, campaign_id: int | None = None) -> Stats:
    """The figures of every campaign of *issue* (path or slug), or of one campaign."""
    slug = resolve_slug(issue)
    with db.read(engine) as conn:
        ids = _campaigns(conn, slug, campaign_id)
        if not ids:
            which = f"campaign {campaign_id} of " if campaign_id is not None else ""
            raise TrackingError(
                f"no {which}issue '{slug}' has been sent",
                hint="`mailer campaigns` lists what was sent; give the issue file or its slug.",
            )
        stats = Stats(slug=slug, campaigns=ids)
        d, ev = db.deliveries, db.events
        attempted = d.c.status != db.DeliveryStatus.PENDING.value  # handed to the backend
        stats.sent = int(
            conn.execute(select(func.count()).where(d.c.campaign_id.in_(ids), attempted)).scalar()
            or 0
        )
        stats.accepted = int(
            conn.execute(
                select(func.count()).where(
                    d.c.campaign_id.in_(ids), d.c.status == db.DeliveryStatus.ACCEPTED.value
                )
            ).scalar()
            or 0
        )
        stats.delivered = _count(conn, ids, (E.DELIVERED,), unique=True)
        stats.bounced = _count(conn, ids, (E.BOUNCE, E.DROPPED), unique=True)
        stats.opens = _count(conn, ids, (E.OPEN,), unique=False)
        stats.unique_opens = _count(conn, ids, (E.OPEN,), unique=True)
        stats.unsubscribes = _count(conn, ids, (E.UNSUBSCRIBE,), unique=True)
        stats.complaints = _count(conn, ids, (E.SPAMREPORT,), unique=True)
        _clicks(conn, ids, stats)
        for type_, attr in ((E.CLICK, "scanner_clicks"), (E.OPEN, "scanner_opens")):
            n = conn.execute(
                select(func.count()).where(
                    ev.c.campaign_id.in_(ids), ev.c.type == type_.value, ev.c.is_scanner.is_(True)
                )
            ).scalar()
            setattr(stats, attr, int(n or 0))
    return stats
