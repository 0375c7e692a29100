"""Statements run through the bare driver: :class:`Bare`, one compiled statement kept with
its fixed parameters (no Core compile, cache lookup or bind processing per run: the hot
statements of a send), and :func:`driver_time`, a time as the driver takes it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection

from .. import db


class Bare:
    """One compiled statement run with ``exec_driver_sql``, its fixed parameters kept: no
    Core compile, cache lookup or bind processing per run (the hot statements of a send).
    Values are given as the driver takes them (times: :func:`driver_time`)."""

    def __init__(self, compiled: Any) -> None:
        self.sql: str = compiled.string
        self.params: dict[str, Any] = dict(compiled.params)
        self.order: list[str] | None = list(compiled.positiontup) if compiled.positional else None

    def run(self, conn: Connection, **values: Any) -> Any:
        params = {**self.params, **values}
        args: Any = params if self.order is None else tuple(params[k] for k in self.order)
        return conn.exec_driver_sql(self.sql, args)

    def all(self, conn: Connection, **values: Any) -> list[Any]:
        """The rows. On SQLite they are read with the driver's own cursor (plain tuples: no
        result object or row wrappers for a page of a thousand); should the driver fail,
        the statement runs again through SQLAlchemy, which raises its own error (a failed
        read leaves an SQLite transaction as it was; a PostgreSQL one would be aborted)."""
        params = {**self.params, **values}
        args: Any = params if self.order is None else tuple(params[k] for k in self.order)
        if conn.dialect.name == "sqlite":
            cursor = conn.connection.cursor()
            try:
                cursor.execute(self.sql, args)
                return list(cursor.fetchall())
            except Exception:  # run again below, to raise as SQLAlchemy words it
                pass
            finally:
                cursor.close()
        return list(conn.exec_driver_sql(self.sql, args).fetchall())


def driver_time(dialect: Any, value: Any) -> Any:
    """*value* (a datetime) as SQLAlchemy would hand it to the driver of *dialect* (SQLite:
    the text SQLAlchemy stores and compares; PostgreSQL: the datetime itself)."""
    to_db = db.deliveries.c.updated_at.type.dialect_impl(dialect).bind_processor(dialect)
    return value if to_db is None else to_db(value)
