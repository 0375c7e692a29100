"""`schedule_issue`: stores UTC + zone through the sender's create_campaign, refuses a second
schedule of the same issue to the same list, and aborts when validation finds errors."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from mailer import db
from mailer.config import Config
from mailer.errors import PreflightError, ScheduleError, SubscriberError
from mailer.schedule import cancel_schedule, errors_abort, list_schedules, schedule_issue
from test_run_due import make_config, subscribe

NOW = datetime(2026, 11, 24, 12, 0)


@dataclass
class Finding:
    severity: str
    message: str

    def __str__(self) -> str:
        return f"{self.severity}: {self.message}"


def no_findings(path: Path, config: Config) -> list[Any]:
    return []


@pytest.fixture
def engine(db_url: str) -> Engine:
    return db.connect(db_url)


@pytest.fixture
def issue(tmp_path: Path) -> Path:
    path = tmp_path / "issues" / "2026-12-winter.yaml"
    path.parent.mkdir()
    path.write_text(
        "slug: 2026-12-winter\n"
        "subject: Winter news from the field\n"
        "blocks:\n"
        "  - type: text\n"
        '    body: Hello {{ subscriber.first_name | default("friend") }}.\n',
        encoding="utf-8",
    )
    return path


def test_schedule_stores_utc_and_the_zone(engine: Engine, tmp_path: Path, issue: Path) -> None:
    """A local time in the config's zone is stored as UTC with the zone; list shows both."""
    config = make_config(tmp_path)  # [schedule] timezone = Europe/Berlin
    subscribe(engine, "partners", 2)
    done = schedule_issue(
        engine, config, issue, "partners", at="2026-12-01 09:00", now=NOW, validate=no_findings
    )
    assert done.when.utc == datetime(2026, 12, 1, 8, 0) and done.when.zone == "Europe/Berlin"
    row = list_schedules(engine)[0]
    assert (row.id, row.status, row.list_name, row.backend) == (
        done.campaign_id,
        "scheduled",
        "partners",
        "outbox",
    )
    assert row.scheduled_at == datetime(2026, 12, 1, 8, 0)
    assert row.local.strftime("%Y-%m-%d %H:%M %Z") == "2026-12-01 09:00 CET"


def test_send_late_and_backend_are_stored(engine: Engine, tmp_path: Path, issue: Path) -> None:
    """--send-late and --backend end up on the campaign row."""
    subscribe(engine, "partners", 1)
    done = schedule_issue(
        engine,
        make_config(tmp_path),
        issue,
        "partners",
        at="2026-12-01T09:00+03:00",
        backend="smtp",
        send_late=True,
        now=NOW,
        validate=no_findings,
    )
    with db.read(engine) as conn:
        row = conn.execute(
            select(
                db.campaigns.c.backend, db.campaigns.c.send_late, db.campaigns.c.schedule_tz
            ).where(db.campaigns.c.id == done.campaign_id)
        ).one()
    assert tuple(row) == ("smtp", True, "+03:00")


def test_same_issue_to_same_list_twice_is_refused_until_cancelled(
    engine: Engine, tmp_path: Path, issue: Path
) -> None:
    """A second schedule of one issue to one list is an error naming the first; after
    cancelling the first, scheduling again works."""
    config = make_config(tmp_path)
    subscribe(engine, "partners", 1)
    first = schedule_issue(
        engine, config, issue, "partners", at="2026-12-01 09:00", now=NOW, validate=no_findings
    )
    with pytest.raises(ScheduleError, match=f"already scheduled as campaign {first.campaign_id}"):
        schedule_issue(
            engine, config, issue, "partners", at="2026-12-02 09:00", now=NOW, validate=no_findings
        )
    cancel_schedule(engine, first.campaign_id)
    again = schedule_issue(
        engine, config, issue, "partners", at="2026-12-02 09:00", now=NOW, validate=no_findings
    )
    assert again.campaign_id != first.campaign_id
    other = subscribe(engine, "donors", 1)
    assert other
    schedule_issue(
        engine, config, issue, "donors", at="2026-12-02 09:00", now=NOW, validate=no_findings
    )  # another list is another send


def test_validation_errors_abort_and_nothing_is_stored(
    engine: Engine, tmp_path: Path, issue: Path
) -> None:
    """Errors from the checks abort scheduling with every error listed; warnings pass through."""
    subscribe(engine, "partners", 1)
    config = make_config(tmp_path)

    findings = [
        Finding("error", "image hero.jpg has no alt text"),
        Finding("warning", "subject is 92 characters long"),
        Finding("error", "link http://x is not https"),
    ]

    def checks(path: Path, config: Config) -> list[Any]:
        return errors_abort(path, findings)

    with pytest.raises(PreflightError, match="2 error"):
        schedule_issue(
            engine, config, issue, "partners", at="2026-12-01 09:00", now=NOW, validate=checks
        )
    assert list_schedules(engine, statuses=None) == []


def test_unknown_list_and_missing_file(engine: Engine, tmp_path: Path, issue: Path) -> None:
    """A list that does not exist and an issue file that does not exist are clear errors."""
    config = make_config(tmp_path)
    with pytest.raises(SubscriberError, match="no list named 'nobody'"):
        schedule_issue(
            engine, config, issue, "nobody", at="2026-12-01 09:00", now=NOW, validate=no_findings
        )
    with pytest.raises(ScheduleError, match="not found"):
        schedule_issue(
            engine,
            config,
            tmp_path / "missing.yaml",
            "partners",
            at="2026-12-01 09:00",
            now=NOW,
            validate=no_findings,
        )


def test_a_draft_of_the_same_issue_is_scheduled_in_place(
    engine: Engine, tmp_path: Path, issue: Path
) -> None:
    """A draft campaign of the issue to the list becomes the scheduled one (no second row)."""
    from mailer.delivery.send import create_campaign

    config = make_config(tmp_path)
    subscribe(engine, "partners", 1)
    draft = create_campaign(engine, config, issue, "partners")
    done = schedule_issue(
        engine,
        config,
        issue,
        "partners",
        at="2026-12-01 09:00",
        now=NOW,
        send_late=True,
        validate=no_findings,
    )
    assert done.campaign_id == draft
    rows = list_schedules(engine, statuses=None)
    assert [(r.id, r.status, r.send_late) for r in rows] == [(draft, "scheduled", True)]
