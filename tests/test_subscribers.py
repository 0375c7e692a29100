"""Subscribers and lists: the library and the `mailer subscribers` / `mailer lists` commands."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from mailer import db
from mailer.audience.csvimport import import_csv
from mailer.audience.subscribers import (
    add,
    export_csv,
    find,
    list_id,
    lists_with_counts,
    set_status,
    spreadsheet_safe,
    unsubscribe,
)
from mailer.cli import main
from mailer.db import SubscriberStatus
from mailer.errors import SubscriberError

ROOT = Path(__file__).resolve().parent.parent


def test_add_is_case_insensitive_and_updates(db_url: str) -> None:
    """Adding the same address in other case updates the one subscriber instead of adding one."""
    engine = db.connect(db_url)
    with db.transaction(engine) as conn:
        first = add(conn, "Ayse.Demir@Example.ORG", "partners", name="Ayşe", language="TR")
        again = add(conn, "ayse.demir@example.org", "partners", name="Ayşe Demir")
        same = add(conn, "AYSE.DEMIR@EXAMPLE.ORG", "partners")
        other_list = add(conn, "ayse.demir@example.org", "press")
    assert first.outcome == "added" and first.email == "Ayse.Demir@example.org"
    assert (again.outcome, same.outcome, other_list.outcome) == ("updated", "unchanged", "updated")
    assert len({first.subscriber_id, again.subscriber_id, same.subscriber_id}) == 1
    with db.read(engine) as conn:
        row = find(conn, "AYSE.demir@example.org")
        assert (row.name, row.language, row.status) == ("Ayşe Demir", "tr", "subscribed")
        counts = {c.name: c.as_dict() for c in lists_with_counts(conn)}
    assert counts["partners"]["subscribed"] == 1 and counts["press"]["total"] == 1


def test_case_sensitive_local_part_option(db_url: str) -> None:
    """With case-sensitive local parts, only the domain is folded for uniqueness."""
    engine = db.connect(db_url)
    with db.transaction(engine) as conn:
        a = add(conn, "Ali@EXAMPLE.org", "partners", case_sensitive_local=True)
        b = add(conn, "ali@example.ORG", "partners", case_sensitive_local=True)
        c = add(conn, "Ali@example.org", "partners", case_sensitive_local=True)
    assert (a.outcome, b.outcome, c.outcome) == ("added", "added", "unchanged")


def test_unsubscribed_is_never_silently_resubscribed(db_url: str) -> None:
    """add refuses an unsubscribed address unless told the person asked to come back."""
    engine = db.connect(db_url)
    with db.transaction(engine) as conn:
        add(conn, "omar@example.org", "partners")
        assert unsubscribe(conn, "OMAR@example.org") == "subscribed"
        assert unsubscribe(conn, "omar@example.org") == "unsubscribed"
    with db.transaction(engine) as conn, pytest.raises(SubscriberError, match="unsubscribed"):
        add(conn, "omar@example.org", "partners")
    with db.transaction(engine) as conn:
        result = add(conn, "omar@example.org", "partners", resubscribe=True)
        assert result.outcome == "updated"
        assert find(conn, "omar@example.org").status == "subscribed"
        events = conn.execute(select(db.events.c.type, db.events.c.data)).all()
    assert [(e.type, e.data) for e in events] == [("unsubscribe", {"source": "cli"})]


def test_complaint_is_never_downgraded(db_url: str) -> None:
    """A complained subscriber stays complained when a later bounce or unsubscribe arrives."""
    engine = db.connect(db_url)
    with db.transaction(engine) as conn:
        sid = add(conn, "c@example.org", "partners").subscriber_id
        assert set_status(conn, sid, SubscriberStatus.COMPLAINED) == "subscribed"
        assert set_status(conn, sid, SubscriberStatus.BOUNCED) == "complained"
        assert set_status(conn, 10_000, "bounced") is None
        assert find(conn, "c@example.org").status == "complained"


def test_list_id_names_known_lists(db_url: str) -> None:
    """list_id returns the id, and a missing list is an error naming the lists that exist."""
    engine = db.connect(db_url)
    with db.transaction(engine) as conn:
        add(conn, "a@example.org", "partners")
        add(conn, "b@example.org", "donors")
    with db.read(engine) as conn:
        assert list_id(conn, "partners") == db.get_or_create_list(conn, "partners")
        with pytest.raises(SubscriberError) as info:
            list_id(conn, "press")
    assert info.value.hint == "known lists: donors, partners"


def test_unsubscribe_unknown_address(db_url: str) -> None:
    """Unsubscribing an address that is not in the database is a clear error."""
    engine = db.connect(db_url)
    with db.transaction(engine) as conn, pytest.raises(SubscriberError, match="not a subscriber"):
        unsubscribe(conn, "nobody@example.org")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+90 312", "'+90 312"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("Ayşe", "Ayşe"),
        ("a=b", "a=b"),
        ("'@x", "''@x"),
        ("'quoted'", "'quoted'"),
        ("", ""),
    ],
)
def test_spreadsheet_safe(value: str, expected: str) -> None:
    """Cells a spreadsheet would run as formulas get a leading quote; others are unchanged."""
    assert spreadsheet_safe(value) == expected


def test_export_columns_safety_and_round_trip(db_url: str, tmp_path: Path) -> None:
    """Export starts with email,name,language,status, neutralises formulas, flattens attributes,
    and the exported file imports back unchanged."""
    engine = db.connect(db_url)
    with db.transaction(engine) as conn:
        add(
            conn,
            "ayse@example.org",
            "partners",
            name="=cmd|' /C calc'!A0",
            language="tr",
            attributes={"organisation": "Support to Life", "phone": "+90 312 454 3000"},
        )
        add(conn, "ayse@example.org", "press")
        add(conn, "john@example.org", "donors", name="John, Jr.", language="en")
        unsubscribe(conn, "john@example.org")
    out = io.StringIO()
    with db.read(engine) as conn:
        assert export_csv(conn, out) == 2
        partners = io.StringIO()
        assert export_csv(conn, partners, list_name="partners") == 1
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert rows[0] == [
        "email",
        "name",
        "language",
        "status",
        "lists",
        "organisation",
        "phone",
        "source",
        "created_at",
        "updated_at",
    ]
    assert rows[1][:7] == [
        "ayse@example.org",
        "'=cmd|' /C calc'!A0",
        "tr",
        "subscribed",
        "partners;press",
        "Support to Life",
        "'+90 312 454 3000",
    ]
    assert rows[2][:7] == ["john@example.org", "John, Jr.", "en", "unsubscribed", "donors", "", ""]
    assert len(list(csv.reader(io.StringIO(partners.getvalue())))) == 2

    path = tmp_path / "export.csv"
    path.write_text(out.getvalue(), encoding="utf-8")
    report = import_csv(engine, path, "partners")
    assert (report.added, report.updated, report.unchanged) == (0, 0, 1)
    assert dict(report.skipped) == {"unsubscribed": 1}
    with db.read(engine) as conn:
        row = find(conn, "ayse@example.org")
    assert row.name == "=cmd|' /C calc'!A0"
    assert row.attributes == {"organisation": "Support to Life", "phone": "+90 312 454 3000"}


# -- the commands ------------------------------------------------------------
@pytest.fixture
def cli(project: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """A CLI runner in a copy of the sample project, on the test's database."""
    monkeypatch.setenv("MAILER_DATABASE_URL", db_url)
    return CliRunner()


