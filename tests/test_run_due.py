"""run-due with an injected clock: due/not due, cancel, max_delay, claims and stale claims."""

from __future__ import annotations

import collections
from datetime import datetime, timedelta
from email.parser import BytesHeaderParser
from email.utils import getaddresses
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from mailer import db
from mailer.config import Config, Settings
from mailer.delivery.send import create_campaign, store_contents
from mailer.errors import ScheduleError
from mailer.rendered import MergeField, Rendered
from mailer.schedule import cancel_schedule, list_schedules, parse_when
from mailer.schedule.worker import claim_next, next_due, run_due, runner_id

T0 = datetime(2026, 12, 1, 6, 0)  # naive UTC


def rendered(lang: str = "en") -> Rendered:
    """A small issue as build_issue hands it over (so these tests need no theme)."""
    return Rendered(
        slug="2018-03-iom-turkey",
        language=lang,
        direction="ltr",
        subject="News from the field",
        preheader="",
        mjml="",
        html='<html lang="en"><body><p>Hello %%first_name%%</p>'
        '<a href="%%unsubscribe_url%%">Unsubscribe</a></body></html>',
        text="Hello %%first_name%%\n\nUnsubscribe: %%unsubscribe_url%%\n",
        merge_fields=(MergeField("%%first_name%%", "first_name", "friend"),),
    )


def make_config(root: Path, **schedule: str) -> Config:
    """Test settings: outbox under *root*, small batches, optional [schedule] values."""
    return Config(
        settings=Settings.model_validate(
            {
                "sender": {"from_name": "IOM Turkey", "from_email": "newsletter@example.org"},
                "sending": {"batch_size": 5},
                "outbox_dir": str(root / "outbox"),
                "schedule": {"timezone": "Europe/Berlin", **schedule},
            }
        ),
        path=None,
        root=root,
    )


def subscribe(engine: Engine, list_name: str, count: int) -> list[str]:
    """Add *count* subscribed members to *list_name*; return their addresses."""
    emails = [f"reader{i}.{list_name}@example.org" for i in range(count)]
    with db.transaction(engine) as conn:
        list_id = db.get_or_create_list(conn, list_name)
        for email in emails:
            sid = conn.execute(
                db.subscribers.insert().values(
                    email=email, email_key=email, name="Ayşe Reader", language="en", attributes={}
                )
            ).inserted_primary_key[0]
            conn.execute(db.memberships.insert().values(list_id=list_id, subscriber_id=sid))
    return emails


def scheduled(
    engine: Engine, config: Config, at: datetime, list_name: str = "partners", **values: Any
) -> int:
    """A campaign scheduled at *at* (naive UTC) through the sender's create_campaign."""
    cid = create_campaign(
        engine,
        config,
        "issues/2018-03-iom-turkey.yaml",
        list_name,
        backend="outbox",
        status="scheduled",
        scheduled_at=at,
        schedule_tz="Europe/Berlin",
    )
    store_contents(engine, config, cid, [rendered()])
    if values:
        with db.transaction(engine) as conn:
            conn.execute(db.campaigns.update().where(db.campaigns.c.id == cid).values(**values))
    return cid


def outbox_counts(config: Config) -> collections.Counter[str]:
    """Messages in the outbox per recipient address."""
    counts: collections.Counter[str] = collections.Counter()
    for path in config.outbox_dir.rglob("*.eml"):
        headers = BytesHeaderParser().parsebytes(path.read_bytes())
        for _name, addr in getaddresses(headers.get_all("To", [])):
            counts[addr.lower()] += 1
    return counts


def sent_to(config: Config, campaign_id: int) -> set[str]:
    """Addresses that have a message of *campaign_id* in the outbox."""
    folder = config.outbox_dir / str(campaign_id)
    found = set()
    for path in folder.glob("*.eml"):
        headers = BytesHeaderParser().parsebytes(path.read_bytes())
        found.update(a.lower() for _n, a in getaddresses(headers.get_all("To", [])))
    return found


def sending_campaign(engine: Engine, config: Config, members: int) -> int:
    """A campaign of the sample to list ``partners`` of *members* new members, already
    ``sending`` (as a runner finds one another runner started), its contents stored."""
    subscribe(engine, "partners", members)
    cid = create_campaign(
        engine, config, "issues/2018-03-iom-turkey.yaml", "partners", status="sending"
    )
    store_contents(engine, config, cid, [rendered()])
    return cid


def bare_campaign(engine: Engine, at: datetime, *, status: str = "scheduled", **values: Any) -> int:
    """A bare campaign row (for claim tests that never send)."""
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
    return make_config(tmp_path)


@pytest.fixture
def readers(engine: Engine) -> set[str]:
    return set(subscribe(engine, "partners", 7))


