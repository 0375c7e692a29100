"""Engines and transactions: ``connect`` (cached per URL, schema brought up to date),
SQLite's settings (WAL, busy timeout, BEGIN IMMEDIATE), ``transaction``, ``read``,
``snapshot``, the ``durable`` and ``trusting`` variants, and two small row helpers.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, Table, create_engine, event, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from ..errors import DatabaseError
from .migrations import migrate
from .tables import lists

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
