"""Writing imported rows: batches applied inside the import's one transaction.

:class:`Writer` inserts new subscribers in bulk (a bare DBAPI ``executemany`` on SQLite, COPY on
PostgreSQL with psycopg 3: no per-row ORM work), updates known ones and joins them to the list.
The rule it keeps: a status only moves up :data:`~.subscribers.RANK` (an import never
subscribes an address that a file or the database says left, bounced, complained or never
confirmed, whatever order the files come in); a known subscriber who is not subscribed and
whom the row does not move further is *skipped* with that status. A reader who left the list
(membership ``left``, :func:`~.optin.leave_list`) is never re-added to it: the row is skipped
with "left this list (unsubscribed on <date>)" and the membership stays ``left`` (a row that
moves their status further, e.g. bounced, still does); an erased address is skipped.

What it decides on comes from :mod:`mailer.audience.importlookups` (existing subscribers,
their membership of the list and its status, erased addresses: one bulk lookup per batch);
the consents of the rows it wrote are recorded by :mod:`mailer.audience.importconsents`.
Reading the file into rows is :mod:`mailer.audience.csvread`'s job.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, cast

import orjson
from sqlalchemy import (
    DateTime,
    Table,
    bindparam,
    literal,
    select,
)
from sqlalchemy.engine import Connection

from .. import db
from ..db import MembershipStatus, SubscriberStatus
from .csvread import Quick, Row
from .importconsents import ConsentRecorder
from .importlookups import Lookups, among_keys, left_reason
from .importreport import ImportReport, Skipped
from .privacy import FORGOTTEN_REASON
from .subscribers import stronger

#: the columns of a new subscriber, in the order :meth:`Writer.write` builds them
INSERT_COLUMNS = (
    "email",
    "email_key",
    "name",
    "language",
    "attributes",
    "status",
    "source",
    "created_at",
    "updated_at",
    "status_changed_at",
    "status_reason",
)


#: the columns of a new subscriber from a common row (status ``subscribed``, source and
#: times those of the import, no status change)
QUICK_COLUMNS = ("email", "email_key", "name", "language", "attributes")


def _sql_text(value: str) -> str:
    """*value* as an SQL string literal (quotes doubled)."""
    return "'" + value.replace("'", "''") + "'"


def dumps(value: Any) -> str:
    """JSON text of *value*: orjson (about 5x faster than json.dumps; UTF-8 kept as is),
    json.dumps for what orjson refuses (an integer beyond 64 bits from a JSON column)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value)


