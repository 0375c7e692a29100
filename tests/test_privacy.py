"""Erasure and access requests: `mailer subscribers forget` and `show`, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from mailer import db
from mailer.cli import main
from mailer.config import load_config
from tracking_helpers import seed

ADDRESS = "reader1@example.net"


@pytest.fixture
def cli(project: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """A CLI runner in a copy of the sample project, on the test's database."""
    monkeypatch.setenv("MAILER_DATABASE_URL", db_url)
    return CliRunner()


def seeded(project: Path) -> tuple[db.Engine, int, int]:
    """The sample project's database seeded with a sent campaign to three readers, one of
    them (reader1) with a click event and a consent; (engine, campaign id, reader1's id)."""
    s = seed(load_config(project / "mailer.toml"))
    sid = s.subscribers[1]
    with db.transaction(s.engine) as conn:
        conn.execute(
            db.events.insert().values(
                type="click", campaign_id=s.campaign_id, subscriber_id=sid, user_agent="UA"
            )
        )
        list_id = conn.execute(select(db.lists.c.id)).scalar()
        conn.execute(
            db.consents.insert().values(
                subscriber_id=sid, list_id=list_id, source="form:site", text="Yes, send it"
            )
        )
    return s.engine, s.campaign_id, sid


def count(engine: db.Engine, table: db.Table, **where: object) -> int:
    q = select(func.count()).select_from(table)
    for key, value in where.items():
        q = q.where(table.c[key] == value)
    with db.read(engine) as conn:
        return int(conn.execute(q).scalar() or 0)


def test_show_json_has_every_field(cli: CliRunner, project: Path) -> None:
    """`show --json` gives the subscriber, lists, consents, deliveries and events held."""
    _, campaign_id, _ = seeded(project)
    result = cli.invoke(main, ["subscribers", "show", ADDRESS.upper(), "--json"])
    assert result.exit_code == 0, result.output
    held = json.loads(result.output)
    assert set(held) >= {"subscriber", "lists", "consents", "deliveries", "events", "forgotten"}
    assert held["subscriber"]["email"] == ADDRESS and held["subscriber"]["name"] == "R1"
    assert [x["list"] for x in held["lists"]] == ["partners"]
    assert held["consents"][0]["text"] == "Yes, send it"
    assert held["deliveries"][0]["campaign_id"] == campaign_id
    assert held["deliveries"][0]["status"] == "accepted"
    assert [(e["type"], e["user_agent"]) for e in held["events"]] == [("click", "UA")]
    assert held["forgotten"] is False
    plain = cli.invoke(main, ["subscribers", "show", ADDRESS])
    assert "consents (1)" in plain.output and "events (1)" in plain.output


def test_forget_removes_everything_but_a_keyed_hash(cli: CliRunner, project: Path) -> None:
    """`forget` deletes the subscriber's row, memberships, consents, deliveries and events,
    leaves the other readers alone, and stores only a hash that is not the address."""
    engine, _, sid = seeded(project)
    result = cli.invoke(main, ["subscribers", "forget", ADDRESS, "--yes"])
    assert result.exit_code == 0, result.output
    assert "forgotten: reader1@example.net" in result.output
    assert count(engine, db.subscribers, email=ADDRESS) == 0
    for table in (db.memberships, db.consents, db.deliveries, db.events):
        assert count(engine, table, subscriber_id=sid) == 0, table.name
    assert count(engine, db.subscribers) == 2
    assert count(engine, db.deliveries) == 2
    with db.read(engine) as conn:
        (stored,) = conn.execute(select(db.forgotten.c.email_hash)).scalars()
    assert len(stored) == 64 and ADDRESS not in stored
    held = json.loads(cli.invoke(main, ["subscribers", "show", ADDRESS, "--json"]).output)
    assert held["subscriber"] is None and held["forgotten"] is True
    assert held["events"] == [] and held["deliveries"] == []


def test_forget_refuses_without_yes_when_no_terminal(cli: CliRunner, project: Path) -> None:
    """Without a terminal to ask, `forget` erases nothing unless --yes is given."""
    engine, _, _ = seeded(project)
    result = cli.invoke(main, ["subscribers", "forget", ADDRESS])
    assert result.exit_code != 0
    assert "--yes" in result.output
    assert count(engine, db.subscribers, email=ADDRESS) == 1


@pytest.mark.parametrize("key", [None, "a-secret-key-for-hmac-0123456789"])
def test_forgotten_address_is_not_imported_again(
    cli: CliRunner, project: Path, monkeypatch: pytest.MonkeyPatch, key: str | None
) -> None:
    """After `forget` (keyed with MAILER_SECRET_KEY or, without it, the database's salt), an
    import of the address in any case does not subscribe it and the report says why."""
    if key:
        monkeypatch.setenv("MAILER_SECRET_KEY", key)
    engine, _, _ = seeded(project)
    assert cli.invoke(main, ["subscribers", "forget", ADDRESS, "--yes"]).exit_code == 0
    csv = project / "again.csv"
    csv.write_text("email,name\nREADER1@example.net,Back Again\nnew@example.net,New\n")
    result = cli.invoke(main, ["subscribers", "import", str(csv), "--list", "partners", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["added"] == 1
    text = json.dumps(report)
    assert "forgotten (this address was erased on request" in text
    assert count(engine, db.subscribers, email_key=ADDRESS) == 0
    assert count(engine, db.subscribers, email_key="new@example.net") == 1
