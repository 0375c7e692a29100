"""Cheap, never-blocking recording of click and open events for ``mailer serve``.

A request handler only puts a row on an in-process queue; one writer thread inserts
the queued rows in batches (one transaction per batch). Before inserting, it marks as
scanner clicks the ones that came within ``tracking.scanner_window_seconds`` of their
delivery's ``accepted_at`` (one query per batch). A batch refused for its content is
retried row by row so one bad row (say, a subscriber deleted since the send) loses only
itself. A database that cannot be written *now* (SQLite locked past the busy timeout, a
PostgreSQL server away: an ``OperationalError``) loses nothing: the rows stay in a
bounded retry buffer, written with back-off once the lock is released, each exactly
once (a failed transaction wrote nothing). The redirects go on regardless. ``stop()``
drains the queue and retries for ``stop_timeout`` seconds; on a SQLite file what is
still refused then goes to a spool file beside the database
(``<database>.events-spool.jsonl``), replayed when the next recorder starts.

On SQLite the writer waits at most ``busy_timeout`` seconds for the write lock per
attempt (``MAILER_EVENTS_BUSY_TIMEOUT_SECONDS`` for ``mailer serve``, 5 by default),
then retries later instead of holding a batch for the database's own 30 s.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select, tuple_
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError

from .. import db
from ..tracking.scanners import too_soon

log = logging.getLogger(__name__)

_STOP = object()


def _iso(value: Any) -> str:
    """JSON for the one non-JSON value of an event row, its time."""
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} in an event row")


class Recorder:
    """Queue of event rows (dicts of ``db.events`` columns) written by one thread."""

    def __init__(
        self,
        engine: Engine,
        *,
        scanner_window: float = 5.0,
        flush_interval: float = 0.05,
        max_batch: int = 500,
        max_queued: int = 100_000,
        busy_timeout: float | None = 5.0,
        retry_delay: float = 0.1,
        max_retry_delay: float = 2.0,
        stop_timeout: float = 30.0,
    ) -> None:
        self.engine = engine
        self.scanner_window = scanner_window
        self.flush_interval = flush_interval
        self.max_batch = max_batch
        self.busy_timeout = busy_timeout
        self.retry_delay = retry_delay
        self.max_retry_delay = max_retry_delay
        self.stop_timeout = stop_timeout
        self.max_pending = max_queued
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max_queued)
        #: rows a busy or unreachable database could not take yet (oldest first)
        self._pending: deque[dict[str, Any]] = deque()
        self._delay = retry_delay
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.written = 0
        self.failed = 0
        self.retries = 0

    @property
    def pending(self) -> int:
        """Rows waiting for the database to accept writes again."""
        return len(self._pending)

    def start(self) -> None:
        """Start the writer thread (idempotent)."""
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="mailer-events", daemon=True)
                self._thread.start()

    def add(self, row: dict[str, Any]) -> None:
        """Queue one event row; never blocks (a full queue drops the row, logged)."""
        if self._thread is None:
            self.start()
        try:
            self._queue.put_nowait(row)
        except queue.Full:
            self.failed += 1
            log.error("event queue full: dropped a %s event", row.get("type"))

    def stop(self, timeout: float | None = None) -> None:
        """Write everything queued (retrying a busy database for up to ``stop_timeout``
        seconds), then stop the thread."""
        with self._lock:
            thread = self._thread
            self._thread = None
        if thread is None or not thread.is_alive():
            return
        self._queue.put(_STOP)
        thread.join(timeout if timeout is not None else self.stop_timeout + 30.0)

    # -- the writer thread -------------------------------------------------
    def _collect(self) -> tuple[list[dict[str, Any]], bool]:
        """Rows from the queue (waiting for the first only while nothing is pending);
        (rows, stop requested)."""
        rows: list[dict[str, Any]] = []
        try:
            first = self._queue.get(timeout=self._delay if self._pending else None)
        except queue.Empty:
            return rows, False
        if first is _STOP:
            return rows, True
        rows.append(first)
        try:
            while len(rows) < self.max_batch:
                more = self._queue.get(timeout=self.flush_interval)
                if more is _STOP:
                    return rows, True
                rows.append(more)
        except queue.Empty:
            pass
        return rows, False

    @property
    def spool_path(self) -> Path | None:
        """Where events refused at shutdown wait (SQLite files only)."""
        url = self.engine.url
        if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
            return None
        return Path(f"{url.database}.events-spool.jsonl")

    def _replay(self) -> None:
        """Take back the rows a previous recorder spooled (they are written like new ones)."""
        path = self.spool_path
        if path is None or not path.exists():
            return
        rows = []
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
                if isinstance(row.get("created_at"), str):
                    row["created_at"] = datetime.fromisoformat(row["created_at"])
            except (ValueError, AttributeError):
                log.error("spool %s: a line that is not an event was dropped", path)
                continue
            rows.append(row)
        path.unlink()
        log.warning("replaying %d event(s) spooled while the database was busy", len(rows))
        self._keep(rows)

    def _spool(self) -> bool:
        """Append the pending rows to the spool file; False when there is none to use."""
        path = self.spool_path
        if path is None:
            return False
        try:
            with path.open("a", encoding="utf-8") as out:
                for row in self._pending:
                    out.write(json.dumps(row, default=_iso))
                    out.write("\n")
                out.flush()
                os.fsync(out.fileno())
        except (OSError, TypeError, ValueError) as exc:
            log.error("cannot spool events to %s: %s", path, exc)
            return False
        log.warning("the database stayed busy: %d event(s) spooled to %s", len(self._pending), path)
        return True

    def _run(self) -> None:
        self._replay()
        stop = False
        while not stop:
            rows, stop = self._collect()
            self._keep(rows)
            self._retry_pending()
        deadline = time.monotonic() + self.stop_timeout
        while self._pending and time.monotonic() < deadline:
            time.sleep(min(self._delay, max(0.0, deadline - time.monotonic())))
            self._retry_pending()
        if self._pending and self._spool():
            self._pending.clear()
        if self._pending:
            self.failed += len(self._pending)
            log.error(
                "the database stayed busy: %d event(s) not recorded at shutdown", len(self._pending)
            )
            self._pending.clear()

    def _keep(self, rows: Sequence[dict[str, Any]]) -> None:
        """Add *rows* to the retry buffer (bounded: beyond it, new rows are dropped, logged)."""
        room = self.max_pending - len(self._pending)
        self._pending.extend(rows[: max(room, 0)])
        if len(rows) > room:
            dropped = len(rows) - max(room, 0)
            self.failed += dropped
            log.error("event retry buffer full: dropped %d event(s)", dropped)

    def _retry_pending(self) -> None:
        """Write the buffered rows in batches; on a busy database keep them and back off."""
        while self._pending:
            size = min(self.max_batch, len(self._pending))
            batch = [self._pending.popleft() for _ in range(size)]
            kept = self._write(batch)
            if kept:
                self._pending.extendleft(reversed(kept))
                self.retries += 1
                self._delay = min(self._delay * 2, self.max_retry_delay)
                return
            self._delay = self.retry_delay

    def flush(self, rows: Sequence[dict[str, Any]]) -> None:
        """Insert *rows* now (scanner window applied); log what cannot be written. Rows a
        busy database refused stay buffered for the writer thread's next attempt."""
        kept = self._write(rows)
        if kept:
            log.warning("database busy: %d event(s) kept for a retry", len(kept))
            self._keep(kept)

    def _write(self, rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """Insert *rows*; return those to retry later (the database was busy or away)."""
        try:
            self._mark_too_soon(rows)
            with self._connection() as conn, conn.begin():
                conn.execute(db.events.insert(), list(rows))
            self.written += len(rows)
            return []
        except OperationalError as exc:
            log.warning("events not written yet (%d kept): %s", len(rows), exc.orig)
            return list(rows)
        except Exception as exc:  # recording must never stop the server
            if len(rows) == 1:
                self.failed += 1
                log.error("could not record a %s event: %s", rows[0].get("type"), exc)
                return []
        kept: list[dict[str, Any]] = []
        for row in rows:
            kept.extend(self._write([row]))
        return kept

    @contextmanager
    def _connection(self) -> Iterator[Connection]:
        """A connection whose SQLite busy timeout is ``busy_timeout`` while it is used."""
        with self.engine.connect() as conn:
            if self.busy_timeout is None or conn.dialect.name != "sqlite":
                yield conn
                return
            raw = conn.connection.driver_connection
            assert raw is not None
            before = int(raw.execute("PRAGMA busy_timeout").fetchone()[0])
            raw.execute(f"PRAGMA busy_timeout={int(self.busy_timeout * 1000)}")
            try:
                yield conn
            finally:
                raw.execute(f"PRAGMA busy_timeout={before}")

    def _mark_too_soon(self, rows: Sequence[dict[str, Any]]) -> None:
        if self.scanner_window <= 0:
            return
        pairs = {
            (r["campaign_id"], r["subscriber_id"])
            for r in rows
            if r.get("subscriber_id") and not r.get("is_scanner")
        }
        if not pairs:
            return
        d = db.deliveries
        accepted: dict[tuple[int, int], Any] = {}
        with db.read(self.engine) as conn:
            pair_list = sorted(pairs)
            for start in range(0, len(pair_list), 200):
                chunk = pair_list[start : start + 200]
                query = (
                    select(d.c.campaign_id, d.c.subscriber_id, db.held.accepted_at_of())
                    .select_from(db.held.with_batch())
                    .where(tuple_(d.c.campaign_id, d.c.subscriber_id).in_(chunk))
                )
                for cid, sid, at in conn.execute(query):
                    accepted[(cid, sid)] = at
        for row in rows:
            key = (row["campaign_id"], row.get("subscriber_id"))
            if key in accepted and too_soon(row["created_at"], accepted[key], self.scanner_window):
                row["is_scanner"] = True
