"""run-due with an injected clock: due/not due, cancel, max_delay, claims and stale claims."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from mailer import db
from mailer.config import Config, Settings
from mailer.errors import ScheduleError
from mailer.schedule import cancel_schedule, list_schedules
from mailer.worker import claim_next, next_due, run_due

T0 = datetime(2026, 12, 1, 6, 0)  # naive UTC


class Recorder:
    """A stand-in sender that marks the campaign sent and records what it was asked."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    def __call__(self, engine: Engine, config: Config, campaign_id: int, **kw: Any) -> None:
        self.calls.append(campaign_id)
        with db.transaction(engine) as conn:
            conn.execute(
                db.campaigns.update().where(db.campaigns.c.id == campaign_id).values(status="sent")
            )


def _campaign(engine: Engine, at: datetime, *, status: str = "scheduled", **values: Any) -> int:
    with db.transaction(engine) as conn:
        list_id = db.get_or_create_list(conn, "partners")
        return int(
            conn.execute(
                db.campaigns.insert().values(
                    issue_slug="2018-03",
                    issue_path="issues/2018-03.yaml",
                    list_id=list_id,
                    status=status,
                    backend="outbox",
                    scheduled_at=at,
                    schedule_tz="Europe/Berlin",
                    **values,
                )
            ).inserted_primary_key[0]
        )


def _status(engine: Engine, cid: int) -> str:
    with db.read(engine) as conn:
        return str(
            conn.execute(select(db.campaigns.c.status).where(db.campaigns.c.id == cid)).scalar()
        )


@pytest.fixture
def engine(db_url: str) -> Engine:
    return db.connect(db_url)


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return Config(settings=Settings(), path=None, root=tmp_path)


def test_not_due_before_and_due_at_the_time(engine: Engine, config: Config) -> None:
    """A campaign is left alone a minute before its time and sent at its time."""
    cid = _campaign(engine, T0)
    rec = Recorder()
    early = run_due(engine, config, clock=lambda: T0 - timedelta(minutes=1), runner=rec)
    assert rec.calls == [] and early.outcomes == [] and early.exit_code == 0
    assert _status(engine, cid) == "scheduled"
    report = run_due(engine, config, clock=lambda: T0, runner=rec)
    assert rec.calls == [cid]
    assert [o.campaign_id for o in report.outcomes] == [cid] and report.exit_code == 0
    assert _status(engine, cid) == "sent"
    again = run_due(engine, config, clock=lambda: T0 + timedelta(minutes=1), runner=rec)
    assert rec.calls == [cid] and again.outcomes == []


def test_due_campaigns_run_oldest_first_and_future_ones_wait(
    engine: Engine, config: Config
) -> None:
    """Two due campaigns run in schedule order; a later one waits and is the next due time."""
    second = _campaign(engine, T0 - timedelta(minutes=5))
    first = _campaign(engine, T0 - timedelta(minutes=30))
    later = _campaign(engine, T0 + timedelta(hours=2))
    rec = Recorder()
    run_due(engine, config, clock=lambda: T0, runner=rec)
    assert rec.calls == [first, second]
    assert _status(engine, later) == "scheduled"
    assert next_due(engine) == T0 + timedelta(hours=2)


def test_cancel_before_the_due_time_means_never_sent(engine: Engine, config: Config) -> None:
    """A campaign cancelled before its time is not sent when the time comes."""
    cid = _campaign(engine, T0)
    row = cancel_schedule(engine, cid)
    assert row.status == "cancelled"
    rec = Recorder()
    run_due(engine, config, clock=lambda: T0 + timedelta(minutes=1), runner=rec)
    assert rec.calls == [] and _status(engine, cid) == "cancelled"
    assert cancel_schedule(engine, cid).status == "cancelled"  # twice is harmless


def test_cancel_after_the_due_time(engine: Engine, config: Config) -> None:
    """Past its time but not yet picked up, cancel still works; once sent it is refused."""
    missed = _campaign(engine, T0)
    cancel_schedule(engine, missed)
    sent = _campaign(engine, T0)
    rec = Recorder()
    run_due(engine, config, clock=lambda: T0 + timedelta(minutes=2), runner=rec)
    assert rec.calls == [sent]
    with pytest.raises(ScheduleError, match=f"campaign {sent} is sent"):
        cancel_schedule(engine, sent)
    with pytest.raises(ScheduleError, match="no campaign 999"):
        cancel_schedule(engine, 999)


def test_more_than_max_delay_late_is_held_then_sent_with_send_late(
    engine: Engine, config: Config
) -> None:
    """7 h late with max_delay 6h: held, marked late, exit 1; --send-late sends it."""
    cid = _campaign(engine, T0)
    rec = Recorder()
    now = T0 + timedelta(hours=7)
    report = run_due(engine, config, clock=lambda: now, runner=rec)
    assert rec.calls == [] and report.exit_code == 1
    assert [r.id for r in report.held_late] == [cid]
    row = list_schedules(engine)[0]
    assert (row.status, row.late) == ("scheduled", True)
    assert next_due(engine) is None  # held campaigns do not wake the worker
    report = run_due(engine, config, clock=lambda: now, runner=rec, send_late=True)
    assert rec.calls == [cid] and report.exit_code == 0
    assert report.outcomes[0].late is True


