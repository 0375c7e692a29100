"""Imports from other tools (Mailchimp, listmonk, Substack, Buttondown, Ghost) and the rule
behind every import: no file order ever subscribes an address a file says left, bounced,
complained or never confirmed. Real-shaped exports live in tests/data/imports/."""

from __future__ import annotations

import json
import zipfile
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select, text

from mailer import db
from mailer.audience.csvimport import import_csv, import_file
from mailer.cli import main
from mailer.db import migrations
from mailer.delivery.recipients import eligible
from mailer.errors import SubscriberError

DATA = Path(__file__).parent / "data" / "imports"
MC_SUB = DATA / "subscribed_members_export_9f1c2e.csv"
MC_UNSUB = DATA / "unsubscribed_members_export_9f1c2e.csv"
MC_CLEAN = DATA / "cleaned_members_export_9f1c2e.csv"
TOOL_FILES = [
    DATA / "listmonk_subscribers.csv",
    DATA / "substack_subscribers.csv",
    DATA / "buttondown_subscribers.csv",
    DATA / "ghost_members.csv",
]
#: leavers first, the subscribed file last: the order that used to subscribe everybody
WORST_ORDER = [MC_UNSUB, MC_CLEAN, *TOOL_FILES, MC_SUB]

EXPECTED = {
    "ayse.demir@example.org": "subscribed",
    "john.miller@example.org": "subscribed",
    "left.later@example.org": "unsubscribed",  # in the unsubscribed AND the subscribed file
    "mehmet@example.org": "unsubscribed",
    "dead.box@example.org": "bounced",  # cleaned, and in the subscribed file
    "lm.enabled@example.org": "subscribed",
    "lm.blocked@example.org": "unsubscribed",
    "lm.disabled@example.org": "unsubscribed",
    "ss.reader@example.org": "subscribed",
    "ss.paid@example.org": "subscribed",
    "ss.off@example.org": "unsubscribed",
    "bd.regular@example.org": "subscribed",
    "bd.unconfirmed@example.org": "pending",
    "bd.gone@example.org": "unsubscribed",
    "gh.member@example.org": "subscribed",
    "gh.optout@example.org": "unsubscribed",
}


def _snapshot(engine: Any) -> dict[str, tuple[Any, ...]]:
    """Every subscriber's stored state (and its lists and consents), by address."""
    s, m, c = db.subscribers, db.memberships, db.consents
    with db.read(engine) as conn:
        lists = {
            sid: lid for sid, lid in conn.execute(select(m.c.subscriber_id, m.c.list_id)).all()
        }
        consents = {
            r.subscriber_id: (r.source, r.opted_in_at, r.optin_ip, r.confirmed_at, r.confirm_ip)
            for r in conn.execute(select(c)).all()
        }
        rows = conn.execute(select(s)).all()
    return {
        r.email: (
            r.name,
            r.language,
            r.status,
            r.status_reason,
            r.status_changed_at if r.status != "subscribed" else None,
            json.dumps(r.attributes, sort_keys=True),
            r.id in lists,
            consents.get(r.id),
        )
        for r in rows
    }


def _statuses(engine: Any) -> dict[str, str]:
    with db.read(engine) as conn:
        return dict(conn.execute(select(db.subscribers.c.email, db.subscribers.c.status)).all())


def test_worst_order_subscribes_only_the_subscribed_and_twice_changes_nothing(
    db_url: str,
) -> None:
    """Every tool's export imported leavers first, subscribed file last, into one list: only
    the readers every file calls subscribed end up subscribed; importing it all again
    changes nothing."""
    engine = db.connect(db_url)
    reports = [import_csv(engine, f, "everyone") for f in WORST_ORDER]
    assert [r.tool for r in reports] == [
        "mailchimp",
        "mailchimp",
        "listmonk",
        "substack",
        "buttondown",
        "ghost",
        "mailchimp",
    ]
    assert reports[0].tool_label == "Mailchimp unsubscribed members"
    assert dict(reports[0].statuses) == {"unsubscribed": 2}
    assert dict(reports[1].statuses) == {"bounced": 1}
    assert dict(reports[4].statuses) == {"subscribed": 1, "pending": 1, "unsubscribed": 1}
    # the subscribed file meets a leaver and a bounce: skipped, saying why
    assert [(s.email, s.reason) for s in reports[-1].skipped_rows] == [
        ("left.later@example.org", "unsubscribed"),
        ("dead.box@example.org", "bounced"),
    ]
    assert _statuses(engine) == EXPECTED
    before = _snapshot(engine)
    again = [import_csv(engine, f, "everyone") for f in WORST_ORDER]
    assert sum(r.added + r.updated for r in again) == 0
    assert _snapshot(engine) == before


