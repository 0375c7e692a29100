"""CSV import: real messy files into real SQLite and PostgreSQL databases."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import Engine

from mailer import db
from mailer.audience.csvimport import ImportFailed, import_csv
from mailer.audience.subscribers import add, set_status
from mailer.db import SubscriberStatus
from mailer.errors import DatabaseError, SubscriberError

DATA = Path(__file__).parent / "data"
MESSY = DATA / "messy.csv"


def _seed(engine: Engine) -> None:
    """The database state the messy file meets: one unsubscribed, one bounced, two known."""
    with db.transaction(engine) as conn:
        gone = add(conn, "gone@example.org", "partners", name="Gone Person")
        set_status(conn, gone.subscriber_id, SubscriberStatus.UNSUBSCRIBED)
        bounce = add(conn, "bounce@example.org", "partners")
        set_status(conn, bounce.subscriber_id, "bounced")
        add(
            conn,
            "kept@example.org",
            "partners",
            name="Kept Same",
            language="en",
            attributes={"first_name": "Kept", "last_name": "Same"},
        )
        add(conn, "moved@example.org", "press", name="Moved Person", language="en")


def _counts(engine: Engine) -> tuple[int, int, int]:
    with db.read(engine) as conn:
        return (
            conn.execute(select(func.count()).select_from(db.subscribers)).scalar_one(),
            conn.execute(select(func.count()).select_from(db.memberships)).scalar_one(),
            conn.execute(select(func.count()).select_from(db.lists)).scalar_one(),
        )


def _subscriber(engine: Engine, key: str) -> dict[str, object]:
    with db.read(engine) as conn:
        row = conn.execute(select(db.subscribers).where(db.subscribers.c.email_key == key)).one()
        lists = (
            conn.execute(
                select(db.lists.c.name)
                .join(db.memberships, db.memberships.c.list_id == db.lists.c.id)
                .where(db.memberships.c.subscriber_id == row.id)
                .order_by(db.lists.c.name)
            )
            .scalars()
            .all()
        )
    return {**row._asdict(), "lists": lists}


def test_messy_csv_exact_report(db_url: str) -> None:
    """BOM, semicolons, quoted newlines, case duplicates, blanks, bad rows and suppressed
    addresses give exactly the expected counts and per-line reasons; a line break inside a
    field is refused with its line and column, a language name is read as its code."""
    engine = db.connect(db_url)
    _seed(engine)
    report = import_csv(engine, MESSY, "partners", batch_size=4)
    assert (report.rows, report.added, report.updated, report.unchanged) == (16, 5, 1, 1)
    assert dict(report.skipped) == {"duplicate": 2, "unsubscribed": 1, "bounced": 1}
    assert [(s.line, s.reason) for s in report.skipped_rows] == [
        (6, "duplicate of line 2"),
        (9, "unsubscribed"),
        (10, "bounced"),
        (21, "duplicate of line 9"),
    ]
    rejected = [(r.line, r.email, r.reason) for r in report.rejected]
    assert [r[:2] for r in rejected] == [
        (4, "zeynep@example.org"),
        (7, "not-an-email"),
        (8, ""),
        (17, "sami@example.org"),
        (19, "a@b@example.org"),
    ]
    assert rejected[0][2].startswith("column 'Notes' holds a line break (CR)")
    assert "must have an @-sign" in rejected[1][2]
    assert rejected[2][2] == "no email address"
    assert rejected[3][2].startswith("7 fields but the header has 6")
    assert "invalid characters: '@'" in rejected[4][2]
    assert dict(report.notes) == {"language 'english' read as en": 1}
    assert _subscriber(engine, "bad-lang@example.org")["language"] == "en"

    ali = _subscriber(engine, "ali.yilmaz@example.org")
    assert ali["email"] == "ali.yilmaz@example.org"  # domain lower-cased, local part as written
    assert (ali["name"], ali["language"], ali["status"]) == ("Ali Yılmaz", "tr", "subscribed")
    assert ali["attributes"] == {
        "first_name": "Ali",
        "last_name": "Yılmaz",
        "organisation": "UNHCR",
        "notes": "met in Gaziantep",  # merged from the duplicate on line 6
    }
    zeynep = _subscriber(engine, "zeynep@example.org")  # from line 16: line 4 was refused
    assert (zeynep["email"], zeynep["attributes"]) == ("Zeynep@example.org", {})
    assert _subscriber(engine, "omar@example.org")["language"] == "ar-SY"
    assert _subscriber(engine, "press@example.com.tr")["name"] == "Press Desk"
    moved = _subscriber(engine, "moved@example.org")
    assert (moved["language"], moved["lists"]) == ("ar", ["partners", "press"])
    gone = _subscriber(engine, "gone@example.org")
    assert (gone["status"], gone["name"]) == ("unsubscribed", "Gone Person")
    assert _subscriber(engine, "bounce@example.org")["status"] == "bounced"


def test_reimport_is_unchanged(db_url: str) -> None:
    """Importing the same file twice changes nothing the second time."""
    engine = db.connect(db_url)
    first = import_csv(engine, MESSY, "partners")
    second = import_csv(engine, MESSY, "partners")
    assert first.added == 9 and second.added == 0 and second.updated == 0
    assert second.unchanged == 9
    assert len(second.rejected) == 5


def test_dry_run_writes_nothing(db_url: str) -> None:
    """--dry-run reports exactly what an import would do and leaves the database as it was."""
    engine = db.connect(db_url)
    _seed(engine)
    before = _counts(engine)
    dry = import_csv(engine, MESSY, "newlist", dry_run=True)
    assert _counts(engine) == before
    real = import_csv(engine, MESSY, "newlist")
    assert dry.as_dict() | {"dry_run": True} == real.as_dict() | {"dry_run": True}
    assert real.added == 5 and real.updated == 2  # kept and moved join the new list


def _install_failing_trigger(engine: Engine, email_key: str) -> None:
    with db.transaction(engine) as conn:
        if conn.dialect.name == "sqlite":
            conn.execute(
                text(
                    "CREATE TRIGGER boom BEFORE INSERT ON subscribers "
                    f"WHEN NEW.email_key = '{email_key}' "
                    "BEGIN SELECT RAISE(ABORT, 'disk full'); END"
                )
            )
        else:
            conn.execute(
                text(
                    "CREATE FUNCTION boom() RETURNS trigger AS $$ BEGIN "
                    f"IF NEW.email_key = '{email_key}' THEN RAISE EXCEPTION 'disk full'; END IF; "
                    "RETURN NEW; END $$ LANGUAGE plpgsql"
                )
            )
            conn.execute(
                text(
                    "CREATE TRIGGER boom BEFORE INSERT ON subscribers "
                    "FOR EACH ROW EXECUTE FUNCTION boom()"
                )
            )


def test_failure_half_way_leaves_database_as_it_was(db_url: str, tmp_path: Path) -> None:
    """A database error in a late batch rolls back every earlier batch of the import."""
    engine = db.connect(db_url)
    _seed(engine)
    before = _counts(engine)
    csv_path = tmp_path / "many.csv"
    csv_path.write_text(
        "email,name\n" + "".join(f"user{i}@example.org,User {i}\n" for i in range(500)),
        encoding="utf-8",
    )
    _install_failing_trigger(engine, "user450@example.org")
    with pytest.raises(DatabaseError, match="rolled back") as info:
        import_csv(engine, csv_path, "bulk", batch_size=100)
    assert "disk full" in str(info.value)
    assert _counts(engine) == before


KILL_SCRIPT = """
import sys
from mailer import db
from mailer.audience import csvimport
engine = db.connect(sys.argv[1])
def progress(done):
    print("batch", done, flush=True)
    sys.stdin.readline()  # wait until the parent has killed us
