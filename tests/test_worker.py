"""The worker loop: runs what is due, sleeps until the next due time, stops on request."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from mailer import db
from mailer.config import Config, Settings
from mailer.worker import RunDueReport, run_worker, sleep_seconds

T0 = datetime(2026, 12, 1, 6, 0)


def _campaign(engine: Engine, at: datetime) -> int:
    with db.transaction(engine) as conn:
        list_id = db.get_or_create_list(conn, "partners")
        return int(
            conn.execute(
                db.campaigns.insert().values(
                    issue_slug="s",
                    issue_path="s.yaml",
                    list_id=list_id,
                    status="scheduled",
                    backend="outbox",
                    scheduled_at=at,
                    schedule_tz="UTC",
                )
            ).inserted_primary_key[0]
        )


def test_sleep_until_next_due_capped() -> None:
    """The wait is the time to the next campaign, capped at max_sleep, never a busy loop."""
    assert sleep_seconds(None, T0, 60) == 60
    assert sleep_seconds(T0 + timedelta(seconds=12), T0, 60) == 12
    assert sleep_seconds(T0 + timedelta(hours=3), T0, 60) == 60
    assert sleep_seconds(T0 - timedelta(minutes=1), T0, 60) == 0.2


def test_worker_sends_due_campaign_then_stops_when_asked(tmp_path: Path) -> None:
    """One round sends the due campaign; setting the stop event ends the loop without waiting."""
    engine = db.connect(f"sqlite:///{tmp_path / 'w.db'}")
    config = Config(settings=Settings(), path=None, root=tmp_path)
    due = _campaign(engine, T0)
    later = _campaign(engine, T0 + timedelta(days=1))
    stop = threading.Event()
    sent: list[int] = []
    reports: list[RunDueReport] = []

    def runner(engine: Engine, config: Config, campaign_id: int, **kw: Any) -> None:
        assert kw["should_stop"]() is False
        sent.append(campaign_id)
        with db.transaction(engine) as conn:
            conn.execute(
                db.campaigns.update().where(db.campaigns.c.id == campaign_id).values(status="sent")
            )

    def on_report(report: RunDueReport) -> None:
        reports.append(report)
        stop.set()

    rounds = run_worker(
        engine, config, stop, clock=lambda: T0, runner=runner, on_report=on_report, max_sleep=30
    )
    assert rounds == 1 and sent == [due]
    assert reports[0].outcomes[0].campaign_id == due
    assert later not in sent
    db.dispose_all()


def test_worker_survives_a_failing_round(tmp_path: Path) -> None:
    """A database error in one round is reported and the loop goes on to the next round."""
    engine = db.connect(f"sqlite:///{tmp_path / 'w.db'}")
    bad = Config(
        settings=Settings.model_validate({"schedule": {"max_delay": "soon"}}),
        path=None,
        root=tmp_path,
    )
    errors: list[Exception] = []
    stop = threading.Event()
    rounds = run_worker(
        engine, bad, stop, clock=lambda: T0, max_sleep=0.1, on_error=errors.append, max_rounds=2
    )
    assert rounds == 2 and len(errors) == 2
    assert "max_delay" in str(errors[0])
    db.dispose_all()
