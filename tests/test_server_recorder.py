"""The event recorder behind /c/ and /o/: batches, a bad row loses only itself, stop drains."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailer.web.recorder import Recorder
from mailer.web.server import event_row
from tracking_helpers import BASE, SECRET, count_events, seed
from tracking_helpers import write_config as make_config


@pytest.fixture
def seeded(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """A seeded campaign on SQLite and PostgreSQL."""
    monkeypatch.setenv("MAILER_SECRET_KEY", SECRET)
    return seed(make_config(tmp_path, db_url, base_url=BASE))


def test_a_bad_row_loses_only_itself(seeded) -> None:  # type: ignore[no-untyped-def]
    """A batch with a row that breaks a foreign key is retried row by row."""
    s = seeded
    link = next(iter(s.links.values()))
    rows = [event_row("click", s.campaign_id, sub, "ua", link_id=link) for sub in s.subscribers]
    rows.insert(1, event_row("click", s.campaign_id, None, "ua", link_id=999_999))
    recorder = Recorder(s.engine, scanner_window=0)
    recorder.flush(rows)
    assert count_events(s.engine, "click") == len(s.subscribers)
    assert (recorder.written, recorder.failed) == (len(s.subscribers), 1)


def test_stop_drains_the_queue(seeded) -> None:  # type: ignore[no-untyped-def]
    """Every event queued before stop() is written, in few transactions."""
    s = seeded
    recorder = Recorder(s.engine, flush_interval=0.5, max_batch=300)
    for i in range(1000):
        recorder.add(event_row("open", s.campaign_id, s.subscribers[i % 3], f"ua {i}"))
    recorder.stop()
    assert count_events(s.engine, "open") == 1000
    assert recorder.written == 1000 and recorder.failed == 0


def test_scanner_window_applies_per_delivery(seeded) -> None:  # type: ignore[no-untyped-def]
    """Clicks within the window after acceptance are flagged; later ones and anonymous are not."""
    from datetime import timedelta

    from sqlalchemy import select

    from mailer import db

    s = seeded
    with db.transaction(s.engine) as conn:  # the first reader's message was accepted just now
        conn.execute(
            db.deliveries.update()
            .where(db.deliveries.c.subscriber_id == s.subscribers[0])
            .values(accepted_at=db.utcnow() - timedelta(seconds=1))
        )
    rows = [event_row("click", s.campaign_id, sub, "Mozilla") for sub in s.subscribers]
    rows.append(event_row("click", s.campaign_id, None, "Mozilla"))
    Recorder(s.engine, scanner_window=30).flush(rows)
    with db.read(s.engine) as conn:
        flags = conn.execute(
            select(db.events.c.subscriber_id, db.events.c.is_scanner).order_by(db.events.c.id)
        ).all()
    assert [tuple(f) for f in flags] == [
        (s.subscribers[0], True),
        (s.subscribers[1], False),
        (s.subscribers[2], False),
        (None, False),
    ]


def test_scanner_window_reads_a_batchs_acceptance(seeded) -> None:  # type: ignore[no-untyped-def]
    """A delivery accepted through its batch (``mailer.db.held``: the row still ``pending``,
    no time of its own) was accepted at the batch's ``finished_at``: a click within the
    window after it is flagged."""
    from datetime import timedelta

    from sqlalchemy import select

    from mailer import db

    s = seeded
    d, b = db.deliveries, db.batches
    with db.transaction(s.engine) as conn:  # the first reader's batch was accepted just now
        bid = conn.execute(
            b.insert().values(
                campaign_id=s.campaign_id,
                status="accepted",
                size=1,
                accepted_count=1,
                provider_id="sg-batch-1",
                finished_at=db.utcnow() - timedelta(seconds=1),
            )
        ).inserted_primary_key[0]
        conn.execute(
            d.update()
            .where(d.c.subscriber_id == s.subscribers[0])
            .values(status="pending", accepted_at=None, batch_id=bid)
        )
    rows = [event_row("click", s.campaign_id, sub, "Mozilla") for sub in s.subscribers[:2]]
    Recorder(s.engine, scanner_window=30).flush(rows)
    with db.read(s.engine) as conn:
        flags = conn.execute(
            select(db.events.c.subscriber_id, db.events.c.is_scanner).order_by(db.events.c.id)
        ).all()
    assert [tuple(f) for f in flags] == [(s.subscribers[0], True), (s.subscribers[1], False)]


def test_too_soon_and_scanner_agents() -> None:
    """The window is measured from acceptance; known scanner agents are recognised."""
    from datetime import datetime, timedelta

    from mailer.tracking.scanners import is_scanner_agent, too_soon

    t = datetime(2026, 3, 1, 12, 0, 0)
    assert too_soon(t + timedelta(seconds=2), t, 5)
    assert too_soon(t - timedelta(seconds=1), t, 5)
    assert not too_soon(t + timedelta(seconds=5), t, 5)
    assert not too_soon(t, None, 5) and not too_soon(t, t, 0)
    for agent in (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) BingPreview/1.0b",
        "Proofpoint URL Defense",
        "Mimecast-Security-Scanner/1.0",
        "Barracuda Sentinel (EE)",
    ):
        assert is_scanner_agent(agent), agent
    for agent in ("", None, "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0) Mobile/15E148"):
        assert not is_scanner_agent(agent)


def test_events_refused_at_shutdown_are_spooled_and_replayed(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Events a locked SQLite still refuses when the recorder stops go to a spool file
    beside the database, and the next recorder writes them exactly once."""
    import sqlite3

    from mailer import db

    monkeypatch.setenv("MAILER_SECRET_KEY", SECRET)
    path = tmp_path / "m.db"
    s = seed(make_config(tmp_path, f"sqlite:///{path}", base_url=BASE))
    locker = sqlite3.connect(path, isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    try:
        recorder = Recorder(s.engine, scanner_window=0, busy_timeout=0.1, stop_timeout=0.5)
        for i in range(5):
            recorder.add(event_row("open", s.campaign_id, s.subscribers[0], f"ua {i}"))
        recorder.stop()
        spool = path.parent / "m.db.events-spool.jsonl"
        assert len(spool.read_text(encoding="utf-8").splitlines()) == 5
        assert recorder.failed == 0
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    again = Recorder(s.engine, scanner_window=0)
    again.start()
    again.stop()
    assert not spool.exists()
    assert count_events(s.engine, "open") == 5
    with db.read(s.engine) as conn:
        agents = conn.execute(db.events.select().with_only_columns(db.events.c.user_agent))
        assert sorted(a for (a,) in agents) == [f"ua {i}" for i in range(5)]
    db.dispose_all()