csvimport.import_csv(engine, sys.argv[2], "bulk", batch_size=200, progress=progress)
print("finished", flush=True)
"""


@pytest.mark.slow
def test_killed_import_leaves_database_as_it_was(db_url: str, tmp_path: Path) -> None:
    """An import process killed (SIGKILL) after writing batches leaves no trace in the database."""
    engine = db.connect(db_url)
    _seed(engine)
    before = _counts(engine)
    csv_path = tmp_path / "many.csv"
    csv_path.write_text(
        "email,name\n" + "".join(f"user{i}@example.org,User {i}\n" for i in range(1000)),
        encoding="utf-8",
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", KILL_SCRIPT, db_url, str(csv_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdin is not None
        for _ in range(3):  # let it write three batches inside its transaction
            assert proc.stdout.readline().startswith("batch")
            proc.stdin.write("\n")
            proc.stdin.flush()
        assert proc.stdout.readline().startswith("batch")
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    db.dispose_all()
    engine = db.connect(db_url)
    assert _counts(engine) == before


def test_not_utf8_names_line_and_byte(tmp_path: Path) -> None:
    """A Latin-1 file fails with the line and byte offset of the first bad byte; nothing written."""
    path = tmp_path / "latin1.csv"
    path.write_bytes("email,name\nok@example.org,Ok\nali@example.org,Çelik\n".encode("latin-1"))
    engine = db.connect(f"sqlite:///{tmp_path / 'm.db'}")
    with pytest.raises(SubscriberError) as info:
        import_csv(engine, path, "partners")
    err = info.value
    assert err.location == f"{path}:3"
    assert err.message == "not UTF-8: byte 0xc7 at byte offset 45 (column 17)"
    assert err.hint and "UTF-8" in err.hint
    assert _counts(engine) == (0, 0, 0)


def test_utf16_file_is_named(tmp_path: Path) -> None:
    """A UTF-16 export (Excel's "Unicode text") is recognised and the fix is given."""
    path = tmp_path / "u16.csv"
    path.write_bytes("email\tname\nali@example.org\tAli\n".encode("utf-16"))
    engine = db.connect(f"sqlite:///{tmp_path / 'm.db'}")
    with pytest.raises(SubscriberError, match="UTF-16") as info:
        import_csv(engine, path, "partners")
    assert info.value.hint and "CSV UTF-8" in info.value.hint


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("name,language\nAli,tr\n", "no email column among the headers ['name', 'language']"),
        ("ali@example.org,Ali\nzeynep@example.org,Zeynep\n", "looks like data"),
        ("", "the file is empty"),
        ("\n\n", "the file is empty"),
    ],
)
def test_not_a_subscriber_csv(tmp_path: Path, content: str, needle: str) -> None:
    """A file without an email column is refused with the accepted headers as a hint."""
    path = tmp_path / "x.csv"
    path.write_text(content, encoding="utf-8")
    engine = db.connect(f"sqlite:///{tmp_path / 'm.db'}")
    with pytest.raises(SubscriberError) as info:
        import_csv(engine, path, "partners")
    assert needle in info.value.message
    assert info.value.location and info.value.location.startswith(str(path))
    assert info.value.hint and "email" in info.value.hint and "language" in info.value.hint


