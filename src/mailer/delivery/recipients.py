"""Who a campaign is sent to, and what: recipient selection and the stored contents.

:class:`mailer.ledger.Ledger` pages through :func:`eligible` (subscribed members of
the list not yet queued in the campaign), one language at a time as routed by
:func:`language_cond`, queues each page with :func:`insert_deliveries`, and sends the
per-language contents :func:`load_contents` reads back from ``campaign_contents``.

Recipients are streamed from the database a batch at a time (keyset pagination by
subscriber id, per language); the attributes column is passed through raw
(:func:`raw_attributes`) and parsed only when a merge field needs it.

The send loop takes its pages with :class:`PageReader` (the bare driver, its statements
compiled once), which never asks the planner for an anti-join against ``deliveries``:
that table fills during the send while PostgreSQL's statistics may still call it empty,
and the anti-join plan chosen then (a nested loop re-reading the campaign's deliveries
for every member) turns a millisecond query into minutes. Instead a page of members is
read (and, with several runners, locked ``FOR UPDATE SKIP LOCKED``) by the list's own
index, and the ones already queued in that id range are dropped in Python after one
range read of ``deliveries``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import (
    Engine,
    Integer,
    Text,
    and_,
    bindparam,
    exists,
    func,
    not_,
    or_,
    select,
    text,
    true,
    type_coerce,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError

from .. import db
from ..backends.base import Content
from ..rendered import MergeField
from .bare import Bare, driver_time

DS = db.DeliveryStatus


# -- selection -------------------------------------------------------------------
def language_cond(language: str, default: str, languages: Sequence[str]) -> Any:
    """SQL condition: subscribers routed to *language* (their own if the issue has it)."""
    lang = func.lower(db.subscribers.c.language)

    def speaks(code: str) -> Any:
        return or_(lang == code.lower(), lang.like(code.lower() + "-%"))

    if language != default:
        return speaks(language)
    others = [speaks(code) for code in languages if code != default]
    if not others:
        return true()
    return or_(db.subscribers.c.language.is_(None), not_(or_(*others)))


def raw_attributes() -> Any:
    """The attributes column as the driver gives it (JSON text on SQLite: parsed only when
    a merge field needs it, see ``personalize.field_value``)."""
    return type_coerce(db.subscribers.c.attributes, Text)


def subscribed_member(list_id: int) -> Any:
    """SQL condition over ``memberships`` joined to ``subscribers``: a subscribed member of
    list *list_id* (membership and subscriber both ``subscribed``: not pending, not left)."""
    s, m = db.subscribers, db.memberships
    subscribed = db.SubscriberStatus.SUBSCRIBED.value
    return and_(
        m.c.list_id == list_id,
        m.c.status == db.MembershipStatus.SUBSCRIBED.value,
        s.c.status == subscribed,
    )


def eligible(campaign_id: int, list_id: int) -> Any:
    """Subscribed members of the list (membership and subscriber both ``subscribed``) not
    yet queued in the campaign."""
    s, m, d = db.subscribers, db.memberships, db.deliveries
    queued = exists().where(d.c.campaign_id == campaign_id, d.c.subscriber_id == m.c.subscriber_id)
    return (
        select(s.c.id, s.c.email, s.c.name, raw_attributes())
        .select_from(m.join(s, s.c.id == m.c.subscriber_id))
        .where(subscribed_member(list_id), not_(queued))
    )


def unnested(conn: Connection) -> None:
    """Let the transaction of *conn* run :func:`eligible`'s anti-join hashed or merged,
    reading each side once. On PostgreSQL, statistics taken while ``deliveries`` was empty
    (a new campaign's) make it a nested loop, one index probe per member: 0.1-0.2 s for
    40,000, minutes for a million once the table fills during the send."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SET LOCAL enable_nestloop = off"))


def members_page(list_id: int, cond: Any, after: Any, limit: Any) -> Any:
    """Subscribed members of the list routed by *cond*, subscriber id above *after*, by id
    (no ``deliveries`` in the query: see the module docstring)."""
    s, m = db.subscribers, db.memberships
    return (
        select(s.c.id, s.c.email, s.c.name, raw_attributes())
        .select_from(m.join(s, s.c.id == m.c.subscriber_id))
        .where(
            subscribed_member(list_id),
            m.c.subscriber_id > after,
            s.c.id > after,  # the same, said of the join's other side: read from there too
            cond,
        )
        .order_by(m.c.subscriber_id)
        .limit(limit)
    )


