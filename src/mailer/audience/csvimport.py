"""Streaming import of subscribers into a list: one CSV file, or a ZIP of them (Mailchimp).

Reads real-world CSV (see :mod:`mailer.audience.csvlines` and :mod:`mailer.audience.csvread`):
semicolon or tab; quoted fields with commas and newlines; header names in any case and
common spellings; other columns kept as attributes (JSON). The exports of Mailchimp, listmonk,
Substack, Buttondown and Ghost are recognised by their headers
(:mod:`mailer.audience.sources`): their statuses, unsubscribe times and reasons, consent and
tags are kept.

The file is read line by line and written in batches (``executemany``); what grows with
the file is only the set of addresses already read (in memory, about 150 bytes an address,
so that a later duplicate is named by its first line). The whole import is ONE
transaction (a ZIP's files too): killed
or failing half-way, the database is as it was (on SQLite the write lock is held for the
import). ``dry_run`` runs the same code and rolls back, so its report is exact.

Per row: a new address is *added*; a known one is *updated* (new details, or joined the
list) or *unchanged*; an address that unsubscribed, bounced, complained or never confirmed is
*skipped* with that reason and never subscribed (see :mod:`mailer.audience.importwriter`); a
second row with the same address is merged into the first and skipped as ``duplicate``; a row
that cannot be imported is *rejected* with its line number in the file and why.
"""

from __future__ import annotations

import csv
import itertools
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path, PurePath
from typing import IO

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from .. import db
from ..errors import DatabaseError, SubscriberError
from .csvlines import Lines
from .csvread import (
    ACCEPTED_HEADERS,
    NotImported,
    Quick,
    Row,
    RowParser,
    sniff_delimiter,
)
from .importreport import ImportReport, Rejected, Skipped
from .importwriter import Writer
from .sources import detect
from .subscribers import check_list_name

BATCH_SIZE = 2000

__all__ = ["BATCH_SIZE", "ImportFailed", "ImportReport", "import_csv", "import_file"]


def import_csv(
    engine: Engine,
    path: str | Path,
    list_name: str,
    *,
    dry_run: bool = False,
    batch_size: int = BATCH_SIZE,
    case_sensitive_local: bool = False,
    progress: Callable[[int], None] | None = None,
    source: str | None = None,
) -> ImportReport:
    """Import the CSV file *path* into list *list_name* (created if needed), in one transaction.

    *source* forces the tool that wrote the file (``mailchimp``, ``listmonk``, ...); by default
    it is recognised by the header. *progress* is called with the number of bytes read so far,
    once per batch. SubscriberError when the file cannot be read, has no email column, is not
    UTF-8, has opt-out columns mailer does not understand, or is malformed beyond a row
    (nothing is written then).
    """
    reports = import_file(
        engine,
        path,
        list_name,
        dry_run=dry_run,
        batch_size=batch_size,
        case_sensitive_local=case_sensitive_local,
        progress=progress,
        source=source,
        allow_zip=False,
    )
    return reports[0]


