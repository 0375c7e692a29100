"""Lists: a list's id by name, a list name checked, every list with its members counted."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from .. import db
from ..db import SubscriberStatus
from ..errors import SubscriberError


def list_id(conn: Connection, name: str) -> int:
    """The id of list *name*; SubscriberError naming the known lists when it does not exist."""
    found = conn.execute(select(db.lists.c.id).where(db.lists.c.name == name)).scalar()
    if found is not None:
        return int(found)
    known = sorted(conn.execute(select(db.lists.c.name)).scalars())
    hint = (
        f"known lists: {', '.join(known)}"
        if known
        else "there are no lists yet: `mailer subscribers import FILE --list NAME` creates one."
    )
    raise SubscriberError(f"no list named {name!r}", hint=hint)


def check_list_name(name: str) -> str:
    """*name* stripped; SubscriberError when empty or too long."""
    value = name.strip()
    if not value or len(value) > 200:
        raise SubscriberError(
            f"invalid list name {name!r}", hint="use a short name such as partners or press."
        )
    return value


@dataclass
class ListCounts:
    """One list with its member counts by status."""

    name: str
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "total": self.total, **self.counts}


def lists_with_counts(conn: Connection) -> list[ListCounts]:
    """Every list (by name) with its members counted by status (every status present, 0 if none)."""
    result = {
        name: ListCounts(name, {s.value: 0 for s in SubscriberStatus})
        for name in conn.execute(select(db.lists.c.name).order_by(db.lists.c.name)).scalars()
    }
    m, s, ls = db.memberships, db.subscribers, db.lists
    query = (
        select(ls.c.name, s.c.status, func.count())
        .select_from(m.join(s, s.c.id == m.c.subscriber_id).join(ls, ls.c.id == m.c.list_id))
        .group_by(ls.c.name, s.c.status)
    )
    for name, status, count in conn.execute(query):
        result[name].counts[status] = int(count)
    return list(result.values())
