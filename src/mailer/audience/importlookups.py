"""What an import looks up per batch before it writes: known subscribers, erased addresses, ids.

:class:`Lookups` asks the database, one statement per batch each, which of a batch's
addresses are known (with their membership of the list: ``left`` and since when), which were
erased with ``mailer subscribers forget``, and the ids of addresses once written (for their
consents). On SQLite a table empty at the start of the import, and an empty forgotten table,
say which look-ups cannot find anything (:attr:`Lookups.fresh`,
:attr:`Lookups.check_forgotten`). The batch's keys travel as ONE parameter
(:func:`among_keys`). What is done with the answers (the status rule, skipping a reader who
left, the inserts) is :mod:`mailer.audience.importwriter`'s job; :func:`left_reason` is the
report's wording for a reader who left.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from sqlalchemy import any_, bindparam, func, literal_column, select
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.types import String

from .. import db
from .privacy import forgotten_keys


def among_keys(dialect: Dialect, column: Any) -> Any:
    """*column* among the batch's keys as ONE parameter: ``= ANY(:keys)`` on PostgreSQL, a JSON
    array through ``json_each`` on SQLite (an expanding ``IN`` is re-compiled per batch).
    Its parameters are :meth:`Lookups.keys_param`'s."""
    if dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import ARRAY  # not on SQLite's start-up

        return column == any_(bindparam("keys", type_=ARRAY(String)))
    if dialect.name == "sqlite":
        each: Any = select(literal_column("value")).select_from(
            func.json_each(bindparam("keys_json"))
        )
        return column.in_(each.scalar_subquery())
    return column.in_(bindparam("keys", expanding=True))


def left_reason(left_at: Any) -> str:
    """The import report's reason for a row of a reader who left the list."""
    if left_at is None:
        return "left this list (unsubscribed)"
    when = left_at.date().isoformat() if hasattr(left_at, "date") else str(left_at)[:10]
    return f"left this list (unsubscribed on {when})"


class Lookups:
    """The per-batch look-ups of one import into list *list_pk*, on its transaction."""

    def __init__(self, conn: Connection, list_pk: int) -> None:
        self.conn = conn
        dialect = conn.dialect
        s, m = db.subscribers, db.memberships
        raw = dialect.name == "sqlite"
        # SQLite serialises the import against other writers (a write after a read of an
        # older snapshot fails), so what these say at the start holds to the end of it
        #: the subscribers table was empty at the start: it holds only what this import wrote
        self.fresh = raw and conn.execute(select(s.c.id).limit(1)).first() is None
        #: an address may have been erased (PostgreSQL: always looked up)
        self.check_forgotten = not raw or (
            conn.execute(select(db.forgotten.c.email_hash).limit(1)).first() is not None
        )
        #: the parameters of :func:`among_keys` for a list of keys
        self.keys_param: Callable[[list[str]], dict[str, Any]] = (
            (lambda keys: {"keys_json": json.dumps(keys)}) if raw else (lambda k: {"keys": k})
        )
        self.existing_stmt = (
            select(
                s.c.id,
                s.c.email_key,
                s.c.name,
                s.c.language,
                s.c.attributes,
                s.c.status,
                s.c.status_changed_at,
                s.c.status_reason,
                m.c.subscriber_id.label("member"),
                m.c.status.label("member_status"),
                m.c.left_at,
            )
            .select_from(s.outerjoin(m, (m.c.subscriber_id == s.c.id) & (m.c.list_id == list_pk)))
            .where(among_keys(dialect, s.c.email_key))
        )
        self.ids_stmt = select(s.c.email_key, s.c.id).where(among_keys(dialect, s.c.email_key))

    def existing(self, keys: list[str]) -> dict[str, Any]:
        """The known subscribers among *keys* (key → row of :attr:`existing_stmt`: the
        subscriber, and ``member``, ``member_status``, ``left_at`` of their membership)."""
        if not keys:
            return {}
        rows = self.conn.execute(self.existing_stmt, self.keys_param(keys))
        return {r.email_key: r for r in rows}

    def erased(self, keys: list[str]) -> set[str]:
        """Which of *keys* were erased with ``mailer subscribers forget``: never again."""
        return forgotten_keys(self.conn, keys) if self.check_forgotten else set()

    def ids(self, keys: list[str]) -> dict[str, int]:
        """The subscriber id of each of *keys* in the database (key → id)."""
        return dict(self.conn.execute(self.ids_stmt, self.keys_param(keys)).all())