def claim_page(
    conn: Connection, campaign_id: int, list_id: int, cond: Any, after: int, size: int, lock: bool
) -> tuple[list[Any], int]:
    """Up to *size* members not yet queued in the campaign, after subscriber id *after*:
    (their rows, the id to continue after). *lock*: the members read are locked
    ``FOR UPDATE SKIP LOCKED`` (several runners: each takes rows the others are not
    taking). An empty list with a new cursor means the pages read were all queued."""
    return PageReader(conn.dialect, campaign_id, list_id, cond, lock).page(conn, after, size)


class PageReader:
    """:func:`claim_page` through the bare driver: the two statements of a page (members
    after a subscriber id; the ones of them already queued) are compiled once per
    campaign, list and language, and each page runs them with ``exec_driver_sql``
    no Core compile or cache lookup per batch: the hot select of a send).

    *leap* (several runners: *lock*; a campaign in one language): a page starts after the
    highest subscriber id already queued in the campaign when its own cursor is behind
    it, one backward step of ``(campaign_id, subscriber_id)``'s index in the same
    statement, instead of reading again the pages other runners queued meanwhile. (In
    several languages each is paged through in turn, and the highest id of one language
    says nothing of another's; with a language filter, PostgreSQL's plan for a fresh
    ``deliveries`` reads every delivery of the campaign, so those pages do not leap.)
    What it leaps over unqueued (a page another runner locked and then dropped, its
    runner gone) is found by the last look before the campaign is marked sent
    (``outcomes.finish_campaign``: members left), after which the runner reads every
    page again with readers made without *leap*.

    Both statements also bound the subscribers' side of the join by the cursor: without
    it the merge join read ``subscribers`` from its first id on every page."""

    def __init__(
        self,
        dialect: Any,
        campaign_id: int,
        list_id: int,
        cond: Any,
        lock: bool,
        leap: bool = False,
    ) -> None:
        d = db.deliveries
        after, limit = bindparam("after", type_=Integer), bindparam("limit", type_=Integer)
        query = members_page(list_id, cond, after, limit)
        self._leap: Bare | None = None
        if lock and leap:
            # the unique index's own order, read backwards: the highest queued id at once
            top = (
                select(d.c.subscriber_id)
                .where(d.c.campaign_id == campaign_id)
                .order_by(d.c.campaign_id.desc(), d.c.subscriber_id.desc())
                .limit(1)
            )
            start = func.greatest(after, func.coalesce(top.scalar_subquery(), 0))
            jump = members_page(list_id, cond, start, limit)
            jump = jump.with_for_update(skip_locked=True, of=db.memberships)
            self._leap = Bare(jump.compile(dialect=dialect))
        if lock:
            query = query.with_for_update(skip_locked=True, of=db.memberships)
        queued = select(d.c.subscriber_id).where(
            d.c.campaign_id == campaign_id,
            d.c.subscriber_id.between(
                bindparam("lo", type_=Integer), bindparam("hi", type_=Integer)
            ),
        )
        self._page = Bare(query.compile(dialect=dialect))
        self._queued = Bare(queued.compile(dialect=dialect))
        self._members: Bare | None = None
        if dialect.name == "sqlite":  # how many of the ids in a JSON array are still members
            s, m = db.subscribers, db.memberships
            ids = func.json_each(bindparam("ids")).table_valued("value")
            # every join from the ids: SQLite walks the array and looks each id up (by
            # primary key), rather than the whole list's memberships for each id
            found = ids.join(s, s.c.id == ids.c.value).join(
                m, and_(m.c.subscriber_id == ids.c.value, subscribed_member(list_id))
            )
            members = select(func.count()).select_from(found)
            self._members = Bare(members.compile(dialect=dialect))

    def page(self, conn: Connection, after: int, size: int) -> tuple[list[Any], int]:
        """As :func:`claim_page`: (up to *size* members not yet queued, the new cursor),
        leaping when made to."""
        fresh: list[Any] = []
        read = self._leap or self._page
        for _ in range(8):  # at most 8 pages per call: a long queued stretch costs round trips
            rows = read.all(conn, after=after, limit=size - len(fresh))
            if not rows:
                break
            lo, after = int(rows[0][0]), int(rows[-1][0])
            queued = {r[0] for r in self._queued.all(conn, lo=lo, hi=after)}
            fresh.extend(r for r in rows if r[0] not in queued)
            if len(fresh) >= size:
                break
        return fresh, after

    def still_members(self, conn: Connection, rows: Sequence[Any]) -> bool:
        """Whether every member of *rows* (a page read before *conn*'s transaction began) is
        still a subscribed member of the list. False where it cannot tell (PostgreSQL reads
        its pages in the write transaction; an SQLite without JSON functions): the page is
        then read again."""
        if not rows:
            return True  # nothing to queue: the cursor moves on as it read
        if self._members is None:
            return False
        ids = orjson.dumps([int(r[0]) for r in rows]).decode()
        try:
            found = self._members.run(conn, ids=ids).scalar_one()
        except OperationalError:
            return False
        return int(found) == len(rows)


