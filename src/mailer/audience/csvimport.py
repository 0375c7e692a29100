"""Streaming CSV import of subscribers into a list.

Reads real-world CSV (see :mod:`mailer.csvread`): UTF-8 with or without BOM; comma,
semicolon or tab; quoted fields with commas and newlines; header names in any case and
common spellings; other columns kept as attributes (JSON).

The file is read line by line and written in batches (``executemany``), so memory
stays flat in the file size. The whole import is ONE transaction: killed or failing
half-way, the database is as it was (on SQLite the write lock is held for the import).
``dry_run`` runs the same code and rolls back, so its report is exact.

Per row: a new address is *added*; a known one is *updated* (new details, or joined the
list) or *unchanged*; an address that unsubscribed, bounced or complained is *skipped*
with that reason and never re-subscribed; a second row with the same address is merged
into the first and skipped as ``duplicate``; a row that cannot be imported is *rejected*
with its line number in the file (the physical line where the record starts) and why.
"""

from __future__ import annotations

import csv
import itertools
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import (
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    any_,
    bindparam,
    literal,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from .. import db
from ..db import SubscriberStatus
from ..errors import DatabaseError, SubscriberError
from .csvread import ACCEPTED_HEADERS, Lines, Row, RowParser, sniff_delimiter
from .subscribers import SUPPRESSED, check_list_name

BATCH_SIZE = 2000


@dataclass
class Rejected:
    """A row that was not imported: its line in the file and why."""

    line: int
    reason: str
    email: str = ""


@dataclass
class Skipped:
    """A valid row left as it was: an unsubscribed/bounced/complained address or a duplicate."""

    line: int
    email: str
    reason: str


@dataclass
class ImportReport:
    """What an import did (or, with ``dry_run``, would do)."""

    file: str
    list_name: str
    dry_run: bool = False
    rows: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    skipped_rows: list[Skipped] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)

    @property
    def imported(self) -> int:
        return self.added + self.updated + self.unchanged

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "list": self.list_name,
            "dry_run": self.dry_run,
            "rows": self.rows,
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "skipped": dict(sorted(self.skipped.items())),
            "skipped_rows": [vars(s) for s in self.skipped_rows],
            "rejected": [vars(r) for r in self.rejected],
        }


# -- writing ---------------------------------------------------------------
_seen_meta = MetaData()
_seen = Table(
    "mailer_import_seen",
    _seen_meta,
    Column("email_key", String(320), primary_key=True),
    Column("line", Integer, nullable=False),
    prefixes=["TEMPORARY"],
)


