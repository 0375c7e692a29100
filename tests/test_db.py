"""Storage: the schema works unchanged on SQLite and PostgreSQL and is versioned."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from mailer import db
from mailer.errors import DatabaseError


def test_schema_created_and_versioned(db_url: str) -> None:
    """A new database gets every table and the current schema version."""
    engine = db.connect(db_url)
    with db.read(engine) as conn:
        assert db.current_version(conn) == db.SCHEMA_VERSION
        names = set(db.inspect(conn).get_table_names())
    assert {"subscribers", "lists", "memberships", "campaigns", "deliveries", "links",
            "events", "batches", "campaign_contents"} <= names


def test_migrate_is_idempotent_and_keeps_data(db_url: str) -> None:
    """Running the migrations again keeps existing rows."""
    engine = db.connect(db_url)
    with db.transaction(engine) as conn:
        list_id = db.get_or_create_list(conn, "partners")
    assert db.migrate(engine) == db.SCHEMA_VERSION
    with db.read(engine) as conn:
        assert conn.execute(select(db.lists.c.id).where(db.lists.c.name == "partners")).scalar() \
            == list_id


def test_newer_database_is_refused(tmp_path) -> None:
    """A database from a newer mailer is not touched."""
    url = f"sqlite:///{tmp_path / 'new.db'}"
    engine = db.connect(url)
    with db.transaction(engine) as conn:
        conn.execute(db.schema_version.update().values(version=db.SCHEMA_VERSION + 5))
    with pytest.raises(DatabaseError, match="newer"):
        db.migrate(engine)