def insert_deliveries(
    conn: Connection, campaign_id: int, batch_id: int, language: str, rows: Sequence[Any]
) -> None:
    """Queue *rows* (subscriber id first) as ``pending`` deliveries of the batch in one
    statement (the hot insert of a send): on PostgreSQL ``INSERT … SELECT unnest(ids)``,
    on SQLite ``INSERT … SELECT … FROM json_each(ids)`` (one step of the engine, which
    runs without Python's GIL, where an ``executemany`` binds row by row). Deliveries get
    their ids in the order of *rows*. Raises ``IntegrityError`` if one is queued already."""
    ids = [int(r[0]) for r in rows]
    if conn.dialect.name == "postgresql":
        conn.execute(
            text(
                "INSERT INTO deliveries (campaign_id, subscriber_id, batch_id, language, status,"
                " updated_at) SELECT :cid, unnest(CAST(:ids AS integer[])), :bid, :lang,"
                " :status, :now"
            ),
            {
                "cid": campaign_id,
                "ids": ids,
                "bid": batch_id,
                "lang": language,
                "status": DS.PENDING.value,
                "now": db.utcnow(),
            },
        )
        return
    now = driver_time(conn.dialect, db.utcnow())
    global sqlite_json
    common = (campaign_id, batch_id, language, DS.PENDING.value, now)
    if sqlite_json:
        try:
            conn.exec_driver_sql(
                f"INSERT INTO deliveries ({_COLUMNS}) SELECT ?, value, ?, ?, ?, ?"
                " FROM json_each(?) ORDER BY key",
                (*common, orjson.dumps(ids).decode()),
            )
            return
        except OperationalError as exc:  # an SQLite built without JSON: row by row
            if "json_each" not in str(exc):
                raise
            sqlite_json = False
    conn.exec_driver_sql(
        f"INSERT INTO deliveries ({_COLUMNS.replace('subscriber_id, ', '')}, subscriber_id)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        [(*common, i) for i in ids],
    )


_COLUMNS = "campaign_id, subscriber_id, batch_id, language, status, updated_at"
#: whether this SQLite has ``json_each`` (every build since 3.38 unless compiled out);
#: set False the first time it has not
sqlite_json = True


# -- contents --------------------------------------------------------------------
@dataclass(frozen=True)
class LanguageGroup:
    content: Content
    merge_fields: tuple[MergeField, ...]


def load_contents(engine: Engine, campaign_id: int) -> dict[str, LanguageGroup]:
    cc = db.campaign_contents
    with db.read(engine) as conn:
        rows = conn.execute(select(cc).where(cc.c.campaign_id == campaign_id)).mappings().all()
    return {
        r["language"]: LanguageGroup(
            Content.of(r["language"], r["subject"], r["html"], r["text"]),
            tuple(MergeField(**f) for f in (r["merge_fields"] or [])),
        )
        for r in rows
    }
