"""``mailer stats``: what happened to an issue after it was sent.

:func:`issue_stats` adds up every campaign of one issue (all the lists it went to; or one
campaign with ``campaign_id``) into a plain :class:`~mailer.stats.model.Stats` (its
module docstring lists every JSON key): counts and the rates beside them, clicks and
unique clickers per story (by title) and per network, the subject and send times, opens
that look made by privacy proxies, and a comparison with the previous campaigns to the
same lists (``history.py``). Scanner events (``is_scanner``) are left out of every figure
and counted apart. Clicks are attributed by the event's block/kind (set from the link row
by ``/c/``, or from the UTM parameters by the SendGrid webhook), falling back to the link
row.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import Engine, and_, distinct, func, select
from sqlalchemy.engine import Connection

from .. import db
from ..errors import TrackingError
from .history import base_counts, comparison, count_events, iso, stored_subject
from .model import (
    OPENS_NOTE,
    PRELOAD_WINDOW_SECONDS,
    NetworkStats,
    Stats,
    StoryStats,
    rate,
)
from .proxies import looks_like_proxy
from .titles import story_titles, title_of

E = db.EventType

__all__ = ["Stats", "StoryStats", "issue_stats", "resolve_slug"]


def resolve_slug(issue: str) -> str:
    """The slug of ISSUE given as an issue file path or as a slug."""
    path = Path(issue)
    if path.suffix in (".yaml", ".yml") or path.exists():
        from ..build.issue import issue_slug

        return issue_slug(path)
    return issue


def _campaigns(conn: Connection, slug: str, campaign_id: int | None) -> list[int]:
    c = db.campaigns
    # test sends (`mailer send-test`) are no campaign: their clicks and opens never count
    query = select(c.c.id).where(c.c.issue_slug == slug, c.c.kind == db.CampaignKind.SEND.value)
    if campaign_id is not None:
        query = query.where(c.c.id == campaign_id)
    return [int(i) for i in conn.execute(query.order_by(c.c.id)).scalars()]


def _clicks(conn: Connection, ids: list[int], stats: Stats) -> None:
    ev, ln = db.events, db.links
    block = func.coalesce(ev.c.block, ln.c.block, "")
    kind = func.coalesce(ev.c.kind, ln.c.kind, "other")
    joined = ev.outerjoin(ln, ln.c.id == ev.c.link_id)
    where = and_(ev.c.campaign_id.in_(ids), ev.c.type == E.CLICK.value, ev.c.is_scanner.is_(False))
    by_kind = conn.execute(
        select(block, kind, func.count(), func.count(distinct(ev.c.subscriber_id)))
        .select_from(joined)
        .where(where)
        .group_by(block, kind)
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
    by_network = {
        str(k): int(n)
        for k, n in conn.execute(
            select(kind, func.count(distinct(ev.c.subscriber_id)))
            .select_from(joined)
            .where(where, kind.like("%:%"))
            .group_by(kind)
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
    base = stats.recipients
    stories: dict[str, StoryStats] = {}
    networks: dict[str, NetworkStats] = {}
    for b, k, n, uniq in by_kind:
        b, k, n = str(b), str(k), int(n)
        stats.clicks += n
        if ":" in k:
            net = networks.setdefault(k, NetworkStats(k.split(":", 1)[1], k.split(":", 1)[0]))
            net.clicks += n
            net.unique_clickers = by_network.get(k, 0)
            net.click_rate = rate(net.unique_clickers, base)
        if k.startswith("follow:"):
            name = k.split(":", 1)[1]
            stats.follows[name] = stats.follows.get(name, 0) + n
            continue
        story = stories.setdefault(b, StoryStats(b, unique_clickers=by_block.get(b, 0)))
        story.clicks += n
        if k.startswith("share:"):
            name = k.split(":", 1)[1]
            story.shares[name] = story.shares.get(name, 0) + n
            story.share_rates[name] = rate(int(uniq), base)
    for story in stories.values():
        story.click_rate = rate(story.unique_clickers, base)
        story.shares = dict(sorted(story.shares.items()))
        story.share_rates = dict(sorted(story.share_rates.items()))
    stats.stories = sorted(stories.values(), key=lambda s: (order.get(s.block, 1 << 62), s.block))
    stats.follows = dict(sorted(stats.follows.items()))
    stats.networks = sorted(networks.values(), key=lambda n: (n.kind != "share", n.network))


def _proxy_opens(conn: Connection, ids: list[int], window: float) -> tuple[int, int]:
    """(open events that look made by a preloading proxy, openers with only such opens)."""
    ev, d = db.events, db.deliveries
    rows = conn.execute(
        select(ev.c.subscriber_id, ev.c.user_agent, ev.c.created_at, db.held.accepted_at_of())
        .select_from(
            db.held.with_batch(
                ev.outerjoin(
                    d,
                    and_(
                        d.c.campaign_id == ev.c.campaign_id,
                        d.c.subscriber_id == ev.c.subscriber_id,
                    ),
                )
            )
        )
        .where(ev.c.campaign_id.in_(ids), ev.c.type == E.OPEN.value, ev.c.is_scanner.is_(False))
    )
    proxy_events = 0
    person: dict[int, bool] = {}  # subscriber -> has an open that looks like the reader's
    for sub, ua, opened, accepted in rows:
        proxy = looks_like_proxy(ua, opened, accepted, window)
        proxy_events += proxy
        if sub is not None:
            person[int(sub)] = person.get(int(sub), False) or not proxy
    return proxy_events, sum(1 for human in person.values() if not human)


def _campaign_facts(conn: Connection, ids: list[int], stats: Stats) -> list[str]:
    """Lists, subject and send times into *stats*; the issue files the campaigns came from."""
    c, li = db.campaigns, db.lists
    rows = conn.execute(
        select(c.c.id, c.c.subject, c.c.started_at, c.c.finished_at, c.c.issue_path, li.c.name)
        .select_from(c.join(li, li.c.id == c.c.list_id))
        .where(c.c.id.in_(ids))
        .order_by(c.c.id)
    ).all()
    stats.lists = sorted({str(r.name) for r in rows})
    stats.subject = stored_subject(conn, int(rows[0].id), rows[0].subject)
    started = [r.started_at for r in rows if r.started_at is not None]
    finished = [r.finished_at for r in rows if r.finished_at is not None]
    stats.started_at = iso(min(started)) if started else None
    stats.finished_at = iso(max(finished)) if len(finished) == len(rows) else None
    return [str(r.issue_path) for r in rows if r.issue_path]


def issue_stats(
    engine: Engine,
    issue: str,
    *,
    campaign_id: int | None = None,
    preload_window: float = PRELOAD_WINDOW_SECONDS,
) -> Stats:
    """The figures of every campaign of *issue* (path or slug), or of one campaign.

    Story titles come from *issue* when it is a file, else from the file each campaign
    was sent from. Opens within *preload_window* seconds of delivery count as proxy opens.
    """
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
        paths = _campaign_facts(conn, ids, stats)
        _figures(conn, ids, stats)
        _clicks(conn, ids, stats)
        stats.proxy_opens, stats.proxy_openers = _proxy_opens(conn, ids, preload_window)
        stats.opens_note = OPENS_NOTE if stats.opens or stats.scanner_opens else ""
        stats.comparison = comparison(conn, ids, slug)
    titles = story_titles([issue, *paths])
    for story in stats.stories:
        story.title = title_of(story.block, titles)
    return stats


def _figures(conn: Connection, ids: Sequence[int], stats: Stats) -> None:
    ev = db.events
    stats.sent = db.held.settled_count(conn, ids)  # handed to the backend
    base = base_counts(conn, ids)
    stats.accepted, stats.delivered = base.accepted, base.delivered
    stats.recipients = base.recipients
    stats.recipients_are = "delivered" if base.delivered else "accepted"
    stats.unique_opens, stats.unique_clickers = base.unique_opens, base.unique_clickers
    stats.unsubscribes = base.unsubscribes
    stats.bounced = count_events(conn, ids, (E.BOUNCE, E.DROPPED), unique=True)
    stats.opens = count_events(conn, ids, (E.OPEN,), unique=False)
    stats.complaints = count_events(conn, ids, (E.SPAMREPORT,), unique=True)
    n = stats.recipients
    stats.unique_open_rate = rate(stats.unique_opens, n)
    stats.click_rate = rate(stats.unique_clickers, n)
    stats.click_to_open_rate = rate(stats.unique_clickers, stats.unique_opens)
    stats.unsubscribe_rate = rate(stats.unsubscribes, n)
    stats.complaint_rate = rate(stats.complaints, n)
    stats.bounce_rate = rate(stats.bounced, stats.sent)
    for type_, attr in ((E.CLICK, "scanner_clicks"), (E.OPEN, "scanner_opens")):
        found = conn.execute(
            select(func.count()).where(
                ev.c.campaign_id.in_(ids), ev.c.type == type_.value, ev.c.is_scanner.is_(True)
            )
        ).scalar()
        setattr(stats, attr, int(found or 0))