def test_not_due_before_and_due_at_the_time(
    engine: Engine, config: Config, readers: set[str]
) -> None:
    """A campaign is left alone a minute before its time and sent (outbox) at its time."""
    cid = scheduled(engine, config, T0)
    early = run_due(engine, config, clock=lambda: T0 - timedelta(minutes=1))
    assert early.outcomes == [] and early.exit_code == 0
    assert _status(engine, cid) == "scheduled" and outbox_counts(config) == {}
    report = run_due(engine, config, clock=lambda: T0)
    assert [o.campaign_id for o in report.outcomes] == [cid] and report.exit_code == 0
    assert _status(engine, cid) == "sent"
    counts = outbox_counts(config)
    assert set(counts) == readers and set(counts.values()) == {1}
    again = run_due(engine, config, clock=lambda: T0 + timedelta(minutes=1))
    assert again.outcomes == [] and outbox_counts(config) == counts


def test_due_campaigns_run_oldest_first_and_future_ones_wait(
    engine: Engine, config: Config, readers: set[str]
) -> None:
    """Two due campaigns run in schedule order; a later one waits and is the next due time."""
    second = scheduled(engine, config, T0 - timedelta(minutes=5))
    first = scheduled(engine, config, T0 - timedelta(minutes=30))
    later = scheduled(engine, config, T0 + timedelta(hours=2))
    report = run_due(engine, config, clock=lambda: T0)
    assert [o.campaign_id for o in report.outcomes] == [first, second]
    assert sent_to(config, first) == readers and sent_to(config, second) == readers
    assert _status(engine, later) == "scheduled" and sent_to(config, later) == set()
    assert next_due(engine) == T0 + timedelta(hours=2)


def test_dst_change_between_scheduling_and_sending(
    engine: Engine, config: Config, readers: set[str]
) -> None:
    """09:00 Berlin after the autumn change is 08:00 UTC: not due at 07:30 UTC, due at 08:00."""
    when = parse_when("2027-11-01 09:00", tz="Europe/Berlin", now=T0)
    cid = scheduled(engine, config, when.utc)
    summer_nine = datetime(2027, 11, 1, 7, 0)  # 09:00 had the clocks not gone back
    assert run_due(engine, config, clock=lambda: summer_nine).outcomes == []
    assert _status(engine, cid) == "scheduled"
    report = run_due(engine, config, clock=lambda: datetime(2027, 11, 1, 8, 0))
    assert [o.campaign_id for o in report.outcomes] == [cid]
    assert sent_to(config, cid) == readers
    assert list_schedules(engine, statuses=None)[0].local.strftime("%H:%M %Z") == "09:00 CET"


def test_cancel_before_the_due_time_means_never_sent(
    engine: Engine, config: Config, readers: set[str]
) -> None:
    """A campaign cancelled before its time is not sent when the time comes."""
    cid = scheduled(engine, config, T0)
    row = cancel_schedule(engine, cid)
    assert row.status == "cancelled"
    report = run_due(engine, config, clock=lambda: T0 + timedelta(minutes=1))
    assert report.outcomes == [] and _status(engine, cid) == "cancelled"
    assert outbox_counts(config) == {}
    assert cancel_schedule(engine, cid).status == "cancelled"  # twice is harmless


def test_cancel_after_the_due_time(engine: Engine, config: Config, readers: set[str]) -> None:
    """Past its time but not yet picked up, cancel still works; once sent it is refused."""
    missed = scheduled(engine, config, T0)
    cancel_schedule(engine, missed)
    sent = scheduled(engine, config, T0)
    report = run_due(engine, config, clock=lambda: T0 + timedelta(minutes=2))
    assert [o.campaign_id for o in report.outcomes] == [sent]
    assert sent_to(config, missed) == set() and sent_to(config, sent) == readers
    with pytest.raises(ScheduleError, match=f"campaign {sent} is sent"):
        cancel_schedule(engine, sent)
    with pytest.raises(ScheduleError, match="no campaign 999"):
        cancel_schedule(engine, 999)


def test_more_than_max_delay_late_is_held_then_sent_with_send_late(
    engine: Engine, config: Config, readers: set[str]
) -> None:
    """7 h late with max_delay 6h: held, marked late, exit 1; --send-late sends it."""
    cid = scheduled(engine, config, T0)
    now = T0 + timedelta(hours=7)
    report = run_due(engine, config, clock=lambda: now)
    assert report.outcomes == [] and report.exit_code == 1
    assert [r.id for r in report.held_late] == [cid]
    row = list_schedules(engine)[0]
    assert (row.status, row.late) == ("scheduled", True)
    assert next_due(engine) is None  # held campaigns do not wake the worker
    assert outbox_counts(config) == {}
    report = run_due(engine, config, clock=lambda: now, send_late=True)
    assert [o.campaign_id for o in report.outcomes] == [cid] and report.exit_code == 0
    assert report.outcomes[0].late is True and sent_to(config, cid) == readers