def import_file(
    engine: Engine,
    path: str | Path,
    list_name: str,
    *,
    dry_run: bool = False,
    batch_size: int = BATCH_SIZE,
    case_sensitive_local: bool = False,
    progress: Callable[[int], None] | None = None,
    source: str | None = None,
    allow_zip: bool = True,
) -> list[ImportReport]:
    """Import a CSV file, or every CSV in a ZIP (a Mailchimp audience export), in one
    transaction; one report per CSV file read. See :func:`import_csv`."""
    p = Path(path)
    name = check_list_name(list_name)
    reports: list[ImportReport] = []
    with _open_files(p, allow_zip) as files, engine.connect() as conn:
        trans = conn.begin()
        try:
            for label, fh in files:
                report = ImportReport(file=label, list_name=name, dry_run=dry_run)
                reports.append(report)
                where = PurePath(label)
                _run(
                    conn,
                    fh,
                    where,
                    name,
                    report,
                    batch_size,
                    case_sensitive_local,
                    progress,
                    source,
                )
                if not report.rows and len(reports) == 1 and not zipfile.is_zipfile(p):
                    raise ImportFailed("no rows to import after the header line", report, p)
                if report.rows and not report.imported and not report.skipped:
                    first = report.rejected[0]
                    raise ImportFailed(
                        f"nothing imported: all {report.rows} rows were rejected "
                        f"(first: line {first.line}: {first.reason})",
                        report,
                        where,
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
    return reports


@contextmanager
def _open_files(path: Path, allow_zip: bool) -> Iterator[Iterator[tuple[str, IO[bytes]]]]:
    """The CSV files to read: *path* itself, or each CSV inside it when it is a ZIP."""
    try:
        fh = path.open("rb")
    except OSError as exc:
        raise SubscriberError(f"cannot read {path}: {exc.strerror}", location=str(path)) from None
    with fh:
        if not allow_zip or not zipfile.is_zipfile(fh):
            fh.seek(0)
            yield iter([(str(path), fh)])
            return
        fh.seek(0)
        with zipfile.ZipFile(fh) as zf:
            names = [
                n
                for n in zf.namelist()
                if n.lower().endswith(".csv") and not n.startswith("__MACOSX/")
            ]
            if "[Content_Types].xml" in zf.namelist():
                raise SubscriberError(
                    "this is a spreadsheet workbook (.xlsx, .xls or .ods), not a CSV file",
                    location=str(path),
                    hint="open it and Save As → 'CSV UTF-8 (comma delimited)', then import that.",
                )
            if not names:
                raise SubscriberError(
                    "this ZIP holds no CSV file",
                    location=str(path),
                    hint="import a CSV file, or the ZIP of CSV files a tool exported "
                    "(Mailchimp: Audience → Export audience).",
                )

            def members() -> Iterator[tuple[str, IO[bytes]]]:
                for n in sorted(names):
                    with zf.open(n) as member:
                        yield f"{path}:{n}", member

            yield members()


class ImportFailed(SubscriberError):
    """Nothing in the file could be imported; ``report`` says why, row by row."""

    def __init__(self, message: str, report: ImportReport, path: PurePath) -> None:
        super().__init__(message, location=str(path), hint=f"accepted headers: {ACCEPTED_HEADERS}.")
        self.report = report


def _run(
    conn: Connection,
    fh: IO[bytes],
    path: PurePath,
    list_name: str,
    report: ImportReport,
    batch_size: int,
    case_sensitive_local: bool,
    progress: Callable[[int], None] | None,
    source: str | None,
) -> None:
    lines = Lines(fh, Path(path))
    it = iter(lines)
    first = next(it, None)
    before = 0  # blank lines before the header
    while first is not None and not first.strip():
        first = next(it, None)
        before += 1
    if first is None:
        raise SubscriberError(
            "the file is empty",
            location=str(path),
            hint=f"the first line must name the columns: {ACCEPTED_HEADERS}.",
        )
    reader = csv.reader(itertools.chain([first], it), delimiter=sniff_delimiter(first))
    start = before + 1
    try:
        header = next(reader)
        profile = detect(header, path, source)
        report.tool, report.tool_label = profile.tool, profile.label
        parser = RowParser(header, Path(path), case_sensitive_local, profile)
        origin = profile.tool if profile.tool != "csv" else "import"
        writer = Writer(
            conn,
            db.get_or_create_list(conn, list_name),
            f"{origin}:{path.name}",
            report,
            form=path.name,
            consent_source=origin,
        )
        batch: dict[str, Row | Quick] = {}
        start = before + reader.line_num + 1
        quick, control_lines = parser.quick, lines.control_lines
        rows = quick_rows = 0
        for cells in reader:
            line = start
            start = before + reader.line_num + 1
            if not cells or (len(cells) == 1 and not cells[0].strip()):
                continue
            rows += 1
            # the hot path: a common row on one line with no control character
            fast = quick(cells, line) if start == line + 1 and line not in control_lines else None
            got: Row | Quick
            if fast is not None:
                quick_rows += 1
                if quick_rows == 1:  # the report lists statuses in the order first met
                    report.statuses.setdefault("subscribed", 0)
                got, key = fast, fast[2]
            else:
                try:
                    got = parser.parse(cells, line, lines.needs_control_check(line, start - 1))
                except NotImported as exc:
                    email = _email_cell(cells, parser)
                    report.skipped[exc.message.split(" ")[0]] += 1
                    report.skipped_rows.append(Skipped(line, email, exc.message))
                    continue
                except SubscriberError as exc:
                    email = _email_cell(cells, parser)
                    report.rejected.append(Rejected(line, exc.message, email))
                    continue
                report.statuses[(got.status or "subscribed")] += 1
                for note in got.notes:
                    report.notes[note] += 1
                key = got.key
            prev = batch.get(key)
            if prev is not None:
                merged = _merge(batch, key, prev, got)
                writer.skip(merged[1], f"duplicate of line {merged[0].line}")
                continue
            batch[key] = got
            if len(batch) >= batch_size:
                writer.write(batch)
                batch = {}
                if progress:
                    progress(lines.bytes)
        if batch:
            writer.write(batch)
        report.rows += rows
        if quick_rows:
            report.statuses["subscribed"] += quick_rows
        report.skipped_rows.sort(key=lambda r: r.line)
    except csv.Error as exc:
        raise SubscriberError(
            f"malformed CSV: {exc}",
            location=f"{path}:{start}",
            hint="a quote is probably not closed; fix the line, then import again.",
        ) from None
    if progress:
        progress(lines.bytes)


def _merge(
    batch: dict[str, Row | Quick], key: str, prev: Row | Quick, row: Row | Quick
) -> tuple[Row, Row]:
    """Merge *row* into the batch's first row of its address (made a :class:`Row` if it was a
    quick tuple); (first, duplicate)."""
    first = prev if isinstance(prev, Row) else Row.of(prev)
    dup = row if isinstance(row, Row) else Row.of(row)
    batch[key] = first
    first.merge(dup)
    return first, dup


def _email_cell(cells: list[str], parser: RowParser) -> str:
    i = parser.roles["email"]
    return cells[i].strip() if len(cells) > i else ""
