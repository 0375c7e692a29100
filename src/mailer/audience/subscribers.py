"""Subscribers: add, find, set a status, unsubscribe; the scale of statuses.

Unsubscribed, bounced, complained and pending (never confirmed) subscribers are never
subscribed silently: :func:`add` refuses unless told ``resubscribe=True`` (the person asked).

Reading addresses, languages and statuses is :mod:`.normalise`'s; lists (ids, names,
counts) are :mod:`.lists`'; the CSV export is :mod:`.export`'s; their names stay importable
from here. The import lives in :mod:`.csvimport`; the sender reads recipients straight
from the tables (status ``subscribed`` and a member of the list, see :func:`list_id`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from .. import db
from ..db import SubscriberStatus
from ..errors import SubscriberError
from .export import FIXED_COLUMNS, TRAILING_COLUMNS, export_csv, spreadsheet_safe
from .lists import ListCounts, check_list_name, list_id, lists_with_counts
from .normalise import (
    LOCAL_RE,
    normalise_email,
    normalise_language,
    normalise_status,
    quick_email,
)

__all__ = [
    "FIXED_COLUMNS",
    "LOCAL_RE",
    "NAME_MAX",
    "RANK",
    "SUPPRESSED",
    "TRAILING_COLUMNS",
    "AddResult",
    "ListCounts",
    "add",
    "check_list_name",
    "export_csv",
    "find",
    "list_id",
    "lists_with_counts",
    "normalise_email",
    "normalise_language",
    "normalise_status",
    "quick_email",
    "set_status",
    "spreadsheet_safe",
    "stronger",
    "unsubscribe",
]

NAME_MAX = 200
SUPPRESSED = frozenset(
    {SubscriberStatus.UNSUBSCRIBED, SubscriberStatus.BOUNCED, SubscriberStatus.COMPLAINED}
)
#: how strongly a status says "do not write": an import only ever moves a subscriber up
#: this scale (a never-confirmed address is not subscribed by a later file, a leaver is not
#: made pending or subscribed, a complaint stays a complaint)
RANK = {
    SubscriberStatus.SUBSCRIBED: 0,
    SubscriberStatus.PENDING: 1,
    SubscriberStatus.UNSUBSCRIBED: 2,
    SubscriberStatus.BOUNCED: 2,
    SubscriberStatus.COMPLAINED: 3,
}


def stronger(new: SubscriberStatus | str, old: SubscriberStatus | str | None) -> bool:
    """Whether status *new* says "do not write" more strongly than *old* (None: no status)."""
    if old is None:
        return True
    return RANK[SubscriberStatus(new)] > RANK[SubscriberStatus(old)]


# -- one subscriber --------------------------------------------------------
@dataclass(frozen=True)
class AddResult:
    """What :func:`add` did: ``added`` (new), ``updated`` or ``unchanged``."""

    subscriber_id: int
    email: str
    outcome: str


def find(conn: Connection, email: str, *, case_sensitive_local: bool = False) -> Any:
    """The subscriber row for *email* (any case), or None."""
    _, key = normalise_email(email, case_sensitive_local=case_sensitive_local)
    return conn.execute(select(db.subscribers).where(db.subscribers.c.email_key == key)).first()


def add(
    conn: Connection,
    email: str,
    list_name: str,
    *,
    name: str | None = None,
    language: str | None = None,
    attributes: dict[str, Any] | None = None,
    source: str = "cli",
    resubscribe: bool = False,
    case_sensitive_local: bool = False,
) -> AddResult:
    """Add *email* to *list_name* (created if needed), or update the subscriber's details.

    A subscriber who unsubscribed, bounced or complained is refused unless *resubscribe*.
    """
    address, key = normalise_email(email, case_sensitive_local=case_sensitive_local)
    lang = normalise_language(language) if language else None
    if name is not None and len(name.strip()) > NAME_MAX:
        raise SubscriberError(f"name longer than {NAME_MAX} characters")
    list_pk = db.get_or_create_list(conn, check_list_name(list_name))
    s = db.subscribers
    row = conn.execute(select(s).where(s.c.email_key == key)).first()
    now = db.utcnow()
    if row is None:
        new_id = conn.execute(
            s.insert().values(
                email=address,
                email_key=key,
                name=(name or "").strip(),
                language=lang,
                attributes=attributes or {},
                status=SubscriberStatus.SUBSCRIBED.value,
                source=source,
                created_at=now,
                updated_at=now,
            )
        ).inserted_primary_key[0]  # type: ignore[index]
        conn.execute(db.memberships.insert().values(list_id=list_pk, subscriber_id=new_id))
        return AddResult(int(new_id), address, "added")
    if row.status != SubscriberStatus.SUBSCRIBED and not resubscribe:
        when = f" on {row.status_changed_at:%Y-%m-%d}" if row.status_changed_at else ""
        raise SubscriberError(
            f"{row.email} is {row.status}{when}; mailer does not re-subscribe them silently",
            hint="pass --resubscribe only if the person asked to receive the newsletter again.",
        )
    values: dict[str, Any] = {}
    if name is not None and name.strip() != row.name:
        values["name"] = name.strip()
    if lang and lang != row.language:
        values["language"] = lang
    if attributes and {**row.attributes, **attributes} != row.attributes:
        values["attributes"] = {**row.attributes, **attributes}
    if row.status != SubscriberStatus.SUBSCRIBED:
        values.update(status=SubscriberStatus.SUBSCRIBED.value, status_changed_at=now)
    member = conn.execute(
        select(db.memberships.c.list_id).where(
            db.memberships.c.list_id == list_pk, db.memberships.c.subscriber_id == row.id
        )
    ).first()
    if values:
        conn.execute(s.update().where(s.c.id == row.id).values(updated_at=now, **values))
    if member is None:
        conn.execute(db.memberships.insert().values(list_id=list_pk, subscriber_id=row.id))
    outcome = "updated" if values or member is None else "unchanged"
    return AddResult(int(row.id), row.email, outcome)


def set_status(conn: Connection, subscriber_id: int, status: SubscriberStatus | str) -> str | None:
    """Set a subscriber's status; returns the previous one (None if there is no such subscriber).

    Used by unsubscribe, bounces and complaints. A complaint is never downgraded to an
    unsubscribe or a bounce (it is the strongest reason not to write again).
    """
    new = SubscriberStatus(status)
    s = db.subscribers
    old = conn.execute(select(s.c.status).where(s.c.id == subscriber_id)).scalar()
    if old is None:
        return None
    if old != new and old != SubscriberStatus.COMPLAINED:
        now = db.utcnow()
        conn.execute(
            s.update()
            .where(s.c.id == subscriber_id)
            .values(status=new.value, status_changed_at=now, updated_at=now)
        )
    return str(old)


def unsubscribe(conn: Connection, email: str, *, case_sensitive_local: bool = False) -> str:
    """Unsubscribe *email* from everything; returns its previous status.

    SubscriberError when the address is not in the database.
    """
    row = find(conn, email, case_sensitive_local=case_sensitive_local)
    if row is None:
        raise SubscriberError(
            f"{email.strip()} is not a subscriber",
            hint="check the spelling; `mailer subscribers export` lists every address.",
        )
    previous = set_status(conn, row.id, SubscriberStatus.UNSUBSCRIBED)
    if previous == SubscriberStatus.SUBSCRIBED:
        conn.execute(
            db.events.insert().values(
                type=db.EventType.UNSUBSCRIBE.value, subscriber_id=row.id, data={"source": "cli"}
            )
        )
    return str(previous)
