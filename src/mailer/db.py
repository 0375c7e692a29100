"""Storage: one schema for SQLite and PostgreSQL (SQLAlchemy Core).

Tables (see DESIGN.md → Data): subscribers, lists, memberships, consents, campaigns,
campaign_contents (what was sent, per language, for "view in browser"),
batches, deliveries, links, events, and schema_version.

Schema versioning is a numbered list of migrations (``MIGRATIONS``); ``connect``
applies the missing ones in one transaction and records the version, so a
database made by an older mailer is upgraded, never recreated. A database made
by a *newer* mailer is refused rather than damaged.

SQLite runs in WAL mode with a busy timeout, because ``mailer serve`` and a send
may write at the same time. ``begin_immediate(conn)`` takes SQLite's write lock
at BEGIN (PostgreSQL callers use row locks instead). Its commits survive a crash of the
process; the ones that must also survive a power cut go through :func:`durable`.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    inspect,
    select,
    text,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError

from .errors import DatabaseError


class SubscriberStatus(enum.StrEnum):
    SUBSCRIBED = "subscribed"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"
    COMPLAINED = "complained"
    #: never confirmed (double opt-in not done): kept, never sent to until confirmed
    PENDING = "pending"


class MembershipStatus(enum.StrEnum):
    """One subscriber on one list (the subscriber's own status still rules overall)."""

    SUBSCRIBED = "subscribed"
    #: signed up through the form, not confirmed yet: never sent to
    PENDING = "pending"
    #: left this list (one-click or the preference page): never sent to, never re-imported
    LEFT = "left"


class CampaignStatus(enum.StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    SENDING = "sending"
    PAUSED = "paused"
    SENT = "sent"
    CANCELLED = "cancelled"
    FAILED = "failed"


class CampaignKind(enum.StrEnum):
    #: a send to a list: the only kind `mailer campaigns`, schedules, stats and resumes see
    SEND = "send"
    #: `mailer send-test` with tracking on: holds the test's links (so /c/ redirects) and
    #: its contents (/v/); never has batches or deliveries
    TEST = "test"


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    FAILED = "failed"
    UNKNOWN = "unknown"


class EventType(enum.StrEnum):
    CLICK = "click"
    OPEN = "open"
    UNSUBSCRIBE = "unsubscribe"
    BOUNCE = "bounce"
    DROPPED = "dropped"
    SPAMREPORT = "spamreport"
    DELIVERED = "delivered"
    #: SendGrid took the message (resolves a delivery held ``unknown``)
    PROCESSED = "processed"
    #: a soft bounce read from the bounce mailbox (counted; several suppress)
    DEFERRED = "deferred"


def utcnow() -> datetime:
    """Timezone-aware UTC now (stored as naive UTC on both databases)."""
    return datetime.now(UTC).replace(tzinfo=None)


metadata = MetaData()

schema_version = Table("schema_version", metadata, Column("version", Integer, nullable=False))

subscribers = Table(
    "subscribers",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("email", String(320), nullable=False),
    # normalised key for uniqueness: domain lower-cased and, by default, the whole address
    Column("email_key", String(320), nullable=False, unique=True),
    Column("name", String(200), nullable=False, default=""),
    Column("language", String(35), nullable=True),
    Column("attributes", JSON, nullable=False, default=dict),
    Column("status", String(20), nullable=False, default=SubscriberStatus.SUBSCRIBED.value),
    Column("source", String(200), nullable=True),
    Column("created_at", DateTime, nullable=False, default=utcnow),
    Column("updated_at", DateTime, nullable=False, default=utcnow),
    Column("status_changed_at", DateTime, nullable=True),
    # why the status is what it is, as the reader or the old tool said (an unsubscribe reason)
    Column("status_reason", Text, nullable=True),
)

lists = Table(
    "lists",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("description", Text, nullable=False, default=""),
    Column("created_at", DateTime, nullable=False, default=utcnow),
)

memberships = Table(
    "memberships",
    metadata,
    Column("list_id", Integer, ForeignKey("lists.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "subscriber_id", Integer, ForeignKey("subscribers.id", ondelete="CASCADE"), primary_key=True
    ),
    Column("created_at", DateTime, nullable=False, default=utcnow),
    # per list: subscribed, pending (sign-up not confirmed yet) or left (the reader left
    # this list; an import never re-adds them); only `subscribed` memberships are sent to
    Column(
        "status",
        String(20),
        nullable=False,
        default=MembershipStatus.SUBSCRIBED.value,
        server_default=MembershipStatus.SUBSCRIBED.value,
    ),
    Column("left_at", DateTime, nullable=True),  # UTC, when status became `left`
    Index("ix_memberships_subscriber", "subscriber_id"),
)

#: the record of a reader's consent to one list: when and from where they opted in and
#: confirmed (double opt-in), through which source (an import: the tool; a sign-up form) and
#: the text they agreed to. One row per subscriber, list and source (an import adds none twice).
consents = Table(
    "consents",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "subscriber_id", Integer, ForeignKey("subscribers.id", ondelete="CASCADE"), nullable=False
    ),
    Column("list_id", Integer, ForeignKey("lists.id", ondelete="CASCADE"), nullable=False),
    Column("source", String(100), nullable=False),  # mailchimp, listmonk, form:NAME, ...
    Column("form", String(200), nullable=True),  # the file or form it came through
    Column("opted_in_at", DateTime, nullable=True),  # UTC
    Column("optin_ip", String(45), nullable=True),
    Column("confirmed_at", DateTime, nullable=True),  # UTC
    Column("confirm_ip", String(45), nullable=True),
    Column("text", Text, nullable=True),  # what the reader agreed to, when known
    Column("created_at", DateTime, nullable=False, default=utcnow),
    UniqueConstraint("subscriber_id", "list_id", "source", name="uq_consent_subscriber_list"),
)

campaigns = Table(
    "campaigns",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("issue_slug", String(200), nullable=False),
    Column("issue_path", Text, nullable=False),
    Column("list_id", Integer, ForeignKey("lists.id"), nullable=False),
    Column("status", String(20), nullable=False, default=CampaignStatus.DRAFT.value),
    Column("backend", String(20), nullable=False),
    Column("subject", Text, nullable=False, default=""),
    Column("scheduled_at", DateTime, nullable=True),  # UTC
    Column("schedule_tz", String(64), nullable=True),  # the zone the user gave
    Column("late", Boolean, nullable=False, default=False),
    Column("send_late", Boolean, nullable=False, default=False),
    Column("provider_batch_id", String(100), nullable=True),  # SendGrid batch id (send_at)
    Column("claimed_by", String(100), nullable=True),
    Column("claimed_at", DateTime, nullable=True),
    Column("recipients", Integer, nullable=False, default=0),
    Column("error", Text, nullable=True),
    Column("created_at", DateTime, nullable=False, default=utcnow),
    Column("started_at", DateTime, nullable=True),
    Column("finished_at", DateTime, nullable=True),
    #: why it paused when the sender paused it on its own: `signals` (complaints, bounces)
    Column("paused_by", String(20), nullable=True),
    #: complaint and bounce rates are counted from here (the operator's last resume)
    Column("signals_since", DateTime, nullable=True),
    Column(
        "kind",
        String(10),
        nullable=False,
        default=CampaignKind.SEND.value,
        server_default=CampaignKind.SEND.value,
    ),
    Index("ix_campaigns_issue_list", "issue_slug", "list_id"),
    Index("ix_campaigns_status_due", "status", "scheduled_at"),
)

campaign_contents = Table(
    "campaign_contents",
    metadata,
    Column(
        "campaign_id", Integer, ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True
    ),
    Column("language", String(35), primary_key=True),
    Column("subject", Text, nullable=False),
    Column("html", Text, nullable=False),  # as sent, with per-recipient tokens, no personal data
    Column("text", Text, nullable=False),
    # [{"token", "field", "fallback"}] of Rendered.merge_fields, so a resumed send needs no render
    Column("merge_fields", JSON, nullable=False, default=list),
)

batches = Table(
    "batches",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("campaign_id", Integer, ForeignKey("campaigns.id", ondelete="CASCADE"), nullable=False),
    Column("status", String(20), nullable=False, default=DeliveryStatus.PENDING.value),
    Column("size", Integer, nullable=False, default=0),
    Column("attempts", Integer, nullable=False, default=0),
    Column("provider_id", String(200), nullable=True),
    Column("error", Text, nullable=True),
    Column("created_at", DateTime, nullable=False, default=utcnow),
    Column("finished_at", DateTime, nullable=True),
    #: the runner (``process.runner_id``) that prepared or sends it, and when it last said so
    Column("owner", String(100), nullable=True),
    Column("heartbeat_at", DateTime, nullable=True),
    #: the language every delivery of the batch is sent in (they are queued one language at
    #: a time); NULL for batches made before schema version 7
    Column("language", String(35), nullable=True),
    Index("ix_batches_campaign_status", "campaign_id", "status"),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("campaign_id", Integer, ForeignKey("campaigns.id", ondelete="CASCADE"), nullable=False),
    Column("subscriber_id", Integer, ForeignKey("subscribers.id"), nullable=False),
    Column("batch_id", Integer, ForeignKey("batches.id"), nullable=True),
    Column("language", String(35), nullable=True),
    Column("status", String(20), nullable=False, default=DeliveryStatus.PENDING.value),
    Column("provider_message_id", String(200), nullable=True),
    Column("error", Text, nullable=True),
    Column("accepted_at", DateTime, nullable=True),
    Column("updated_at", DateTime, nullable=False, default=utcnow),
    UniqueConstraint("campaign_id", "subscriber_id", name="uq_delivery_campaign_subscriber"),
    Index("ix_deliveries_campaign_status", "campaign_id", "status"),
    Index("ix_deliveries_batch", "batch_id"),
)

links = Table(
    "links",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("campaign_id", Integer, ForeignKey("campaigns.id", ondelete="CASCADE"), nullable=False),
    Column("url", Text, nullable=False),  # the target, with UTM parameters
    Column("block", String(200), nullable=False, default=""),
    Column("kind", String(50), nullable=False, default="other"),  # read_more|share:x|follow:x|other
    Column("language", String(35), nullable=True),
    Index("ix_links_campaign", "campaign_id"),
)

events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("type", String(20), nullable=False),
    Column("campaign_id", Integer, ForeignKey("campaigns.id", ondelete="SET NULL"), nullable=True),
    Column("subscriber_id", Integer, ForeignKey("subscribers.id"), nullable=True),
    Column("link_id", Integer, ForeignKey("links.id"), nullable=True),
    Column("provider_event_id", String(200), nullable=True, unique=True),
    Column("user_agent", Text, nullable=True),
    Column("is_scanner", Boolean, nullable=False, default=False),
    Column("block", String(200), nullable=True),  # attribution when no link row (webhook clicks)
    Column("kind", String(50), nullable=True),
    Column("data", JSON, nullable=True),
    Column("created_at", DateTime, nullable=False, default=utcnow),
    Index("ix_events_campaign_type", "campaign_id", "type"),
)


#: erased addresses (``mailer subscribers forget``): nothing but a keyed hash of the normalised
#: address (``audience.privacy``), so an import or sign-up can refuse it without knowing it
forgotten = Table(
    "forgotten",
    metadata,
    Column("email_hash", String(64), primary_key=True),  # hex HMAC-SHA256 of email_key
    Column("forgotten_at", DateTime, nullable=False, default=utcnow),
)

#: random values made once per database (the salt of ``forgotten`` hashes when no
#: MAILER_SECRET_KEY is set); never printed
local_secrets = Table(
    "local_secrets",
    metadata,
    Column("name", String(50), primary_key=True),
    Column("value", String(200), nullable=False),
)

#: the pace shared by every runner (``[sending] rate`` and ``hourly_cap``): one row per scope
send_pace = Table(
    "send_pace",
    metadata,
    Column("name", String(50), primary_key=True),
    Column("tat", Float, nullable=False, default=0.0),  # epoch seconds: next free send time
    Column("hour_start", Float, nullable=False, default=0.0),  # epoch seconds
    Column("hour_count", Integer, nullable=False, default=0),
)


# -- migrations ------------------------------------------------------------
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


#: (version, what it does, function). Append only; never edit a released step.
#: A new database is created by ``_v1`` from the table definitions above, which always
#: describe the LATEST schema, and stamped with ``SCHEMA_VERSION``; a step N > 1 only
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


#: the execution option of :func:`durable` and :func:`trusting` engines: SQLite settings
#: for their transactions, ((pragma, value), ...). SQLite refuses to change these inside a
#: transaction, so they are set just before BEGIN, and set back to :data:`PRAGMAS` before
#: the connection's next other BEGIN (one PRAGMA only when a value changes)
PRAGMAS_OPTION = "sqlite_pragmas"
#: every SQLite connection's settings outside those transactions (``_on_connect``)
PRAGMAS = {"synchronous": "NORMAL", "foreign_keys": "ON"}


def _sqlite_setup(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves (see _on_begin)
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA busy_timeout=30000")
        for name, value in PRAGMAS.items():
            cur.execute(f"PRAGMA {name}={value}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        options = conn.get_execution_options()
        wanted = dict(options.get(PRAGMAS_OPTION, ()))
        # what this DBAPI connection is set to (the pool clears ``info`` on reconnect)
        now = conn.connection.info.setdefault(PRAGMAS_OPTION, dict(PRAGMAS))
        for name, default in PRAGMAS.items():
            value = wanted.get(name, default)
            if now[name] != value:
                conn.exec_driver_sql(f"PRAGMA {name}={value}")
                now[name] = value
        conn.exec_driver_sql(f"BEGIN {options.get('sqlite_begin', 'IMMEDIATE')}")


_engines: dict[str, Engine] = {}


def connect(url: str, *, upgrade: bool = True) -> Engine:
    """An engine for *url*, with the schema brought up to date. Cached per URL."""
    if url in _engines:
        return _engines[url]
    try:
        if url.startswith("sqlite"):
            engine = create_engine(url, connect_args={"timeout": 30})
            _sqlite_setup(engine)
        else:
            if url.startswith("postgresql://"):
                url_for = "postgresql+psycopg://" + url.removeprefix("postgresql://")
            else:
                url_for = url
            engine = create_engine(url_for, pool_pre_ping=True)
        if upgrade:
            migrate(engine)
    except ModuleNotFoundError as exc:
        raise DatabaseError(
            f"no driver for {url.split(':', 1)[0]}: {exc}",
            hint="install PostgreSQL support with: pip install 'mailer[postgres]'",
        ) from None
    except OperationalError as exc:
        raise DatabaseError(
            f"cannot open the database: {exc.orig}",
            hint="check MAILER_DATABASE_URL or database_url in mailer.toml.",
        ) from None
    except SQLAlchemyError as exc:
        raise DatabaseError(f"database error: {exc}") from None
    _engines[url] = engine
    return engine


def dispose_all() -> None:
    """Close every cached engine (tests, forks)."""
    for engine in _engines.values():
        engine.dispose()
    _engines.clear()
    _variants.clear()


@contextmanager
def transaction(engine: Engine) -> Iterator[Connection]:
    """A write transaction. On SQLite it takes the write lock at BEGIN (BEGIN IMMEDIATE),
    so two processes cannot both read-then-write the same rows."""
    with engine.begin() as conn:
        yield conn


_variants: dict[tuple[Engine, str, str], Engine] = {}


def _with_pragma(engine: Engine, name: str, value: str) -> Engine:
    """*engine* (SQLite) whose transactions run with ``PRAGMA name=value``: same pool, same
    URL (so the same write lock in :mod:`mailer.delivery.pool`); made once per engine."""
    if engine.dialect.name != "sqlite":
        return engine
    key = (engine, name, value)
    found = _variants.get(key)
    if found is None:
        pragmas = dict(engine.get_execution_options().get(PRAGMAS_OPTION, ()))
        if pragmas.get(name) == value:
            return engine
        pragmas[name] = value
        found = engine.execution_options(**{PRAGMAS_OPTION: tuple(sorted(pragmas.items()))})
        _variants[key] = found
    return found


def durable(engine: Engine) -> Engine:
    """*engine* whose write transactions are durable when they commit: on power loss or an
    OS crash, a commit made through it is never rolled back.

    SQLite runs in WAL mode with ``synchronous=NORMAL``: every commit survives a crash of
    the process, and the database stays consistent through a power cut, but the last
    commits may be rolled back by one (the WAL is synced only at checkpoints). Through this
    engine a transaction commits with ``synchronous=FULL``: the WAL file is synced before
    COMMIT returns. As the WAL is one log written in commit order, that sync also makes
    every earlier commit durable, whoever made it; and what a power cut takes away is
    always a tail of the commits made after the last synced one, never one from the middle.
    The send ledger commits durably only what must be on disk before something leaves
    (:mod:`mailer.delivery.batchrows`). PostgreSQL commits durably already
    (``synchronous_commit = on``): *engine* itself."""
    return _with_pragma(engine, "synchronous", "FULL")


def trusting(engine: Engine) -> Engine:
    """*engine* whose SQLite transactions do not check foreign keys, for a transaction that
    itself makes or reads every row its new rows refer to (the send's hot insert: a
    thousand deliveries, three parent lookups each). PostgreSQL: *engine* itself (it
    always checks). Nothing else may use it."""
    return _with_pragma(engine, "foreign_keys", "OFF")


@contextmanager
def read(engine: Engine) -> Iterator[Connection]:
    """A read-only transaction (SQLite: BEGIN DEFERRED, no write lock)."""
    with engine.connect().execution_options(sqlite_begin="DEFERRED") as conn, conn.begin():
        yield conn


@contextmanager
def snapshot(engine: Engine) -> Iterator[Connection]:
    """A read-only transaction whose statements all see one snapshot: :func:`read` on
    SQLite (a WAL read transaction is one), REPEATABLE READ on PostgreSQL (a read-only
    transaction there never fails to serialise)."""
    if engine.dialect.name != "postgresql":
        with read(engine) as conn:
            yield conn
        return
    options = {"isolation_level": "REPEATABLE READ"}
    with engine.connect().execution_options(**options) as conn, conn.begin():
        yield conn


def insert_once(conn: Connection, table: Table, key: str, **values: Any) -> bool:
    """Insert one row into *table* unless a row with the same unique *key* exists
    (INSERT .. ON CONFLICT DO NOTHING on SQLite and PostgreSQL, so two transactions racing
    to insert it never fail); True when this one inserted it."""
    from sqlalchemy.dialects import postgresql, sqlite

    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(table).values(**values).on_conflict_do_nothing(index_elements=[key])
    return bool(conn.execute(stmt).rowcount)


def get_or_create_list(conn: Connection, name: str) -> int:
    """The id of list *name*, creating it if needed."""
    found = conn.execute(select(lists.c.id).where(lists.c.name == name)).scalar()
    if found is not None:
        return int(found)
    return int(conn.execute(lists.insert().values(name=name)).inserted_primary_key[0])  # type: ignore[index]