def test_what_came_with_the_reader_is_kept(db_url: str) -> None:
    """Consent (OPTIN/CONFIRM time and IP), the unsubscribe time and reason, tags (Mailchimp
    TAGS, Buttondown tags, Ghost labels), names from first/last name are stored."""
    engine = db.connect(db_url)
    for f in WORST_ORDER:
        import_csv(engine, f, "everyone")
    snap = _snapshot(engine)
    name, _lang, status, _reason, _at, attrs, member, consent = snap["ayse.demir@example.org"]
    assert (name, status, member) == ("Ayşe Demir", "subscribed", True)
    assert consent == (
        "mailchimp",
        datetime(2021, 3, 1, 10, 0, 0),
        "203.0.113.5",
        datetime(2021, 3, 1, 10, 5, 12),
        "203.0.113.5",
    )
    assert json.loads(attrs)["tags"] == ["Donor", "Volunteer"]
    assert "leid" not in json.loads(attrs) and json.loads(attrs)["notes"].startswith("met at")
    left = snap["left.later@example.org"]
    assert left[2:5] == (
        "unsubscribed",
        "NORMAL: I get too many emails",
        datetime(2023, 2, 14, 12, 0, 0),
    )
    assert left[7] is not None and left[7][2] == "192.0.2.44"
    assert snap["dead.box@example.org"][4] == datetime(2022, 12, 1, 7, 0, 0)
    assert json.loads(snap["bd.regular@example.org"][5])["tags"] == ["donor", "news"]
    assert json.loads(snap["gh.member@example.org"][5])["tags"] == ["Press", "VIP"]
    assert json.loads(snap["lm.enabled@example.org"][5]) == {"city": "Amman", "language": "ar"}


def _zip(tmp_path: Path) -> Path:
    path = tmp_path / "mailchimp_audience_export.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for f in (MC_SUB, MC_UNSUB, MC_CLEAN):
            zf.write(f, f.name)
    return path


