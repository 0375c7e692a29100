"""Recording a provider's event about a subscriber once: the bounce mailbox reader
(:mod:`mailer.bounces.record`) and the SendGrid webhook (:mod:`mailer.web.webhook`) both
insert ``events`` rows keyed by ``provider_event_id``, and a repeated delivery of the same
event (a re-read message, a webhook retry) must not count twice."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from .. import db

__all__ = ["insert_event_once"]


def insert_event_once(conn: Connection, row: dict[str, Any]) -> bool:
    """Insert one ``events`` row unless its ``provider_event_id`` is already recorded
    (INSERT .. ON CONFLICT DO NOTHING on SQLite and PostgreSQL); True when inserted."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = (
        dialect.insert(db.events)
        .values(**row)
        .on_conflict_do_nothing(index_elements=["provider_event_id"])
    )
    return bool(conn.execute(stmt).rowcount)