def test_all_rows_rejected_fails_and_writes_nothing(tmp_path: Path) -> None:
    """When no row can be imported the import fails (with the report) and creates no list."""
    path = tmp_path / "bad.csv"
    path.write_text("email,name\nnope,A\nalso-nope,B\n", encoding="utf-8")
    engine = db.connect(f"sqlite:///{tmp_path / 'm.db'}")
    with pytest.raises(ImportFailed, match="all 2 rows were rejected") as info:
        import_csv(engine, path, "partners")
    assert [r.line for r in info.value.report.rejected] == [2, 3]
    assert _counts(engine) == (0, 0, 0)


def test_unclosed_quote_is_named(tmp_path: Path) -> None:
    """A quote never closed swallows the following lines: that row is rejected at the line
    where it starts, saying so, and the rows before it are imported."""
    path = tmp_path / "q.csv"
    path.write_text(
        'email,name\nok@example.org,Ok\nbad@example.org,"Unclosed\nnext@example.org,Next\n',
        encoding="utf-8",
    )
    engine = db.connect(f"sqlite:///{tmp_path / 'm.db'}")
    report = import_csv(engine, path, "partners")
    assert report.added == 1
    assert [(r.line, r.reason) for r in report.rejected] == [
        (
            3,
            "column 'name' holds a line break (LF): remove it (is a quote not closed?), "
            "then import the file again",
        )
    ]


