"""The schedule commands: group dispatch, list, cancel and run-due output and exit codes."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from mailer import db
from mailer.cli import main


@pytest.fixture
def url(project: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    value = f"sqlite:///{project / 'cli.db'}"
    monkeypatch.setenv("MAILER_DATABASE_URL", value)
    yield value
    db.dispose_all()


def _campaign(url: str, *, late_by: timedelta, zone: str = "Europe/Berlin") -> int:
    engine = db.connect(url)
    with db.transaction(engine) as conn:
        list_id = db.get_or_create_list(conn, "partners")
        return int(
            conn.execute(
                db.campaigns.insert().values(
                    issue_slug="2018-03-iom-turkey",
                    issue_path="issues/2018-03-iom-turkey.yaml",
                    list_id=list_id,
                    status="scheduled",
                    backend="outbox",
                    scheduled_at=(db.utcnow() - late_by).replace(microsecond=0),
                    schedule_tz=zone,
                )
            ).inserted_primary_key[0]
        )


def test_schedule_issue_form_dispatches_to_create(url: str) -> None:
    """`mailer schedule ISSUE …` runs `schedule create`: a missing file is a clean exit 1."""
    result = CliRunner().invoke(
        main, ["schedule", "issues/nope.yaml", "--list", "partners", "--at", "2030-01-01 09:00"]
    )
    assert result.exit_code == 1
    assert "issue file issues/nope.yaml not found" in result.output
    assert "Traceback" not in result.output


def test_schedule_options_first_also_dispatch(url: str) -> None:
    """Options before ISSUE still reach `create`; a missing --at is a usage error (exit 2)."""
    result = CliRunner().invoke(main, ["schedule", "--list", "partners", "issues/x.yaml"])
    assert result.exit_code == 2
    assert "Missing option '--at'" in result.output


def test_schedule_help_shows_all_three_forms(url: str) -> None:
    """`mailer schedule --help` lists the ISSUE form, list and cancel, and an example."""
    out = CliRunner().invoke(main, ["schedule", "--help"]).output
    assert "mailer schedule ISSUE --list NAME --at WHEN" in out
    assert "mailer schedule cancel ID" in out and "Example:" in out


def test_list_shows_local_and_utc_time(url: str) -> None:
    """The table shows the campaign in its zone and in UTC; --json carries both times."""
    cid = _campaign(url, late_by=timedelta(minutes=-90))
    result = CliRunner().invoke(main, ["schedule", "list"])
    assert result.exit_code == 0
    assert "Europe/Berlin" in result.output and "UTC" in result.output
    assert "partners" in result.output and "2018-03-iom-turkey" in result.output
    rows = json.loads(CliRunner().invoke(main, ["schedule", "list", "--json"]).output)
    assert rows[0]["id"] == cid and rows[0]["status"] == "scheduled"
    assert rows[0]["scheduled_at_utc"].endswith("+00:00")
    assert rows[0]["scheduled_at_local"][-6:] in ("+01:00", "+02:00")


def test_cancel_command(url: str) -> None:
    """`schedule cancel ID` cancels; the list then hides it unless --all; unknown ID exits 1."""
    cid = _campaign(url, late_by=timedelta(minutes=-90))
    result = CliRunner().invoke(main, ["schedule", "cancel", str(cid)])
    assert result.exit_code == 0 and f"Cancelled campaign {cid}" in result.output
    assert json.loads(CliRunner().invoke(main, ["schedule", "list", "--json"]).output) == []
    everything = json.loads(
        CliRunner().invoke(main, ["schedule", "list", "--all", "--json"]).output
    )
    assert everything[0]["status"] == "cancelled"
    missing = CliRunner().invoke(main, ["schedule", "cancel", "4242"])
    assert missing.exit_code == 1 and "no campaign 4242" in missing.output


def test_run_due_holds_late_campaign_with_exit_1(url: str) -> None:
    """A campaign 7 h late is reported as held (exit 1), in text and in --json."""
    cid = _campaign(url, late_by=timedelta(hours=7))
    result = CliRunner().invoke(main, ["run-due"])
    assert result.exit_code == 1
    assert f"campaign {cid}" in result.output and "--send-late" in result.output
    report = json.loads(CliRunner().invoke(main, ["run-due", "--json"]).output)
    assert [r["id"] for r in report["held_late"]] == [cid]
    assert report["held_late"][0]["late"] is True and report["exit_code"] == 1


def test_run_due_with_nothing_due_exits_0(url: str) -> None:
    """With nothing due, run-due says so and exits 0; with -q it prints nothing."""
    _campaign(url, late_by=timedelta(hours=-1))
    result = CliRunner().invoke(main, ["run-due"])
    assert result.exit_code == 0 and result.output == "Nothing is due.\n"
    quiet = CliRunner().invoke(main, ["-q", "run-due"])
    assert quiet.exit_code == 0 and quiet.output == ""
