"""Queuing a page on SQLite: the members are read before the write lock is taken, and the
write transaction checks they are still subscribed members of the list before it queues
them. A reader who unsubscribes, leaves the list or is erased between the read and the
write is not queued (the page is read again under the lock); otherwise the page read
first is the one queued (read once)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, select

from mailer import db
from mailer.audience.privacy import forget
from mailer.delivery.batchrows import queue_page
from mailer.delivery.recipients import PageReader, language_cond
from test_send import SECRET, campaign, make_config, seed


@pytest.fixture
def engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Engine:
    monkeypatch.setenv("MAILER_SECRET_KEY", SECRET)
    return db.connect(f"sqlite:///{tmp_path / 'mailer.db'}")


def _queue(
    engine: Engine, tmp_path: Path, meanwhile: Callable[[Any], None] | None
) -> tuple[list[int], list[int], list[int]]:
    """Queue the first page of 10 of a list of 30, running *meanwhile* (given the first
    member read) right after the page is first read; (the ids queued, the ids in the
    deliveries table, how many members each page read returned)."""
    config = make_config(tmp_path)
    seed(engine, 30)
    cid = campaign(engine, config)
    with db.read(engine) as conn:
        list_id = conn.execute(select(db.campaigns.c.list_id)).scalar_one()
    reader = PageReader(engine.dialect, cid, list_id, language_cond("en", "en", ["en"]), False)
    read = reader.page
    reads: list[int] = []

    def page(conn: Any, after: int, size: int) -> tuple[list[Any], int]:
        rows, cursor = read(conn, after, size)
        if not reads and meanwhile is not None:
            meanwhile(rows[0])
        reads.append(len(rows))
        return rows, cursor

    reader.page = page  # type: ignore[method-assign]
    _bid, rows, _cursor = queue_page(engine, cid, "me", reader, "en", 0, 10)
    d = db.deliveries
    with db.read(engine) as conn:
        queued = conn.execute(select(d.c.subscriber_id).order_by(d.c.id)).scalars().all()
    return [int(r[0]) for r in rows], [int(x) for x in queued], reads


def test_the_page_read_first_is_queued(engine: Engine, tmp_path: Path) -> None:
    rows, queued, reads = _queue(engine, tmp_path, None)
    assert reads == [10] and rows == queued and len(queued) == 10


@pytest.mark.parametrize(
    ("table", "status"), [("subscribers", "unsubscribed"), ("memberships", "left")]
)
def test_a_reader_who_left_meanwhile_is_not_queued(
    engine: Engine, tmp_path: Path, table: str, status: str
) -> None:
    """Unsubscribed (the subscriber's status) or left the list (the membership's)."""
    t = db.metadata.tables[table]
    key = t.c.id if table == "subscribers" else t.c.subscriber_id

    def leave(first: Any) -> None:
        with db.transaction(engine) as conn:
            conn.execute(t.update().where(key == first[0]).values(status=status))
        gone.append(int(first[0]))

    gone: list[int] = []
    rows, queued, reads = _queue(engine, tmp_path, leave)
    assert reads == [10, 10]  # read again under the lock
    assert gone[0] not in queued and rows == queued and len(queued) == 10


def test_a_reader_erased_meanwhile_is_not_queued(engine: Engine, tmp_path: Path) -> None:
    """Erasure deletes the subscriber row: the queue's insert skips foreign-key checks, so
    without the check it would queue a delivery to nobody, and send to the erased address."""

    def erase(first: Any) -> None:
        with db.transaction(engine) as conn:
            assert forget(conn, first[1])
        gone.append(int(first[0]))

    gone: list[int] = []
    rows, queued, reads = _queue(engine, tmp_path, erase)
    assert reads == [10, 10] and gone[0] not in queued and rows == queued
    s = db.subscribers
    with db.read(engine) as conn:
        known = set(conn.execute(select(s.c.id)).scalars().all())
    assert set(queued) <= known


def test_the_check_looks_each_member_up(engine: Engine, tmp_path: Path) -> None:
    """The check walks the page's ids and finds each by key: it never reads the list's
    memberships in full (a plan that did took seconds per page for 100,000 members)."""
    seen: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "json_each" in statement and "memberships" in statement:
            seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    try:
        _rows, _queued, reads = _queue(engine, tmp_path, None)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert reads == [10] and len(seen) == 1
    with db.read(engine) as conn:
        plan = [
            str(r[3]) for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + seen[0][0], seen[0][1])
        ]
    assert [p for p in plan if p.startswith("SCAN")] == [plan[0]] and "VIRTUAL TABLE" in plan[0]
    assert any("memberships" in p and "subscriber_id=?" in p for p in plan), plan
