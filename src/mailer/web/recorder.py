"""Cheap, never-blocking recording of click and open events for ``mailer serve``.

A request handler only puts a row on an in-process queue; one writer thread inserts
the queued rows in batches (one transaction per batch). Before inserting, it marks as
scanner clicks the ones that came within ``tracking.scanner_window_seconds`` of their
delivery's ``accepted_at`` (one query per batch). A failed batch is retried row by row
so one bad row (say, a subscriber deleted since the send) loses only itself; a database
that cannot be written is logged, and the redirects go on regardless. ``stop()`` drains
the queue, so a clean shutdown loses nothing.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine, select, tuple_

from .. import db
from ..tracking.scanners import too_soon

log = logging.getLogger(__name__)

_STOP = object()


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
    ) -> None:
        self.engine = engine
        self.scanner_window = scanner_window
        self.flush_interval = flush_interval
        self.max_batch = max_batch
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max_queued)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.written = 0
        self.failed = 0

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

    def stop(self, timeout: float = 30.0) -> None:
        """Write everything queued, then stop the thread."""
        with self._lock:
            thread = self._thread
            self._thread = None
        if thread is None or not thread.is_alive():
            return
        self._queue.put(_STOP)
        thread.join(timeout)

    # -- the writer thread -------------------------------------------------
    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            rows = [item]
            stop = False
            try:
                while len(rows) < self.max_batch:
                    more = self._queue.get(timeout=self.flush_interval)
                    if more is _STOP:
                        stop = True
                        break
                    rows.append(more)
            except queue.Empty:
                pass
            self.flush(rows)
            if stop:
                return

    def flush(self, rows: Sequence[dict[str, Any]]) -> None:
        """Insert *rows* now (scanner window applied); log what cannot be written."""
        try:
            self._mark_too_soon(rows)
            with db.transaction(self.engine) as conn:
                conn.execute(db.events.insert(), list(rows))
            self.written += len(rows)
            return
        except Exception as exc:  # recording must never stop the server
            if len(rows) == 1:
                self.failed += 1
                log.error("could not record a %s event: %s", rows[0].get("type"), exc)
                return
        for row in rows:
            self.flush([row])

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
                query = select(d.c.campaign_id, d.c.subscriber_id, d.c.accepted_at).where(
                    tuple_(d.c.campaign_id, d.c.subscriber_id).in_(chunk)
                )
                for found in conn.execute(query):
                    accepted[(found.campaign_id, found.subscriber_id)] = found.accepted_at
        for row in rows:
            key = (row["campaign_id"], row.get("subscriber_id"))
            if key in accepted and too_soon(row["created_at"], accepted[key], self.scanner_window):
                row["is_scanner"] = True