class Writer:
    """Applies batches of rows inside the import's transaction and fills the report.

    Which addresses an earlier batch of this import already had is kept in memory
    (:attr:`seen`: key → first line), so a later duplicate is named by the line it repeats.
    """

    def __init__(
        self,
        conn: Connection,
        list_pk: int,
        source: str,
        report: ImportReport,
        form: str = "",
        consent_source: str = "import",
    ) -> None:
        self.conn, self.list_pk, self.source, self.report = conn, list_pk, source, report
        self.form, self.consent_source = form, consent_source
        self.now = db.utcnow()
        self.seen: dict[str, int] = {}
        dialect = conn.dialect
        s, m = db.subscribers, db.memberships
        # SQLite: bulk inserts go straight to the driver (see executemany), so values are put
        # in the database's own form here: datetimes once, JSON per row (orjson unless the
        # engine was given its own serializer)
        self.raw = dialect.name == "sqlite"
        self.copy = dialect.name == "postgresql" and dialect.driver == "psycopg"
        self.now_db: Any = self.now
        self.to_json: Callable[[Any], Any] = dumps if self.copy else lambda v: v
        if self.raw:
            created = s.c.created_at.type.dialect_impl(dialect).bind_processor(dialect)
            self.now_db = created(self.now) if created else self.now
            own = getattr(dialect, "_json_serializer", None)
            to_json = s.c.attributes.type.dialect_impl(dialect).bind_processor(dialect)
            self.to_json = (own and to_json) or dumps
        #: the stored form of ``{}``: most files give most rows no attributes
        self.empty_json = self.to_json({})
        #: the per-batch look-ups (known subscribers and their membership, erased addresses)
        self.lookups = lookups = Lookups(conn, list_pk)
        self.fresh, self.keys_param = lookups.fresh, lookups.keys_param
        self.consents = ConsentRecorder(
            conn, lookups, list_pk, report, self.now, form, consent_source
        )
        self.join_new_stmt = m.insert().from_select(
            ["list_id", "subscriber_id", "created_at"],
            select(literal(list_pk), s.c.id, literal(self.now, DateTime)).where(
                among_keys(dialect, s.c.email_key),
                ~select(m.c.subscriber_id)
                .where(m.c.list_id == list_pk, m.c.subscriber_id == s.c.id)
                .exists(),
            ),
        )
        if self.raw:
            cols = ", ".join(INSERT_COLUMNS)
            marks = ", ".join("?" * len(INSERT_COLUMNS))
            self.insert_sql = f"INSERT INTO subscribers ({cols}) VALUES ({marks})"
            constants = ["'subscribed'", _sql_text(source), *[_sql_text(str(self.now_db))] * 2]
            self.quick_sql = (
                f"INSERT INTO subscribers ({', '.join(QUICK_COLUMNS)}, status, source, "
                f"created_at, updated_at) VALUES (?, ?, ?, ?, ?, {', '.join(constants)})"
            )
            # SQLite gives a new row an id above every id in the table, and the import holds
            # the write lock: the rows above the id before a batch are that batch's rows
            self.join_after_sql = (
                "INSERT INTO memberships (list_id, subscriber_id, created_at) "
                "SELECT ?, id, ? FROM subscribers WHERE id > ?"
            )
        # the status guard: a subscriber whose status changes while the import runs (PostgreSQL
        # re-checks the WHERE against the committed row) is not moved by it
        self.update_stmt = (
            s.update()
            .where(s.c.id == bindparam("_id"), s.c.status == bindparam("_old_status"))
            .values(
                name=bindparam("name"),
                language=bindparam("language"),
                attributes=bindparam("attributes"),
                status=bindparam("status"),
                status_changed_at=bindparam("status_changed_at"),
                status_reason=bindparam("status_reason"),
                updated_at=bindparam("now"),
            )
        )

    def insert_new(
        self, rows: list[tuple[Any, ...]], quick: list[tuple[Any, ...]] | None = None
    ) -> None:
        """Insert new subscribers (tuples in :data:`INSERT_COLUMNS` order, and *quick* ones in
        :data:`QUICK_COLUMNS` order: subscribed now by this import) and make them members of
        the list.

        SQLite: a bare DBAPI executemany of values already in database form (Core's
        executemany runs bind processors and builds parameters per row, which costs more than
        SQLite does; the quick rows' constant columns are written into the statement, not
        bound per row), then the memberships from the new ids in one ``INSERT ... SELECT``.
        PostgreSQL with psycopg 3: COPY FROM STDIN (its executemany sends one statement per
        row). Another driver: Core's multi-row INSERT ... VALUES.
        """
        conn, quick = self.conn, quick or []
        if self.raw:
            before = conn.exec_driver_sql("SELECT coalesce(max(id), 0) FROM subscribers").scalar()
            if rows:
                conn.exec_driver_sql(self.insert_sql, rows)
            if quick:
                conn.exec_driver_sql(self.quick_sql, quick)
            joined = conn.exec_driver_sql(
                self.join_after_sql, (self.list_pk, self.now_db, before)
            ).rowcount
            if joined == len(rows) + len(quick):
                return
            # ids were not given in order (the table once reached the largest id): by key
        else:
            rest = (self.source, self.now, self.now, None, None)
            every = [*rows, *((*q, "subscribed", *rest) for q in quick)]
            if self.copy:
                self.copy_rows(db.subscribers, INSERT_COLUMNS, every)
            else:
                dicts = [dict(zip(INSERT_COLUMNS, r, strict=True)) for r in every]
                conn.execute(db.subscribers.insert().returning(db.subscribers.c.id), dicts)
        keys = [r[1] for r in rows] + [q[1] for q in quick]
        conn.execute(self.join_new_stmt, self.keys_param(keys))

    def copy_rows(
        self, table: Table, columns: tuple[str, ...], rows: list[tuple[Any, ...]]
    ) -> None:
        """PostgreSQL (psycopg 3): COPY ... FROM STDIN on the transaction's own connection."""
        sql = f"COPY {table.name} ({', '.join(columns)}) FROM STDIN"
        dbapi = self.conn.connection.dbapi_connection
        assert dbapi is not None
        with dbapi.cursor() as cur, cur.copy(sql) as copy:  # type: ignore[attr-defined]
            for r in rows:
                copy.write_row(r)

    def skip(self, row: Row, reason: str) -> None:
        self.report.skipped[reason.split(" ")[0]] += 1
        if len(self.report.skipped_rows) < 10000:
            self.report.skipped_rows.append(Skipped(row.line, row.email, reason))

    def write(self, batch: dict[str, Row | Quick]) -> None:
        conn, m = self.conn, db.memberships
        seen = self.seen
        # an empty table at the start (SQLite: the import's snapshot) holds only what this
        # import wrote: the addresses an earlier batch had
        keys = [k for k in batch if k in seen] if self.fresh else list(batch)
        existing = self.lookups.existing(keys)
        # `mailer subscribers forget`: never again
        erased = self.lookups.erased(list(batch))
        inserts: list[tuple[Any, ...]] = []
        quick: list[tuple[Any, ...]] = []
        updates: list[dict[str, Any]] = []
        joins: list[dict[str, Any]] = []
        consents: dict[str, Row] = {}
        report = self.report
        source, now_db, empty_json, to_json = (
            self.source,
            self.now_db,
            self.empty_json,
            self.to_json,
        )
        subscribed = SubscriberStatus.SUBSCRIBED
        # a common row's attributes are str -> str, which orjson always encodes: no wrapper
        odumps = orjson.dumps if to_json is dumps else None
        for key, got in batch.items():
            dup_of = seen.get(key)
            old = existing.get(key)
            if type(got) is tuple:
                if dup_of is None and old is None and key not in erased:
                    # the hot path: a new address from a common row (see QUICK_COLUMNS)
                    seen[key] = got[0]
                    attributes = got[5]
                    if not attributes:
                        stored = empty_json
                    elif odumps is not None:
                        stored = odumps(attributes).decode()
                    else:
                        stored = to_json(attributes)
                    quick.append((got[1], key, got[3], got[4], stored))
                    continue
                row = Row.of(got)
            else:
                row = cast(Row, got)
            if dup_of is None:
                seen[key] = row.line
            if key in erased:
                self.skip(row, FORGOTTEN_REASON)
                continue
            status = row.status or subscribed
            if old is None:
                if row.tags:
                    attrs: Any = to_json({**row.attributes, "tags": row.tags})
                else:
                    attrs = to_json(row.attributes) if row.attributes else empty_json
                changed_at, value = None, "subscribed"
                if status is not subscribed:
                    changed_at, value = self.db_time(row.status_at or self.now), status.value
                inserts.append(
                    (
                        row.email,
                        key,
                        row.name,
                        row.language,
                        attrs,
                        value,
                        source,
                        now_db,
                        now_db,
                        changed_at,
                        row.reason,
                    )
                )
                if row.consent:
                    consents[key] = row
                continue
            moves = stronger(status, old.status)
            if old.member_status == MembershipStatus.LEFT and not moves:
                self.skip(row, left_reason(old.left_at))
                continue
            if old.status != SubscriberStatus.SUBSCRIBED and not moves:
                self.skip(row, f"duplicate of line {dup_of}" if dup_of else old.status)
                continue
            attrs = {**(old.attributes or {}), **row.attributes}
            if row.tags:
                attrs["tags"] = sorted({*(attrs.get("tags") or []), *row.tags})
            new_status = status.value if moves else old.status
            new = (row.name or old.name, row.language or old.language, attrs, new_status)
            changed = new != (old.name, old.language, old.attributes or {}, old.status)
            if changed:
                updates.append(
                    {
                        "_id": old.id,
                        "_old_status": old.status,
                        "name": new[0],
                        "language": new[1],
                        "attributes": attrs,
                        "status": new[3],
                        "now": self.now,
                        "status_changed_at": (row.status_at or self.now)
                        if moves
                        else old.status_changed_at,
                        "status_reason": row.reason if moves else old.status_reason,
                    }
                )
            if old.member is None:
                joins.append({"list_id": self.list_pk, "subscriber_id": old.id})
            if row.consent:
                consents[key] = row
            if dup_of:
                self.skip(row, f"duplicate of line {dup_of}")
            elif changed or old.member is None:
                report.updated += 1
            else:
                report.unchanged += 1
        if inserts or quick:
            self.insert_new(inserts, quick)
            report.added += len(inserts) + len(quick)
        if updates:
            conn.execute(self.update_stmt, updates)
        if joins:
            conn.execute(m.insert(), [{**j, "created_at": self.now} for j in joins])
        if consents:
            self.consents.record(consents)

    def db_time(self, value: Any) -> Any:
        """A datetime in the form the bulk insert sends (see :meth:`executemany`)."""
        if value is None or not self.raw:
            return value
        if value is self.now:
            return self.now_db
        created = db.subscribers.c.created_at.type.dialect_impl(self.conn.dialect)
        to_db = created.bind_processor(self.conn.dialect)
        return to_db(value) if to_db else value