def test_within_max_delay_is_sent(engine: Engine, config: Config) -> None:
    """5 h late with max_delay 6h is sent normally; a 90m setting holds it."""
    on_time = _campaign(engine, T0)
    rec = Recorder()
    run_due(engine, config, clock=lambda: T0 + timedelta(hours=5), runner=rec)
    assert rec.calls == [on_time]
    strict = Config(
        settings=Settings.model_validate({"schedule": {"max_delay": "90m"}}),
        path=None,
        root=config.root,
    )
    held = _campaign(engine, T0)
    report = run_due(engine, strict, clock=lambda: T0 + timedelta(minutes=91), runner=rec)
    assert rec.calls == [on_time] and [r.id for r in report.held_late] == [held]


def test_send_late_stored_at_scheduling_time(engine: Engine, config: Config) -> None:
    """A campaign scheduled with send_late goes out however late it is."""
    cid = _campaign(engine, T0, send_late=True)
    rec = Recorder()
    report = run_due(engine, config, clock=lambda: T0 + timedelta(days=2), runner=rec)
    assert rec.calls == [cid] and report.held_late == [] and report.exit_code == 0


def test_claim_is_atomic_second_claimer_gets_nothing(engine: Engine) -> None:
    """Once one runner has claimed the only due campaign, another one finds nothing."""
    cid = _campaign(engine, T0)
    six = timedelta(hours=6)
    a = claim_next(engine, now=T0, me="hostA:1", max_delay=six)
    b = claim_next(engine, now=T0, me="hostB:2", max_delay=six)
    assert a is not None and a.campaign_id == cid and not a.resumed
    assert b is None
    with db.read(engine) as conn:
        row = conn.execute(select(db.campaigns.c.status, db.campaigns.c.claimed_by)).one()
    assert tuple(row) == ("sending", "hostA:1")


def test_stale_claim_of_another_host_is_taken_over_after_the_lease(engine: Engine) -> None:
    """A sending campaign whose runner (on another host) stopped refreshing is resumed."""
    cid = _campaign(engine, T0, status="sending", claimed_by="elsewhere:42", claimed_at=T0)
    six = timedelta(hours=6)
    assert claim_next(engine, now=T0 + timedelta(minutes=9), me="me:1", max_delay=six) is None
    taken = claim_next(engine, now=T0 + timedelta(minutes=11), me="me:1", max_delay=six)
    assert taken is not None and taken.campaign_id == cid and taken.resumed


def test_claim_of_a_dead_local_pid_is_taken_over_at_once(engine: Engine) -> None:
    """A claim by a PID that no longer exists on this host is stale without waiting."""
    import socket
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead = f"{socket.gethostname()}:{proc.stdout.strip()}"
    cid = _campaign(engine, T0, status="sending", claimed_by=dead, claimed_at=T0)
    taken = claim_next(engine, now=T0, me="me:1", max_delay=timedelta(hours=6))
    assert taken is not None and taken.campaign_id == cid and taken.resumed


def test_hand_started_send_is_left_alone(engine: Engine, config: Config) -> None:
    """A campaign `mailer send` left in sending (no claim) is not picked up by run-due."""
    _campaign(engine, T0, status="sending")
    rec = Recorder()
    run_due(engine, config, clock=lambda: T0 + timedelta(hours=1), runner=rec)
    assert rec.calls == []


def test_failed_run_is_reported_and_released(engine: Engine, config: Config) -> None:
    """A sender error is reported (exit 1) and the claim released so the next run resumes."""
    from mailer.errors import DeliveryError

    cid = _campaign(engine, T0)

    def boom(engine: Engine, config: Config, campaign_id: int, **kw: Any) -> None:
        raise DeliveryError("smtp server went away")

    report = run_due(engine, config, clock=lambda: T0, runner=boom)
    assert report.exit_code == 1
    assert report.outcomes[0].error == "smtp server went away"
    with db.read(engine) as conn:
        row = conn.execute(select(db.campaigns.c.status, db.campaigns.c.claimed_at)).one()
    assert tuple(row) == ("sending", None)
    rec = Recorder()
    again = run_due(engine, config, clock=lambda: T0 + timedelta(minutes=1), runner=rec)
    assert rec.calls == [cid] and again.outcomes[0].resumed and again.exit_code == 0


def test_concurrent_claimers_take_each_campaign_exactly_once(engine: Engine) -> None:
    """Six threads claiming 30 due campaigns at once: every campaign is claimed by exactly one."""
    import threading

    ids = {_campaign(engine, T0 - timedelta(minutes=i)) for i in range(30)}
    claims: dict[str, list[int]] = {f"host:{n}": [] for n in range(6)}
    barrier = threading.Barrier(len(claims))

    def claimer(me: str) -> None:
        barrier.wait()
        deadline = 200
        while deadline:
            deadline -= 1
            got = claim_next(engine, now=T0, me=me, max_delay=timedelta(hours=6))
            if got is None:
                return
            claims[me].append(got.campaign_id)

    threads = [threading.Thread(target=claimer, args=(me,)) for me in claims]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    taken = [cid for got in claims.values() for cid in got]
    assert sorted(taken) == sorted(ids)
    with db.read(engine) as conn:
        owners = dict(conn.execute(select(db.campaigns.c.id, db.campaigns.c.claimed_by)).all())
    for me, got in claims.items():
        assert all(owners[cid] == me for cid in got)