class _Writer:
    """Applies batches of rows inside the import's transaction and fills the report."""

    def __init__(self, conn: Connection, list_pk: int, source: str, report: ImportReport) -> None:
        self.conn, self.list_pk, self.source, self.report = conn, list_pk, source, report
        self.now = db.utcnow()
        dialect = conn.dialect
        s, m = db.subscribers, db.memberships
        # SQLite: bulk inserts go straight to the driver (see executemany), so values are put
        # in the database's own form here: datetimes once, JSON per row
        self.raw = dialect.name == "sqlite"
        self.copy = dialect.name == "postgresql" and dialect.driver == "psycopg"
        self.now_db: Any = self.now
        self.to_json: Callable[[Any], Any] = json.dumps if self.copy else lambda v: v
        if self.raw:
            created = s.c.created_at.type.dialect_impl(dialect).bind_processor(dialect)
            self.now_db = created(self.now) if created else self.now
            to_json = s.c.attributes.type.dialect_impl(dialect).bind_processor(dialect)
            self.to_json = to_json or json.dumps

        def among_keys(column: Any) -> Any:
            """``column IN (:keys...)``; on PostgreSQL ``column = ANY(:keys)`` (one array)."""
            if dialect.name == "postgresql":
                return column == any_(bindparam("keys", type_=ARRAY(String)))
            return column.in_(bindparam("keys", expanding=True))

        self.seen_stmt = select(_seen.c.email_key, _seen.c.line).where(
            among_keys(_seen.c.email_key)
        )
        self.existing_stmt = (
            select(
                s.c.id,
                s.c.email_key,
                s.c.name,
                s.c.language,
                s.c.attributes,
                s.c.status,
                m.c.subscriber_id.label("member"),
            )
            .select_from(s.outerjoin(m, (m.c.subscriber_id == s.c.id) & (m.c.list_id == list_pk)))
            .where(among_keys(s.c.email_key))
        )
        self.join_new_stmt = m.insert().from_select(
            ["list_id", "subscriber_id", "created_at"],
            select(literal(list_pk), s.c.id, literal(self.now, DateTime)).where(
                among_keys(s.c.email_key)
            ),
        )
        self.raw_inserts: dict[tuple[str, ...], tuple[str, Any]] = {}
        # the status guard: a subscriber who unsubscribes while the import runs (PostgreSQL
        # re-checks the WHERE against the committed row) is not re-subscribed by it
        self.update_stmt = (
            s.update()
            .where(s.c.id == bindparam("_id"), s.c.status == SubscriberStatus.SUBSCRIBED.value)
            .values(
                name=bindparam("name"),
                language=bindparam("language"),
                attributes=bindparam("attributes"),
                status=bindparam("status"),
                status_changed_at=bindparam("status_changed_at"),
                updated_at=bindparam("now"),
            )
        )

    def executemany(self, table: Table, rows: list[dict[str, Any]]) -> None:
        """Insert *rows* into *table* in bulk.

        SQLite: a bare DBAPI executemany of values already in database form (Core's
        executemany runs bind processors and builds parameters per row, which costs more
        than SQLite does). PostgreSQL with psycopg 3: COPY FROM STDIN (its executemany sends
        one statement per row). Another driver: Core's multi-row INSERT ... VALUES.
        """
        if self.copy:
            self._copy(table, rows)
            return
        if not self.raw:
            # RETURNING makes SQLAlchemy batch the rows into multi-row VALUES
            self.conn.execute(table.insert().returning(*table.primary_key.columns), rows)
            return
        columns = tuple(rows[0])
        cached = self.raw_inserts.get((table.name, *columns))
        if cached is None:
            compiled = table.insert().compile(dialect=self.conn.dialect, column_keys=list(columns))
            order = list(compiled.positiontup or [])
            getter = itemgetter(*order, *order[:1]) if compiled.positional else None
            cached = self.raw_inserts[(table.name, *columns)] = (compiled.string, getter)
        sql, getter = cached
        # (the getter repeats the first key so it returns a tuple even for one column)
        params = [getter(r)[:-1] for r in rows] if getter else rows
        self.conn.exec_driver_sql(sql, params)

    def _copy(self, table: Table, rows: list[dict[str, Any]]) -> None:
        """PostgreSQL (psycopg 3): COPY ... FROM STDIN on the transaction's own connection."""
        columns = list(rows[0])
        sql = f"COPY {table.name} ({', '.join(columns)}) FROM STDIN"
        dbapi = self.conn.connection.dbapi_connection
        assert dbapi is not None
        with dbapi.cursor() as cur, cur.copy(sql) as copy:  # type: ignore[attr-defined]
            for r in rows:
                copy.write_row([r[c] for c in columns])

    def skip(self, row: Row, reason: str) -> None:
        self.report.skipped[reason.split(" ")[0]] += 1
        if len(self.report.skipped_rows) < 10000:
            self.report.skipped_rows.append(Skipped(row.line, row.email, reason))

    def write(self, batch: dict[str, Row]) -> None:
        conn, s, m = self.conn, db.subscribers, db.memberships
        keys = list(batch)
        earlier: dict[str, int] = {
            k: line for k, line in conn.execute(self.seen_stmt, {"keys": keys})
        }
        fresh = [{"email_key": k, "line": batch[k].line} for k in keys if k not in earlier]
        if fresh:
            self.executemany(_seen, fresh)
        existing = {r.email_key: r for r in conn.execute(self.existing_stmt, {"keys": keys})}
        inserts: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        joins: list[dict[str, Any]] = []
        for key, row in batch.items():
            dup_of = earlier.get(key)
            old = existing.get(key)
            if old is None:
                inserts.append(
                    {
                        "email": row.email,
                        "email_key": key,
                        "name": row.name,
                        "language": row.language,
                        "attributes": self.to_json(row.attributes),
                        "status": (row.status or SubscriberStatus.SUBSCRIBED).value,
                        "source": self.source,
                        "created_at": self.now_db,
                        "updated_at": self.now_db,
                        "status_changed_at": self.now_db if row.status in SUPPRESSED else None,
                    }
                )
                self.report.added += 1
                continue
            if old.status != SubscriberStatus.SUBSCRIBED:
                self.skip(row, f"duplicate of line {dup_of}" if dup_of else old.status)
                continue
            status = row.status or SubscriberStatus.SUBSCRIBED
            attrs = {**(old.attributes or {}), **row.attributes}
            new = (row.name or old.name, row.language or old.language, attrs, status.value)
            changed = new != (old.name, old.language, old.attributes or {}, old.status)
            if changed:
                updates.append(
                    {
                        "_id": old.id,
                        "name": new[0],
                        "language": new[1],
                        "attributes": attrs,
                        "status": new[3],
                        "now": self.now,
                        "status_changed_at": self.now if status != old.status else None,
                    }
                )
            if old.member is None:
                joins.append({"list_id": self.list_pk, "subscriber_id": old.id})
            if dup_of:
                self.skip(row, f"duplicate of line {dup_of}")
            elif changed or old.member is None:
                self.report.updated += 1
            else:
                self.report.unchanged += 1
        if inserts:
            self.executemany(s, inserts)
            conn.execute(self.join_new_stmt, {"keys": [r["email_key"] for r in inserts]})
        if updates:
            conn.execute(self.update_stmt, updates)
        if joins:
            conn.execute(m.insert(), [{**j, "created_at": self.now} for j in joins])


