"""Recording a provider's event about a subscriber once: the bounce mailbox reader
(:mod:`mailer.bounces.record`) and the SendGrid webhook (:mod:`mailer.web.webhook`) both
insert ``events`` rows keyed by ``provider_event_id``, and a repeated delivery of the same
event (a re-read message, a webhook retry) must not count twice."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection

from .. import db

__all__ = ["insert_event_once"]


def insert_event_once(conn: Connection, row: dict[str, Any]) -> bool:
    """Insert one ``events`` row unless its ``provider_event_id`` is already recorded
    (:func:`mailer.db.insert_once`); True when inserted."""
    return db.insert_once(conn, db.events, "provider_event_id", **row)
