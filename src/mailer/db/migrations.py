"""Schema versioning: the numbered steps (``MIGRATIONS``), ``SCHEMA_VERSION`` and
``migrate``, which applies the missing steps in one transaction. (A test that adds a
step patches them here: ``monkeypatch.setattr(mailer.db.migrations, "MIGRATIONS", ...)``.)
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Engine, inspect, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from ..errors import DatabaseError
from .tables import consents, forgotten, local_secrets, metadata, schema_version, send_pace


def _v1(conn: Connection) -> None:
    metadata.create_all(conn, tables=[t for t in metadata.sorted_tables if t is not schema_version])


def _v2(conn: Connection) -> None:
    """Imports from other tools: subscribers.status_reason and the consents table."""
    conn.execute(text("ALTER TABLE subscribers ADD COLUMN status_reason TEXT"))
    consents.create(conn, checkfirst=True)


def _v3(conn: Connection) -> None:
    """campaigns.kind: `send` (every campaign so far) or `test` (`mailer send-test`)."""
    conn.execute(text("ALTER TABLE campaigns ADD COLUMN kind VARCHAR(10) NOT NULL DEFAULT 'send'"))


def _v4(conn: Connection) -> None:
    """Erasure: the forgotten table (keyed hashes) and local_secrets (its per-database salt)."""
    forgotten.create(conn, checkfirst=True)
    local_secrets.create(conn, checkfirst=True)


def _v5(conn: Connection) -> None:
    """Per-list membership: memberships.status (subscribed | pending | left) and left_at."""
    conn.execute(
        text("ALTER TABLE memberships ADD COLUMN status VARCHAR(20) NOT NULL DEFAULT 'subscribed'")
    )
    conn.execute(text("ALTER TABLE memberships ADD COLUMN left_at TIMESTAMP"))


def _v6(conn: Connection) -> None:
    """Several runners on one campaign: batches.owner, heartbeat_at; auto-pause:
    campaigns.paused_by, signals_since; the shared pace (send_pace)."""
    conn.execute(text("ALTER TABLE batches ADD COLUMN owner VARCHAR(100)"))
    conn.execute(text("ALTER TABLE batches ADD COLUMN heartbeat_at TIMESTAMP"))
    conn.execute(text("ALTER TABLE campaigns ADD COLUMN paused_by VARCHAR(20)"))
    conn.execute(text("ALTER TABLE campaigns ADD COLUMN signals_since TIMESTAMP"))
    send_pace.create(conn, checkfirst=True)


def _v7(conn: Connection) -> None:
    """batches.language (a campaign's counts by language read from its batches, not from
    every delivery). Earlier batches keep NULL: their campaigns are counted as before."""
    conn.execute(text("ALTER TABLE batches ADD COLUMN language VARCHAR(35)"))


def _v8(conn: Connection) -> None:
    """batches.accepted_count: a batch accepted whole by one answer holds its deliveries'
    acceptance (:mod:`mailer.db.held`). Earlier batches keep NULL: their deliveries say
    their own status, as before."""
    conn.execute(text("ALTER TABLE batches ADD COLUMN accepted_count INTEGER"))


#: (version, what it does, function). Append only; never edit a released step.
#: A new database is created by ``_v1`` from the table definitions (:mod:`.tables`), which
#: always describe the LATEST schema, and stamped with ``SCHEMA_VERSION``; a step N > 1 only
#: upgrades a database made at N-1 (ALTER TABLE ..., data moves) to match those definitions.
#: All missing steps run in one transaction: a failing step leaves the database as it was.
MIGRATIONS: list[tuple[int, str, Callable[[Connection], None]]] = [
    (1, "initial schema", _v1),
    (2, "subscribers.status_reason, consents (imports from other tools)", _v2),
    (3, "campaigns.kind (send | test: test sends with tracked links)", _v3),
    (4, "forgotten, local_secrets (erasure: keyed hashes of erased addresses)", _v4),
    (5, "memberships.status, left_at (sign-up confirmation, leaving one list)", _v5),
    (6, "batches.owner, heartbeat_at; campaigns.paused_by, signals_since; send_pace", _v6),
    (7, "batches.language (counts by language without reading every delivery)", _v7),
    (8, "batches.accepted_count (acceptance recorded per batch, not per delivery)", _v8),
]
SCHEMA_VERSION = MIGRATIONS[-1][0]


def current_version(conn: Connection) -> int:
    if not inspect(conn).has_table("schema_version"):
        return 0
    value = conn.execute(select(schema_version.c.version)).scalar()
    return int(value or 0)


def schema_is_current(engine: Engine) -> bool:
    """Whether the database is already at ``SCHEMA_VERSION``: one read, no lock and no
    catalogue inspection (what nearly every process start finds). A database that cannot
    be reached raises as :func:`connect` would; one without the version table is not current."""
    with engine.connect().execution_options(sqlite_begin="DEFERRED") as conn:
        try:
            with conn.begin():
                value = conn.exec_driver_sql("SELECT version FROM schema_version").scalar()
        except DBAPIError:  # no schema_version table yet: a new database
            return False
    return value == SCHEMA_VERSION


def migrate(engine: Engine) -> int:
    """Bring the schema up to ``SCHEMA_VERSION``; return the version found before.

    A database already current is only read (:func:`schema_is_current`): runners started
    together do not queue on the migration lock one after the other."""
    if schema_is_current(engine):
        return SCHEMA_VERSION
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # one migrator at a time across processes
            conn.execute(text("SELECT pg_advisory_xact_lock(727274)"))
        elif conn.dialect.name == "sqlite":
            conn.exec_driver_sql("SELECT 1")  # BEGIN IMMEDIATE already holds the write lock
        schema_version.create(conn, checkfirst=True)
        found = current_version(conn)
        if found > SCHEMA_VERSION:
            raise DatabaseError(
                f"the database is at schema version {found}, newer than this mailer "
                f"({SCHEMA_VERSION})",
                hint="upgrade mailer; an older version will not touch a newer database.",
            )
        if found == 0:
            _v1(conn)  # a new database: the table definitions are the latest shape
        for version, _what, step in MIGRATIONS:
            if found and version > found:
                step(conn)
        if found == 0:
            conn.execute(schema_version.insert().values(version=SCHEMA_VERSION))
        elif found < SCHEMA_VERSION:
            conn.execute(schema_version.update().values(version=SCHEMA_VERSION))
        return found