def test_cli_import_example_and_lists(cli: CliRunner) -> None:
    """The demo's import of subscribers.csv.example succeeds with its three rejected rows (the
    language name "English" is read as en, with a note), and `mailer lists` counts the list."""
    result = cli.invoke(
        main, ["subscribers", "import", "subscribers.csv.example", "--list", "partners"]
    )
    assert result.exit_code == 0, result.output
    assert (
        "added 26, updated 0, unchanged 0, skipped 1 (1 duplicate), rejected 3, rows read 30"
        in result.output
    )
    assert "note: language 'English' read as en (1 row)" in result.output
    for bad in (
        "ali.kaya@@partners.example.org",
        "hatice.aksoy.partners.example.org",
        "info@relief-network",
    ):
        assert bad in result.output
    result = cli.invoke(main, ["lists", "--json"])
    assert result.exit_code == 0
    assert json.loads(result.output) == [
        {
            "name": "partners",
            "total": 26,
            "subscribed": 26,
            "unsubscribed": 0,
            "bounced": 0,
            "complained": 0,
            "pending": 0,
        }
    ]
    plain = cli.invoke(main, ["lists"])
    assert plain.output.splitlines() == [
        "list\tsubscribed\tunsubscribed\tbounced\tcomplained\tpending\ttotal",
        "partners\t26\t0\t0\t0\t0\t26",
    ]


