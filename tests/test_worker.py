"""The worker loop: runs what is due, sleeps until the next due time, stops on request."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from mailer import db
from mailer.errors import ConfigError
from mailer.schedule.worker import RunDueReport, run_due, run_worker, sleep_seconds
from test_run_due import make_config, scheduled, sent_to, subscribe

T0 = datetime(2026, 12, 1, 6, 0)


def test_sleep_until_next_due_capped() -> None:
    """The wait is the time to the next campaign, capped at max_sleep, never a busy loop."""
    assert sleep_seconds(None, T0, 60) == 60
    assert sleep_seconds(T0 + timedelta(seconds=12), T0, 60) == 12
    assert sleep_seconds(T0 + timedelta(hours=3), T0, 60) == 60
    assert sleep_seconds(T0 - timedelta(minutes=1), T0, 60) == 0.2


def test_worker_sends_due_campaign_then_stops_when_asked(tmp_path: Path) -> None:
    """One round sends the due campaign (real sender, outbox), leaves the future one, and
    setting the stop event ends the loop without waiting out the sleep."""
    engine = db.connect(f"sqlite:///{tmp_path / 'w.db'}")
    config = make_config(tmp_path)
    readers = set(subscribe(engine, "partners", 6))
    due = scheduled(engine, config, T0)
    later = scheduled(engine, config, T0 + timedelta(days=1))
    stop = threading.Event()
    reports: list[RunDueReport] = []

    def on_report(report: RunDueReport) -> None:
        reports.append(report)
        stop.set()

    started = time.monotonic()
    rounds = run_worker(engine, config, stop, clock=lambda: T0, on_report=on_report, max_sleep=30)
    assert time.monotonic() - started < 20
    assert rounds == 1
    assert [o.campaign_id for o in reports[0].outcomes] == [due]
    assert sent_to(config, due) == readers and sent_to(config, later) == set()
    db.dispose_all()


def test_should_stop_reaches_the_sender(tmp_path: Path) -> None:
    """A stop requested before the first batch leaves the campaign unsent, claim released."""
    engine = db.connect(f"sqlite:///{tmp_path / 'w.db'}")
    config = make_config(tmp_path)
    subscribe(engine, "partners", 6)
    cid = scheduled(engine, config, T0)
    calls = iter([False, True])  # the claim loop sees False, the send loop True
    report = run_due(engine, config, clock=lambda: T0, should_stop=lambda: next(calls, True))
    assert report.outcomes[0].campaign_id == cid and report.outcomes[0].status == "sending"
    assert sent_to(config, cid) == set()
    with db.read(engine) as conn:
        claimed_at = conn.execute(select(db.campaigns.c.claimed_at)).scalar()
    assert claimed_at is None
    db.dispose_all()


def test_worker_survives_a_failing_round(tmp_path: Path) -> None:
    """A database error in one round is reported and the loop goes on to the next round."""
    engine = db.connect(f"sqlite:///{tmp_path / 'w.db'}")
    config = make_config(tmp_path)
    with db.transaction(engine) as conn:
        conn.exec_driver_sql("DROP TABLE campaign_contents")
        conn.exec_driver_sql("ALTER TABLE campaigns RENAME TO campaigns_gone")
    errors: list[Exception] = []
    stop = threading.Event()
    rounds = run_worker(
        engine, config, stop, clock=lambda: T0, max_sleep=0.1, on_error=errors.append, max_rounds=2
    )
    assert rounds == 2 and len(errors) == 2
    assert "campaigns" in str(errors[0])
    db.dispose_all()


def test_worker_refuses_a_bad_max_delay_at_start(tmp_path: Path) -> None:
    """A max_delay that is not a duration stops the worker before its first round."""
    engine = db.connect(f"sqlite:///{tmp_path / 'w.db'}")
    with pytest.raises(ConfigError, match="max_delay"):
        run_worker(engine, make_config(tmp_path, max_delay="soon"), threading.Event(), max_rounds=1)
    db.dispose_all()
