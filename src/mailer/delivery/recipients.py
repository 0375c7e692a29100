"""Who a campaign is sent to, and what: recipient selection and the stored contents.

:class:`mailer.ledger.Ledger` pages through :func:`eligible` (subscribed members of
the list not yet queued in the campaign), one language at a time as routed by
:func:`language_cond`, queues each page with :func:`insert_deliveries`, and sends the
per-language contents :func:`load_contents` reads back from ``campaign_contents``.

Recipients are streamed from the database a batch at a time (keyset pagination by
subscriber id, per language); the attributes column is passed through raw
(:func:`raw_attributes`) and parsed only when a merge field needs it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, Text, exists, func, not_, or_, select, true, type_coerce
from sqlalchemy.engine import Connection

from .. import db
from ..backends.base import Content
from ..rendered import MergeField

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


def eligible(campaign_id: int, list_id: int) -> Any:
    """Subscribed members of the list (membership and subscriber both ``subscribed``) not
    yet queued in the campaign."""
    s, m, d = db.subscribers, db.memberships, db.deliveries
    queued = exists().where(d.c.campaign_id == campaign_id, d.c.subscriber_id == m.c.subscriber_id)
    return (
        select(s.c.id, s.c.email, s.c.name, raw_attributes())
        .select_from(m.join(s, s.c.id == m.c.subscriber_id))
        .where(
            m.c.list_id == list_id,
            m.c.status == db.MembershipStatus.SUBSCRIBED.value,  # not pending, not left
            s.c.status == db.SubscriberStatus.SUBSCRIBED.value,
            not_(queued),
        )
    )


def insert_deliveries(
    conn: Connection, campaign_id: int, batch_id: int, language: str, rows: Sequence[Any]
) -> None:
    """Queue *rows* (subscriber id first) as ``pending`` deliveries of the batch, with a
    bare DBAPI executemany (the hot insert of a send: Core would run bind processors per
    row for values that are all alike). Raises ``IntegrityError`` if one is queued already."""
    d = db.deliveries
    keys = ["campaign_id", "subscriber_id", "batch_id", "language", "status", "updated_at"]
    compiled = d.insert().compile(dialect=conn.dialect, column_keys=keys)
    to_db = d.c.updated_at.type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
    now: Any = db.utcnow()
    if to_db is not None:
        now = to_db(now)
    common = {
        "campaign_id": campaign_id,
        "batch_id": batch_id,
        "language": language,
        "status": DS.PENDING.value,
        "updated_at": now,
    }
    if compiled.positional:
        order = list(compiled.positiontup or [])
        i = order.index("subscriber_id")
        template = [common.get(k) for k in order]
        params: list[Any] = []
        for r in rows:
            template[i] = r[0]
            params.append(tuple(template))
    else:
        params = [{**common, "subscriber_id": r[0]} for r in rows]
    conn.exec_driver_sql(compiled.string, params)


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
