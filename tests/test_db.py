"""Storage: the schema works unchanged on SQLite and PostgreSQL and is versioned."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import Connection

from mailer import db
from mailer.audience.subscribers import add, unsubscribe
from mailer.db import migrations
from mailer.errors import DatabaseError

#: the version a test's own extra migration step gets (one past the shipped ones)
NEXT = db.SCHEMA_VERSION + 1


def test_schema_created_and_versioned(db_url: str) -> None:
    """A new database gets every table and the current schema version."""
    engine = db.connect(db_url)
    with db.read(engine) as conn:
        assert db.current_version(conn) == db.SCHEMA_VERSION
        names = set(db.inspect(conn).get_table_names())
    assert {
        "subscribers",
        "lists",
        "memberships",
        "campaigns",
        "deliveries",
        "links",
        "events",
        "batches",
        "campaign_contents",
    } <= names


def test_migrate_is_idempotent_and_keeps_data(db_url: str) -> None:
    """Running the migrations again keeps existing rows."""
    engine = db.connect(db_url)
    with db.transaction(engine) as conn:
        list_id = db.get_or_create_list(conn, "partners")
    assert db.migrate(engine) == db.SCHEMA_VERSION
    with db.read(engine) as conn:
        assert (
            conn.execute(select(db.lists.c.id).where(db.lists.c.name == "partners")).scalar()
            == list_id
        )


def test_newer_database_is_refused(tmp_path) -> None:
    """A database from a newer mailer is not touched."""
    url = f"sqlite:///{tmp_path / 'new.db'}"
    engine = db.connect(url)
    with db.transaction(engine) as conn:
        conn.execute(db.schema_version.update().values(version=db.SCHEMA_VERSION + 5))
    with pytest.raises(DatabaseError, match="newer"):
        db.migrate(engine)


# -- schema versioning: a database made by this version is upgraded by the next ----------
def _v2_add_timezone(conn: Connection) -> None:
    """A plausible next step: a new column, filled from existing data."""
    conn.execute(text("ALTER TABLE subscribers ADD COLUMN timezone VARCHAR(64)"))
    conn.execute(text("UPDATE subscribers SET timezone = 'Europe/Istanbul' WHERE language = 'tr'"))


def _fill_v1(url: str) -> None:
    engine = db.connect(url)
    with db.transaction(engine) as conn:
        add(
            conn,
            "ayse@example.org",
            "partners",
            name="Ayşe Demir",
            language="tr",
            attributes={"organisation": "Support to Life"},
        )
        add(conn, "john@example.org", "donors", name="John Miller", language="en")
        unsubscribe(conn, "john@example.org")
    db.dispose_all()


def _dump(url: str) -> list[tuple[object, ...]]:
    engine = db.connect(url, upgrade=False)
    with db.read(engine) as conn:
        rows = conn.execute(
            text(
                "SELECT s.email, s.name, s.language, s.status, s.attributes, l.name "
                "FROM subscribers s JOIN memberships m ON m.subscriber_id = s.id "
                "JOIN lists l ON l.id = m.list_id ORDER BY s.email"
            )
        ).all()
    db.dispose_all()
    return [tuple(r) for r in rows]


def test_v1_database_with_data_is_upgraded_by_a_later_step(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A v1 database full of data is upgraded in place by a later migration: version recorded,
    every row kept, the new column filled from the old data."""
    _fill_v1(db_url)
    before = _dump(db_url)
    assert len(before) == 2
    monkeypatch.setattr(
        migrations, "MIGRATIONS", [*db.MIGRATIONS, (NEXT, "timezone", _v2_add_timezone)]
    )
    monkeypatch.setattr(migrations, "SCHEMA_VERSION", NEXT)
    engine = db.connect(db_url)
    with db.read(engine) as conn:
        assert db.current_version(conn) == NEXT
        zones = dict(conn.execute(text("SELECT email, timezone FROM subscribers")).all())
    assert zones == {"ayse@example.org": "Europe/Istanbul", "john@example.org": None}
    db.dispose_all()
    assert _dump(db_url) == before
    assert db.migrate(db.connect(db_url)) == NEXT  # idempotent once upgraded


def _v2_broken(conn: Connection) -> None:
    conn.execute(text("ALTER TABLE subscribers ADD COLUMN timezone VARCHAR(64)"))
    conn.execute(text("UPDATE subscribers SET no_such_column = 1"))


def test_failed_upgrade_leaves_the_database_as_it_was(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A migration step that fails half-way is rolled back: the database stays at the last step
    that succeeded, same data, no new column."""
    _fill_v1(db_url)
    before = _dump(db_url)
    monkeypatch.setattr(migrations, "MIGRATIONS", [*db.MIGRATIONS, (NEXT, "broken", _v2_broken)])
    monkeypatch.setattr(migrations, "SCHEMA_VERSION", NEXT)
    with pytest.raises(DatabaseError):
        db.connect(db_url)
    db.dispose_all()
    engine = db.connect(db_url, upgrade=False)
    with db.read(engine) as conn:
        assert db.current_version(conn) == NEXT - 1
        columns = {c["name"] for c in db.inspect(conn).get_columns("subscribers")}
    assert "timezone" not in columns
    db.dispose_all()
    assert _dump(db_url) == before


def test_new_database_is_created_at_the_latest_shape(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new database is created from the table definitions (the latest shape) and stamped with
    the latest version; upgrade steps only run on databases made by an older mailer."""

    def _must_not_run(conn: Connection) -> None:
        raise AssertionError("an upgrade step ran on a new database")

    monkeypatch.setattr(
        migrations, "MIGRATIONS", [*db.MIGRATIONS, (NEXT, "upgrade only", _must_not_run)]
    )
    monkeypatch.setattr(migrations, "SCHEMA_VERSION", NEXT)
    engine = db.connect(f"sqlite:///{tmp_path / 'fresh.db'}")
    with db.read(engine) as conn:
        assert db.current_version(conn) == NEXT
