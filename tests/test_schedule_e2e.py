"""The sample issue end to end: `mailer schedule` validates it with the real build and checks,
refuses a broken copy, and `mailer run-due` sends it to the outbox when it is due."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from mailer import db
from mailer.cli import main
from mailer.config import load_config
from test_run_due import outbox_counts, subscribe

ISSUE = "issues/2018-03-iom-turkey.yaml"


@pytest.fixture
def url(project: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    value = f"sqlite:///{project / 'mailer.db'}"
    monkeypatch.setenv("MAILER_DATABASE_URL", value)
    monkeypatch.setenv("MAILER_OUTBOX_DIR", str(project / "outbox"))
    yield value
    db.dispose_all()


def _now_utc() -> str:
    return db.utcnow().replace(microsecond=0).isoformat() + "Z"


def test_schedule_sample_issue_then_run_due_sends_it(url: str, project: Path) -> None:
    """The sample issue schedules (warnings shown, exit 0) and run-due delivers one message
    to each subscriber of the list, in the outbox."""
    readers = set(subscribe(db.connect(url), "partners", 5))
    result = CliRunner().invoke(
        main,
        [
            "schedule",
            ISSUE,
            "--list",
            "partners",
            "--at",
            "2031-03-01 10:00",
            "--tz",
            "Europe/Istanbul",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "Scheduled campaign 1" in result.output
    assert "2031-03-01 10:00 +03 (Europe/Istanbul) = 2031-03-01 07:00 UTC" in result.output
    rows = json.loads(CliRunner().invoke(main, ["schedule", "list", "--json"]).output)
    assert [(r["id"], r["status"], r["issue"]) for r in rows] == [
        (1, "scheduled", "2018-03-iom-turkey")
    ]
    assert CliRunner().invoke(main, ["run-due"]).output == "Nothing is due.\n"  # 2031 is not due
    cancel = CliRunner().invoke(main, ["schedule", "cancel", "1"])
    assert cancel.exit_code == 0
    now = CliRunner().invoke(
        main, ["schedule", ISSUE, "--list", "partners", "--at", _now_utc(), "--json"]
    )
    assert now.exit_code == 0, now.output
    cid = json.loads(now.output.splitlines()[-1])["id"]
    sent = CliRunner().invoke(main, ["run-due", "--json"])
    assert sent.exit_code == 0, sent.output
    report = json.loads(sent.output)
    assert [(c["id"], c["status"]) for c in report["campaigns"]] == [(cid, "sent")]
    counts = outbox_counts(load_config(project / "mailer.toml"))
    assert set(counts) == readers and set(counts.values()) == {1}


def test_broken_issue_is_refused_at_scheduling_time(url: str, project: Path) -> None:
    """A leftover TODO in the issue is an error from the checks: exit 1, listed, not stored."""
    subscribe(db.connect(url), "partners", 1)
    broken = project / "issues" / "broken.yaml"
    text = (project / ISSUE).read_text(encoding="utf-8")
    broken.write_text(text.replace('subject: "', 'subject: "TODO ', 1), encoding="utf-8")
    result = CliRunner().invoke(
        main, ["schedule", str(broken), "--list", "partners", "--at", "2031-03-01 10:00"]
    )
    assert result.exit_code == 1
    assert "error(s); nothing was scheduled" in result.output and "leftover TODO" in result.output
    assert "Traceback" not in result.output
    listed = CliRunner().invoke(main, ["schedule", "list", "--all", "--json"])
    assert json.loads(listed.output) == []


def test_dst_gap_is_a_clean_cli_error(url: str) -> None:
    """A local time inside the spring DST gap exits 1 with both offsets offered."""
    subscribe(db.connect(url), "partners", 1)
    result = CliRunner().invoke(
        main,
        [
            "schedule",
            ISSUE,
            "--list",
            "partners",
            "--at",
            "2031-03-30 02:30",
            "--tz",
            "Europe/Berlin",
        ],
    )
    assert result.exit_code == 1
    assert "does not exist in Europe/Berlin" in result.output
    assert "2031-03-30T02:30+02:00" in result.output