def test_cli_import_json_and_dry_run(cli: CliRunner) -> None:
    """`import --dry-run --json` prints the exact report and writes nothing."""
    result = cli.invoke(
        main,
        [
            "subscribers",
            "import",
            "subscribers.csv.example",
            "--list",
            "partners",
            "--dry-run",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert (report["added"], report["dry_run"], report["skipped"]) == (26, True, {"duplicate": 1})
    assert [r["line"] for r in report["rejected"]] == [28, 29, 30]
    assert (report["tool"], report["statuses"]) == ("csv", {"subscribed": 30 - 3})
    assert json.loads(cli.invoke(main, ["lists", "--json"]).output) == []


def test_cli_import_failures_exit_1(cli: CliRunner, tmp_path: Path) -> None:
    """An unreadable file, or one where every row is rejected, exits 1 with a clean message."""
    result = cli.invoke(main, ["subscribers", "import", "missing.csv", "--list", "p"])
    assert result.exit_code == 1 and "cannot read missing.csv" in result.output
    bad = tmp_path / "bad.csv"
    bad.write_text("email\nnot-an-address\n", encoding="utf-8")
    result = cli.invoke(main, ["subscribers", "import", str(bad), "--list", "p"])
    assert result.exit_code == 1
    assert "nothing imported" in result.output and "Traceback" not in result.output


def test_cli_add_unsubscribe_export(cli: CliRunner, project: Path) -> None:
    """add, unsubscribe and export work end to end through the CLI."""
    r = cli.invoke(
        main,
        [
            "subscribers",
            "add",
            "Ayse@Example.org",
            "--list",
            "press",
            "--name",
            "Ayşe Kaya",
            "--language",
            "tr",
        ],
    )
    assert (r.exit_code, r.output) == (0, "added: Ayse@example.org (list press)\n")
    r = cli.invoke(main, ["subscribers", "add", "bad@", "--list", "press"])
    assert r.exit_code == 1 and "invalid email address" in r.output
    r = cli.invoke(
        main, ["subscribers", "add", "x@example.org", "--list", "press", "--language", "klingon"]
    )
    assert r.exit_code == 1 and "BCP 47" in r.output
    r = cli.invoke(main, ["subscribers", "unsubscribe", "ayse@example.org"])
    assert (r.exit_code, r.output) == (0, "unsubscribed: ayse@example.org\n")
    r = cli.invoke(main, ["subscribers", "add", "ayse@example.org", "--list", "press"])
    assert r.exit_code == 1 and "--resubscribe" in r.output
    r = cli.invoke(main, ["subscribers", "export", "--list", "press", "-o", "press.csv"])
    assert r.exit_code == 0
    data = (project / "press.csv").read_bytes()
    assert data.startswith(b"\xef\xbb\xbfemail,name,language,status,lists,")
    assert "Ayse@example.org,Ayşe Kaya,tr,unsubscribed,press," in data.decode("utf-8-sig")
    r = cli.invoke(main, ["subscribers", "export", "--list", "nope"])
    assert r.exit_code == 1 and "known lists: press" in r.output


@pytest.mark.parametrize(
    "args",
    [
        ["subscribers", "import"],
        ["subscribers", "export"],
        ["subscribers", "add"],
        ["subscribers", "unsubscribe"],
        ["lists"],
        ["subscribers"],
    ],
)
def test_help_ends_with_example(args: list[str]) -> None:
    """Every command's help ends with an Example section."""
    result = CliRunner().invoke(main, [*args, "--help"])
    assert result.exit_code == 0
    body = result.output.split("Options:")[0]
    assert "Example:" in body and "mailer " in body.split("Example:")[1]


def test_cli_case_sensitive_setting(cli: CliRunner, project: Path) -> None:
    """With `email_case_sensitive = true` in mailer.toml, local parts differing in case are two
    subscribers; the domain is still folded."""
    toml = project / "mailer.toml"
    toml.write_text(
        "email_case_sensitive = true\n" + toml.read_text(encoding="utf-8"), encoding="utf-8"
    )
    outputs = [
        cli.invoke(main, ["subscribers", "add", address, "--list", "press"]).output
        for address in ("Ali@example.org", "ali@example.org", "Ali@EXAMPLE.org")
    ]
    assert outputs == [
        "added: Ali@example.org (list press)\n",
        "added: ali@example.org (list press)\n",
        "unchanged: Ali@example.org (list press)\n",
    ]