def test_unclosed_quote_swallowing_the_file_fails(tmp_path: Path) -> None:
    """An unclosed quote that swallows more than csv's field limit fails the whole import,
    naming the line where the record began, and writes nothing."""
    path = tmp_path / "q.csv"
    rest = "".join(f"user{i}@example.org,User number {i} of many\n" for i in range(4000))
    path.write_text(
        f'email,name\nok@example.org,Ok\nbad@example.org,"Unclosed\n{rest}', encoding="utf-8"
    )
    engine = db.connect(f"sqlite:///{tmp_path / 'm.db'}")
    with pytest.raises(SubscriberError, match="malformed CSV") as info:
        import_csv(engine, path, "partners", batch_size=1)
    assert info.value.location == f"{path}:3"
    assert _counts(engine) == (0, 0, 0)


@pytest.mark.parametrize(
    ("header", "row", "expected"),
    [
        ("Email,Name,Language", "a@example.org,Ann,EN", ("Ann", "en", {})),
        ("E-mail;full name;lang", "a@example.org;Ann Lee;pt_br", ("Ann Lee", "pt-BR", {})),
        (
            "EMAIL ADDRESS,first_name,last_name,locale",
            "a@example.org,Ann,Lee,tr-tr",
            ("Ann Lee", "tr-TR", {"first_name": "Ann", "last_name": "Lee"}),
        ),
        (
            "e-posta\tAd Soyad\tDil\tŞehir",
            "a@example.org\tAyşe Kaya\ttr\tİzmir",
            ("Ayşe Kaya", "tr", {"şehir": "İzmir"}),
        ),
        (
            "email,Organisation Name,,status",
            "a@example.org,'=SUM(1),ignored,",
            ("", None, {"organisation_name": "=SUM(1)"}),
        ),
    ],
)
def test_header_spellings(
    tmp_path: Path, header: str, row: str, expected: tuple[str, str | None, dict[str, str]]
) -> None:
    """Headers in any case and common spellings map to email, name and language; others are
    attributes (the spreadsheet-safe quote that export adds is undone)."""
    path = tmp_path / "h.csv"
    path.write_text(f"{header}\n{row}\n", encoding="utf-8")
    engine = db.connect(f"sqlite:///{tmp_path / 'm.db'}")
    report = import_csv(engine, path, "partners")
    assert report.added == 1, report.rejected
    got = _subscriber(engine, "a@example.org")
    assert (got["name"], got["language"], got["attributes"]) == expected


def test_status_column_suppresses_and_never_resubscribes(db_url: str, tmp_path: Path) -> None:
    """A status column (as export writes it) carries suppressions into a new database, and
    'subscribed' in a file never re-subscribes someone who unsubscribed."""
    engine = db.connect(db_url)
    path = tmp_path / "s.csv"
    path.write_text(
        "email,status\nold@example.org,unsubscribed\nnew@example.org,subscribed\n"
        "who@example.org,maybe\n",
        encoding="utf-8",
    )
    report = import_csv(engine, path, "partners")
    assert report.added == 2
    assert report.rejected[0].line == 4 and "unknown status 'maybe'" in report.rejected[0].reason
    assert _subscriber(engine, "old@example.org")["status"] == "unsubscribed"
    path.write_text("email,status\nold@example.org,subscribed\n", encoding="utf-8")
    again = import_csv(engine, path, "partners")
    assert dict(again.skipped) == {"unsubscribed": 1}
    assert _subscriber(engine, "old@example.org")["status"] == "unsubscribed"


def test_duplicates_across_batches_are_merged(db_url: str, tmp_path: Path) -> None:
    """A duplicate far apart in the file (another batch) is still merged and named by line."""
    engine = db.connect(db_url)
    path = tmp_path / "d.csv"
    body = "".join(f"u{i}@example.org,U{i},\n" for i in range(50))
    path.write_text(
        "email,name,city\nfar@example.org,Far,\n" + body + "FAR@Example.org,,Van\n",
        encoding="utf-8",
    )
    report = import_csv(engine, path, "partners", batch_size=7)
    assert report.added == 51
    assert [(s.line, s.reason) for s in report.skipped_rows] == [(53, "duplicate of line 2")]
    far = _subscriber(engine, "far@example.org")
    assert (far["name"], far["attributes"]) == ("Far", {"city": "Van"})