def test_mailchimp_zip_is_its_three_csvs(
    db_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """The Mailchimp audience ZIP imported in one command gives the same database as its
    three CSV files imported one by one (subscribed first, the worst order)."""
    engine = db.connect(db_url)
    reports = import_file(engine, _zip(tmp_path), "partners")
    assert sorted(r.tool_label for r in reports) == [
        "Mailchimp cleaned (bounced) members",
        "Mailchimp subscribed members",
        "Mailchimp unsubscribed members",
    ]
    if db_url.startswith("sqlite"):
        other_url = f"sqlite:///{tmp_path / 'csvs.db'}"
    else:
        other_url = request.getfixturevalue("postgres").create_database()
    other = db.connect(other_url)
    for f in (MC_SUB, MC_UNSUB, MC_CLEAN):
        import_csv(other, f, "partners")
    assert _snapshot(engine) == _snapshot(other)
    assert _statuses(engine)["left.later@example.org"] == "unsubscribed"
    assert _statuses(engine)["dead.box@example.org"] == "bounced"


def test_plain_csv_status_never_lifted(db_url: str, tmp_path: Path) -> None:
    """In a plain CSV too: a pending address is not subscribed by a later file, a later
    unsubscribed row does move it, and a subscribed reader a file calls pending is held back."""
    engine = db.connect(db_url)
    files = {
        "a.csv": "email,status\np@example.org,pending\ns@example.org,subscribed\n",
        "b.csv": "email,status\np@example.org,subscribed\ns@example.org,pending\n",
        "c.csv": "email,status\np@example.org,unsubscribed\n",
    }
    for name, body in files.items():
        (tmp_path / name).write_text(body, encoding="utf-8")
    import_csv(engine, tmp_path / "a.csv", "l")
    second = import_csv(engine, tmp_path / "b.csv", "l")
    assert [(s.email, s.reason) for s in second.skipped_rows] == [("p@example.org", "pending")]
    assert _statuses(engine) == {"p@example.org": "pending", "s@example.org": "pending"}
    import_csv(engine, tmp_path / "c.csv", "l")
    assert _statuses(engine)["p@example.org"] == "unsubscribed"


def test_import_never_re_adds_a_reader_who_left_the_list(db_url: str, tmp_path: Path) -> None:
    """A reader who left list A (on B still) is skipped by an import into A with the reason
    "left this list (unsubscribed on <date>)", twice over, and stays `left` on A."""
    from mailer.audience import add
    from mailer.audience.optin import leave_list

    engine = db.connect(db_url)
    with db.transaction(engine) as conn:
        for lst in ("A", "B"):
            sid = add(conn, "left@example.org", lst, name="Left").subscriber_id
        add(conn, "stays@example.org", "A")
        list_a = db.get_or_create_list(conn, "A")
        assert leave_list(conn, sid, list_a)
        left_at = conn.execute(
            select(db.memberships.c.left_at).where(
                db.memberships.c.subscriber_id == sid, db.memberships.c.list_id == list_a
            )
        ).scalar_one()
    path = tmp_path / "again.csv"
    path.write_text(
        "email,name\nLeft@example.org,Left Again\nstays@example.org,Stays\n", encoding="utf-8"
    )
    reason = f"left this list (unsubscribed on {left_at.date().isoformat()})"
    for _ in range(2):
        report = import_csv(engine, path, "A")
        assert [(r.line, r.email, r.reason) for r in report.skipped_rows] == [
            (2, "Left@example.org", reason)
        ]
        assert report.as_dict()["skipped"] == {"left": 1}
    m, ls = db.memberships, db.lists
    with db.read(engine) as conn:
        states = dict(
            conn.execute(
                select(ls.c.name, m.c.status)
                .select_from(m.join(ls, ls.c.id == m.c.list_id))
                .where(m.c.subscriber_id == sid)
            ).all()
        )
        name = conn.execute(
            select(db.subscribers.c.name).where(db.subscribers.c.id == sid)
        ).scalar_one()
    assert states == {"A": "left", "B": "subscribed"} and name == "Left"


def test_pending_readers_are_never_sent_to(db_url: str, tmp_path: Path) -> None:
    """The delivery stage selects only subscribed members: pending ones are not recipients."""
    engine = db.connect(db_url)
    path = tmp_path / "p.csv"
    path.write_text("email,status\nyes@example.org,subscribed\nwait@example.org,pending\n")
    import_csv(engine, path, "l")
    with db.read(engine) as conn:
        lid = conn.execute(select(db.lists.c.id)).scalar_one()
        got = [r.email for r in conn.execute(eligible(0, lid)).all()]
    assert got == ["yes@example.org"]


@pytest.mark.parametrize(
    ("header", "named"),
    [
        ("email,name,unsubscribed", "'unsubscribed'"),
        ("email,opt_out,Do Not Email", "'opt_out', 'Do Not Email'"),
        ("email,suppressed", "'suppressed'"),
        ("Email;Blocked", "'Blocked'"),
    ],
)
def test_opt_out_columns_mailer_does_not_understand_refuse_the_file(
    tmp_path: Path, header: str, named: str
) -> None:
    """A file with opt-out-looking columns mailer has no meaning for is refused, naming them,
    and nothing is written."""
    path = tmp_path / "x.csv"
    sep = ";" if ";" in header else ","
    path.write_text(f"{header}\na@example.org{sep}{sep.join(['yes'] * header.count(sep))}\n")
    engine = db.connect(f"sqlite:///{tmp_path / 'm.db'}")
    with pytest.raises(SubscriberError) as exc:
        import_csv(engine, path, "l")
    assert f"which mailer does not understand: {named}" in exc.value.message
    assert "status" in (exc.value.hint or "")
    assert _statuses(engine) == {}


def test_control_characters_refused_with_line_and_column(tmp_path: Path) -> None:
    """NUL, CR, LF and other C0 characters are refused in any field with the column; a TAB is
    kept."""
    path = tmp_path / "c.csv"
    path.write_bytes(
        b"email,name,city\n"
        b"nul@example.org,A\x00B,X\n"
        b'lf@example.org,Ok,"Two\nlines"\n'
        b"bell@example.org,Ok,Ankara\x07\n"
        b"tab@example.org,Tab\tName,Ankara\n"
    )
    engine = db.connect(f"sqlite:///{tmp_path / 'm.db'}")
    report = import_csv(engine, path, "l")
    assert [(r.line, r.email, r.reason.split(":")[0]) for r in report.rejected] == [
        (2, "nul@example.org", "column 'name' holds NUL"),
        (3, "lf@example.org", "column 'city' holds a line break (LF)"),
        (5, "bell@example.org", "column 'city' holds the control character U+0007"),
    ]
    assert _statuses(engine) == {"tab@example.org": "subscribed"}


def test_language_names_read_as_codes_or_refused(tmp_path: Path) -> None:
    """ "English", "Türkçe", "Arabic", "العربية" become en, tr, ar with a note; a name mailer
    does not know is refused, saying to write the code."""
    path = tmp_path / "l.csv"
    path.write_text(
        "email,language\na@example.org,English\nb@example.org,Türkçe\nc@example.org,Arabic\n"
        "d@example.org,العربية\ne@example.org,Klingonish\n",
        encoding="utf-8",
    )
    engine = db.connect(f"sqlite:///{tmp_path / 'm.db'}")
    report = import_csv(engine, path, "l")
    assert dict(report.notes) == {
        "language 'English' read as en": 1,
        "language 'Türkçe' read as tr": 1,
        "language 'Arabic' read as ar": 1,
        "language 'العربية' read as ar": 1,
    }
    assert [(r.line, r.reason) for r in report.rejected] == [
        (6, "language 'Klingonish' is not a language code")
    ]
    with db.read(engine) as conn:
        langs = dict(conn.execute(select(db.subscribers.c.email, db.subscribers.c.language)).all())
    assert langs == {
        "a@example.org": "en",
        "b@example.org": "tr",
        "c@example.org": "ar",
        "d@example.org": "ar",
    }


def test_archived_rows_are_reported_not_imported(tmp_path: Path) -> None:
    """A Mailchimp contacts file with a status column: archived rows are not imported and are
    listed as such; cleaned is bounced, pending is pending."""
    path = tmp_path / "members.csv"
    path.write_text(
        "Email Address,First Name,MEMBER_RATING,OPTIN_TIME,LEID,EUID,Status\n"
        "arch@example.org,A,1,,1,e1,archived\n"
        "cl@example.org,C,1,,2,e2,cleaned\n"
        "pe@example.org,P,1,,3,e3,pending\n"
    )
    engine = db.connect(f"sqlite:///{tmp_path / 'm.db'}")
    report = import_csv(engine, path, "l")
    assert [(s.line, s.email, s.reason) for s in report.skipped_rows] == [
        (2, "arch@example.org", "archived in mailchimp: not imported")
    ]
    assert _statuses(engine) == {"cl@example.org": "bounced", "pe@example.org": "pending"}


def test_from_names_what_the_file_lacks(tmp_path: Path) -> None:
    """--from listmonk on a file that is not listmonk's export is refused, naming the missing
    columns."""
    engine = db.connect(f"sqlite:///{tmp_path / 'm.db'}")
    with pytest.raises(SubscriberError) as exc:
        import_csv(engine, DATA / "ghost_members.csv", "l", source="listmonk")
    assert "not a listmonk subscribers export: the header lacks attributes, status, uuid" in (
        exc.value.message
    )


@pytest.fixture
def cli(project: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """A CLI runner in a copy of the sample project, on the test's database."""
    monkeypatch.setenv("MAILER_DATABASE_URL", db_url)
    return CliRunner()


def test_cli_zip_dry_run_reports_each_file(cli: CliRunner, tmp_path: Path, db_url: str) -> None:
    """`import ZIP --dry-run` says per file which tool it recognised and how many rows went to
    each status, and writes nothing; the real import then writes the same."""
    path = _zip(tmp_path)
    result = cli.invoke(main, ["subscribers", "import", str(path), "--list", "p", "--dry-run"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert (
        f"{path}:unsubscribed_members_export_9f1c2e.csv (Mailchimp unsubscribed members) -> "
        "list p (dry run: nothing written)"
    ) in out
    # left.later's consent came with the subscribed file: one new record here
    assert "in the file: unsubscribed 2; consent records 1" in out
    assert "in the file: bounced 1; consent records 1" in out
    # the ZIP's files in name order: the unsubscribed file moves a subscribed address
    assert "added 1, updated 1, unchanged 0, skipped 0, rejected 0, rows read 2" in out
    assert _statuses(db.connect(db_url)) == {}
    as_json = cli.invoke(main, ["subscribers", "import", str(path), "--list", "p", "--json"])
    reports = json.loads(as_json.output)
    assert [r["tool"] for r in reports] == ["mailchimp"] * 3
    assert sum(r["added"] for r in reports) == 5


def test_migration_2_adds_status_reason_and_consents(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database at version 1 gains subscribers.status_reason and the consents table from
    migration 2 and keeps its rows (later steps are left out: they test themselves)."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = db.connect(url)
    with db.transaction(engine) as conn:
        conn.execute(text("DROP TABLE consents"))
        conn.execute(text("ALTER TABLE subscribers DROP COLUMN status_reason"))
        conn.execute(text("UPDATE schema_version SET version = 1"))
        conn.execute(
            text(
                "INSERT INTO subscribers (email, email_key, name, attributes, status, "
                "created_at, updated_at) VALUES ('old@example.org', 'old@example.org', 'Old', "
                "'{}', 'subscribed', '2020-01-01 00:00:00', '2020-01-01 00:00:00')"
            )
        )
    db.dispose_all()
    monkeypatch.setattr(migrations, "MIGRATIONS", db.MIGRATIONS[:2])
    monkeypatch.setattr(migrations, "SCHEMA_VERSION", 2)
    engine = db.connect(url)
    with db.read(engine) as conn:
        assert db.current_version(conn) == 2
        columns = {c["name"] for c in db.inspect(conn).get_columns("subscribers")}
        assert "status_reason" in columns and db.inspect(conn).has_table("consents")
        rows = conn.execute(text("SELECT email, status, status_reason FROM subscribers")).all()
    assert [tuple(r) for r in rows] == [("old@example.org", "subscribed", None)]