def import_csv(
    engine: Engine,
    path: str | Path,
    list_name: str,
    *,
    dry_run: bool = False,
    batch_size: int = BATCH_SIZE,
    case_sensitive_local: bool = False,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Import the CSV file *path* into list *list_name* (created if needed), in one transaction.

    *progress* is called with the number of bytes read so far, once per batch.
    SubscriberError when the file cannot be read, has no email column, is not UTF-8, or
    is malformed beyond a row (nothing is written then).
    """
    p = Path(path)
    name = check_list_name(list_name)
    report = ImportReport(file=str(p), list_name=name, dry_run=dry_run)
    try:
        fh = p.open("rb")
    except OSError as exc:
        raise SubscriberError(f"cannot read {p}: {exc.strerror}", location=str(p)) from None
    with fh, engine.connect() as conn:
        trans = conn.begin()
        try:
            _run(conn, fh, p, name, report, batch_size, case_sensitive_local, progress)
            if not report.rows:
                raise ImportFailed("no rows to import after the header line", report, p)
            if not report.imported and not report.skipped:
                first = report.rejected[0]
                raise ImportFailed(
                    f"nothing imported: all {report.rows} rows were rejected "
                    f"(first: line {first.line}: {first.reason})",
                    report,
                    p,
                )
        except (SQLAlchemyError, conn.dialect.loaded_dbapi.Error) as exc:  # COPY: raw driver
            trans.rollback()
            raise DatabaseError(
                f"the import failed and was rolled back (nothing was written): {exc}",
                location=str(p),
            ) from None
        except BaseException:
            trans.rollback()
            raise
        if dry_run:
            trans.rollback()
        else:
            trans.commit()
    return report


class ImportFailed(SubscriberError):
    """Nothing in the file could be imported; ``report`` says why, row by row."""

    def __init__(self, message: str, report: ImportReport, path: Path) -> None:
        super().__init__(message, location=str(path), hint=f"accepted headers: {ACCEPTED_HEADERS}.")
        self.report = report


def _run(
    conn: Connection,
    fh: BinaryIO,
    path: Path,
    list_name: str,
    report: ImportReport,
    batch_size: int,
    case_sensitive_local: bool,
    progress: Callable[[int], None] | None,
) -> None:
    lines = Lines(fh, path)
    it = iter(lines)
    first = next(it, None)
    while first is not None and not first.strip():
        first = next(it, None)
    if first is None:
        raise SubscriberError(
            "the file is empty",
            location=str(path),
            hint=f"the first line must name the columns: {ACCEPTED_HEADERS}.",
        )
    reader = csv.reader(itertools.chain([first], it), delimiter=sniff_delimiter(first))
    start = lines.line
    try:
        header = next(reader)
        parser = RowParser(header, path, case_sensitive_local)
        _seen.drop(conn, checkfirst=True)
        _seen.create(conn)
        writer = _Writer(
            conn, db.get_or_create_list(conn, list_name), f"import:{path.name}", report
        )
        batch: dict[str, Row] = {}
        start = lines.line + 1
        for cells in reader:
            line, start = start, lines.line + 1
            if not cells or (len(cells) == 1 and not cells[0].strip()):
                continue
            report.rows += 1
            try:
                row = parser.parse(cells, line)
            except SubscriberError as exc:
                email = (
                    cells[parser.roles["email"]].strip()
                    if len(cells) > parser.roles["email"]
                    else ""
                )
                report.rejected.append(Rejected(line, exc.message, email))
                continue
            prev = batch.get(row.key)
            if prev is not None:
                prev.merge(row)
                writer.skip(row, f"duplicate of line {prev.line}")
                continue
            batch[row.key] = row
            if len(batch) >= batch_size:
                writer.write(batch)
                batch = {}
                if progress:
                    progress(lines.bytes)
        if batch:
            writer.write(batch)
        report.skipped_rows.sort(key=lambda r: r.line)
        _seen.drop(conn)
    except csv.Error as exc:
        raise SubscriberError(
            f"malformed CSV: {exc}",
            location=f"{path}:{start}",
            hint="a quote is probably not closed; fix the line, then import again.",
        ) from None
    if progress:
        progress(lines.bytes)