def test_progress_reports_bytes_read(tmp_path: Path) -> None:
    """The progress callback gets the bytes read so far, rising to the file size."""
    path = tmp_path / "p.csv"
    path.write_text(
        "\ufeffemail\n" + "".join(f"u{i}@example.org\n" for i in range(100)), encoding="utf-8"
    )
    engine = db.connect(f"sqlite:///{tmp_path / 'm.db'}")
    seen: list[int] = []
    import_csv(engine, path, "partners", batch_size=30, progress=seen.append)
    assert seen == sorted(seen) and len(seen) >= 4
    assert seen[-1] == path.stat().st_size


def test_old_mac_line_endings(db_url: str, tmp_path: Path) -> None:
    """A file with CR-only line endings (Excel's "CSV (Macintosh)") imports with right lines;
    a quoted field running over two lines is refused at the line where its record starts."""
    path = tmp_path / "mac.csv"
    path.write_bytes(
        b'email;name;note\rok@example.org;Ok;"Two\rlines"\rbad;X\r\rlast@example.org;Last\r'
    )
    engine = db.connect(db_url)
    report = import_csv(engine, path, "partners")
    assert report.added == 1
    assert [(r.line, r.email) for r in report.rejected] == [(2, "ok@example.org"), (4, "bad")]
    assert "column 'note' holds a line break (LF)" in report.rejected[0].reason
    assert _subscriber(engine, "last@example.org")["name"] == "Last"


def test_spreadsheet_workbook_is_named(tmp_path: Path) -> None:
    """An .xlsx workbook given as the file gets a message saying to save it as CSV UTF-8."""
    path = tmp_path / "list.xlsx"
    path.write_bytes(b"PK\x03\x04\x14\x00\x06\x00" + bytes(range(256)) * 4)
    engine = db.connect(f"sqlite:///{tmp_path / 'm.db'}")
    with pytest.raises(SubscriberError, match="spreadsheet workbook") as info:
        import_csv(engine, path, "partners")
    assert info.value.hint and "CSV UTF-8" in info.value.hint


def test_bad_byte_past_the_first_chunk_is_named_exactly(tmp_path: Path) -> None:
    """A bad byte megabytes into a file (after a BOM and CRLF lines) is named by its line,
    file offset and column, and nothing is written."""
    head = "\ufeffemail,name\r\n".encode()
    rows = b"".join(f"user{i}@example.org,User {i}\r\n".encode() for i in range(60_000))
    bad = b"late@example.org,Bad \xc7 name\r\n"
    path = tmp_path / "big.csv"
    path.write_bytes(head + rows + bad + b"after@example.org,After\r\n")
    engine = db.connect(f"sqlite:///{tmp_path / 'm.db'}")
    with pytest.raises(SubscriberError, match="not UTF-8") as info:
        import_csv(engine, path, "partners")
    column = bad.index(b"\xc7")
    offset = len(head) + len(rows) + column
    assert info.value.location == f"{path}:60002"
    assert info.value.message == (
        f"not UTF-8: byte 0xc7 at byte offset {offset} (column {column + 1})"
    )
    assert _counts(engine) == (0, 0, 0)


def test_fresh_database_cross_batch_duplicates_and_control_rows(
    db_url: str, tmp_path: Path
) -> None:
    """Into an empty database, a duplicate in a later batch is merged into the first row,
    and a row with a control character on a line of its own is rejected by line."""
    engine = db.connect(db_url)
    lines = [f"u{i}@example.org,User {i},city{i}" for i in range(10)]
    lines.append("U3@Example.org,Third Again,")
    lines.append("bad@example.org,Bad\x01Name,x")
    path = tmp_path / "d.csv"
    path.write_text("email,name,city\n" + "\n".join(lines) + "\n", encoding="utf-8")
    report = import_csv(engine, path, "partners", batch_size=4)
    assert (report.added, report.rows) == (10, 12)
    assert [(s.line, s.reason) for s in report.skipped_rows] == [(12, "duplicate of line 5")]
    assert [(r.line, r.email) for r in report.rejected] == [(13, "bad@example.org")]
    with engine.connect() as conn:
        name, attrs = conn.execute(
            select(db.subscribers.c.name, db.subscribers.c.attributes).where(
                db.subscribers.c.email_key == "u3@example.org"
            )
        ).one()
    assert (name, attrs) == ("Third Again", {"city": "city3"})