def test_within_max_delay_is_sent(engine: Engine, tmp_path: Path, readers: set[str]) -> None:
    """5 h late with max_delay 6h is sent normally; with 90m, 91 minutes late is held."""
    config = make_config(tmp_path)
    on_time = scheduled(engine, config, T0)
    report = run_due(engine, config, clock=lambda: T0 + timedelta(hours=5))
    assert [o.campaign_id for o in report.outcomes] == [on_time]
    strict = make_config(tmp_path, max_delay="90m")
    held = scheduled(engine, strict, T0)
    report = run_due(engine, strict, clock=lambda: T0 + timedelta(minutes=91))
    assert report.outcomes == [] and [r.id for r in report.held_late] == [held]
    # once marked late it stays held, even for a runner whose clock is behind
    report = run_due(engine, strict, clock=lambda: T0 + timedelta(minutes=89))
    assert report.outcomes == [] and [r.id for r in report.held_late] == [held]
    assert sent_to(config, held) == set()


def test_send_late_stored_at_scheduling_time(
    engine: Engine, config: Config, readers: set[str]
) -> None:
    """A campaign scheduled with send_late goes out however late it is."""
    cid = scheduled(engine, config, T0, send_late=True)
    report = run_due(engine, config, clock=lambda: T0 + timedelta(days=2))
    assert [o.campaign_id for o in report.outcomes] == [cid]
    assert report.held_late == [] and report.exit_code == 0
    assert sent_to(config, cid) == readers


def test_claim_is_atomic_second_claimer_gets_nothing(engine: Engine) -> None:
    """Once one runner has claimed the only due campaign, another one finds nothing."""
    cid = bare_campaign(engine, T0)
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
    cid = bare_campaign(engine, T0, status="sending", claimed_by="elsewhere:42", claimed_at=T0)
    six = timedelta(hours=6)
    assert claim_next(engine, now=T0 + timedelta(minutes=9), me="me:1", max_delay=six) is None
    taken = claim_next(engine, now=T0 + timedelta(minutes=11), me="me:1", max_delay=six)
    assert taken is not None and taken.campaign_id == cid and taken.resumed


def test_claim_of_a_dead_local_pid_is_taken_over_at_once(engine: Engine) -> None:
    """A claim by a PID that no longer exists on this host is stale without waiting."""
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead = runner_id().rsplit(":", 1)[0] + ":" + proc.stdout.strip()
    cid = bare_campaign(engine, T0, status="sending", claimed_by=dead, claimed_at=T0)
    taken = claim_next(engine, now=T0, me="me:1", max_delay=timedelta(hours=6))
    assert taken is not None and taken.campaign_id == cid and taken.resumed


def test_hand_started_send_is_left_alone(engine: Engine, config: Config) -> None:
    """A campaign `mailer send` left in sending (no claim) is not picked up by run-due."""
    bare_campaign(engine, T0, status="sending")
    report = run_due(engine, config, clock=lambda: T0 + timedelta(hours=1))
    assert report.outcomes == []


def test_unreachable_server_is_reported_with_exit_1(
    engine: Engine, config: Config, readers: set[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An SMTP server that is down: the campaign pauses, run-due reports it and exits 1."""
    from support import free_port

    monkeypatch.setenv("MAILER_SMTP_URL", f"smtp://127.0.0.1:{free_port()}?starttls=0&timeout=2")
    cid = scheduled(engine, config, T0, backend="smtp")
    report = run_due(engine, config, clock=lambda: T0)
    assert report.exit_code == 1
    outcome = report.outcomes[0]
    assert (outcome.campaign_id, outcome.status) == (cid, "paused")
    assert outcome.error and "paused" in outcome.error


def test_sender_error_releases_the_claim_for_the_next_run(
    engine: Engine, config: Config, readers: set[str]
) -> None:
    """A sender that raises leaves the campaign sending with its claim released; the next
    run resumes it with the real sender and every reader gets one message."""
    from mailer.errors import DeliveryError

    cid = scheduled(engine, config, T0)

    def boom(engine: Engine, config: Config, campaign_id: int, **kw: Any) -> None:
        raise DeliveryError("smtp server went away")

    report = run_due(engine, config, clock=lambda: T0, runner=boom)
    assert report.exit_code == 1
    assert report.outcomes[0].error == "smtp server went away"
    with db.read(engine) as conn:
        row = conn.execute(select(db.campaigns.c.status, db.campaigns.c.claimed_at)).one()
    assert tuple(row) == ("sending", None)
    again = run_due(engine, config, clock=lambda: T0 + timedelta(minutes=1))
    assert again.outcomes[0].resumed and again.exit_code == 0
    assert sent_to(config, cid) == readers


def test_concurrent_claimers_take_each_campaign_exactly_once(engine: Engine) -> None:
    """Six threads claiming 30 due campaigns at once: every campaign is claimed by exactly one."""
    import threading

    ids = {bare_campaign(engine, T0 - timedelta(minutes=i)) for i in range(30)}
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
