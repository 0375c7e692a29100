"""Storage: one schema for SQLite and PostgreSQL (SQLAlchemy Core).

Tables (see DESIGN.md → Data): subscribers, lists, memberships, consents, campaigns,
campaign_contents (what was sent, per language, for "view in browser"),
batches, deliveries, links, events, and schema_version.

Schema versioning is a numbered list of migrations (``MIGRATIONS``); ``connect``
applies the missing ones in one transaction and records the version, so a
database made by an older mailer is upgraded, never recreated. A database made
by a *newer* mailer is refused rather than damaged.

SQLite runs in WAL mode with a busy timeout, because ``mailer serve`` and a send
may write at the same time. ``transaction(engine)`` takes SQLite's write lock
at BEGIN (PostgreSQL callers use row locks instead). Its commits survive a crash of the
process; the ones that must also survive a power cut go through :func:`durable`.

Where things live (every name below is used as ``mailer.db.<name>``; tests that patch one
patch it in its module):

- :mod:`.tables`: the status enums, ``utcnow``, ``metadata`` and every table;
- :mod:`.migrations`: the steps, ``MIGRATIONS``, ``SCHEMA_VERSION``, ``current_version``,
  ``schema_is_current`` and ``migrate``;
- :mod:`.engine`: ``connect`` and its engine cache, SQLite's settings, ``transaction``,
  ``read``, ``snapshot``, ``durable``, ``trusting``, ``insert_once``, ``get_or_create_list``;
- :mod:`.held`: what a delivery's status reads as when its batch holds its acceptance, and
  the counts by status every reader uses.
"""

from __future__ import annotations

from sqlalchemy import Engine, Table, create_engine, inspect

from . import held
from .engine import (
    PRAGMAS,
    PRAGMAS_OPTION,
    connect,
    dispose_all,
    durable,
    get_or_create_list,
    insert_once,
    read,
    snapshot,
    transaction,
    trusting,
)
from .migrations import (
    MIGRATIONS,
    SCHEMA_VERSION,
    current_version,
    migrate,
    schema_is_current,
)
from .tables import (
    CampaignKind,
    CampaignStatus,
    DeliveryStatus,
    EventType,
    MembershipStatus,
    SubscriberStatus,
    batches,
    campaign_contents,
    campaigns,
    consents,
    deliveries,
    events,
    forgotten,
    links,
    lists,
    local_secrets,
    memberships,
    metadata,
    schema_version,
    send_pace,
    subscribers,
    utcnow,
)

#: SQLAlchemy's Engine, Table, create_engine and inspect too: callers and tests reach them here
__all__ = [
    "MIGRATIONS",
    "PRAGMAS",
    "PRAGMAS_OPTION",
    "SCHEMA_VERSION",
    "CampaignKind",
    "CampaignStatus",
    "DeliveryStatus",
    "Engine",
    "EventType",
    "MembershipStatus",
    "SubscriberStatus",
    "Table",
    "batches",
    "campaign_contents",
    "campaigns",
    "connect",
    "consents",
    "create_engine",
    "current_version",
    "deliveries",
    "dispose_all",
    "durable",
    "events",
    "forgotten",
    "get_or_create_list",
    "held",
    "insert_once",
    "inspect",
    "links",
    "lists",
    "local_secrets",
    "memberships",
    "metadata",
    "migrate",
    "read",
    "schema_is_current",
    "schema_version",
    "send_pace",
    "snapshot",
    "subscribers",
    "transaction",
    "trusting",
    "utcnow",
]
