"""Power cuts: the ledger's commits that must be on disk before something leaves are synced.

SQLite runs in WAL mode with ``synchronous=NORMAL``, where a power cut may roll back the
last commits. A batch's "in flight" commit must survive one (else the batch reads
``pending`` after the reboot and goes out again), and so must each per-message answer of
SMTP and the outbox (recovery takes only the first pending message of a batch in flight
for one that may have left). These tests read, at every commit of a real send, the
``synchronous`` level SQLite commits at (and whether it checks foreign keys: only the
queuing of a batch skips them) and the statements of the transaction.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, text
from sqlalchemy.exc import IntegrityError

from mailer import db
from mailer.backends import MemoryBackend
from mailer.backends.outbox import OutboxBackend
from mailer.delivery.send import run_campaign
from test_send import campaign, make_config, seed

FULL, NORMAL = 2, 1
IN_FLIGHT = "UPDATE batches SET status=?, attempts=(batches.attempts + ?)"
QUEUE = "INSERT INTO deliveries"
ANSWER = "UPDATE deliveries SET status=?, provider_message_id=?"
FINISHED = "UPDATE campaigns SET status=?, error=?, finished_at=?"


@dataclass
class Commits:
    """Every commit of an engine: (synchronous level at COMMIT, foreign keys checked, the
    transaction's statements)."""

    seen: list[tuple[int, bool, list[str]]] = field(default_factory=list)

    def levels(self, prefix: str) -> list[int]:
        """The levels of the commits whose transaction ran a statement starting with *prefix*."""
        return [level for level, _fk, sqls in self.seen if any(s.startswith(prefix) for s in sqls)]

    def unchecked(self) -> list[list[str]]:
        """The statements of each transaction that ran without foreign-key checks."""
        return [sqls for _level, fk, sqls in self.seen if not fk]


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    yield db.connect(f"sqlite:///{tmp_path / 'mailer.db'}")
    db.dispose_all()


@pytest.fixture
def commits(engine: Engine) -> Iterator[Commits]:
    found = Commits()

    def statement(conn: Any, _cursor: Any, sql: str, *_args: Any) -> None:
        if not sql.startswith(("BEGIN", "PRAGMA")):
            conn.info.setdefault("sqls", []).append(" ".join(sql.split()))

    def commit(conn: Any) -> None:  # before the driver's COMMIT: the level it commits at
        raw = conn.connection.dbapi_connection
        level = raw.execute("PRAGMA synchronous").fetchone()[0]
        fk = raw.execute("PRAGMA foreign_keys").fetchone()[0]
        found.seen.append((int(level), bool(fk), conn.info.pop("sqls", [])))

    def rollback(conn: Any) -> None:
        conn.info.pop("sqls", None)

    event.listen(engine, "before_cursor_execute", statement)
    event.listen(engine, "commit", commit)
    event.listen(engine, "rollback", rollback)
    yield found
    event.remove(engine, "before_cursor_execute", statement)
    event.remove(engine, "commit", commit)
    event.remove(engine, "rollback", rollback)


def test_a_batch_is_synced_in_flight_and_only_then(
    engine: Engine, commits: Commits, tmp_path: Path
) -> None:
    """Batch backend: each "in flight" commit and the campaign's end are synced (FULL);
    queuing a batch and recording its answer are not (a power cut may take those away:
    a lost queued batch never left, a lost answer leaves the batch in flight, held unknown)."""
    config = make_config(tmp_path)
    seed(engine, 25)
    cid = campaign(engine, config)
    result = run_campaign(engine, config, cid, backend=MemoryBackend())
    assert result.status == "sent" and result.accepted == 25
    assert commits.levels(IN_FLIGHT) == [FULL] * 3  # 10 + 10 + 5
    assert commits.levels(QUEUE) == [NORMAL] * 3
    assert commits.levels(ANSWER) and set(commits.levels(ANSWER)) == {NORMAL}
    assert commits.levels(FINISHED) == [FULL]
    synced = [sqls for level, _fk, sqls in commits.seen if level == FULL]
    assert len(synced) == 4, synced  # nothing else pays a sync


def test_only_queuing_a_batch_skips_foreign_key_lookups(
    engine: Engine, commits: Commits, tmp_path: Path
) -> None:
    """The queue transaction (its rows refer to the batch it inserts and the subscribers it
    reads) runs without foreign-key lookups; every other transaction checks them, and a
    delivery that refers to a missing subscriber is refused outside it."""
    config = make_config(tmp_path)
    seed(engine, 25)
    cid = campaign(engine, config)
    result = run_campaign(engine, config, cid, backend=MemoryBackend())
    assert result.status == "sent" and result.accepted == 25
    unchecked = [sqls for sqls in commits.unchecked() if sqls]  # the last page was empty
    assert len(unchecked) == 3  # 10 + 10 + 5
    for sqls in unchecked:
        assert [s.split(" (")[0] for s in sqls if s.startswith("INSERT")] == [
            "INSERT INTO batches",
            "INSERT INTO deliveries",
        ]
        assert not any(s.startswith("UPDATE") for s in sqls)
    with pytest.raises(IntegrityError), db.transaction(engine) as conn:
        conn.execute(
            db.deliveries.insert().values(campaign_id=cid, subscriber_id=10_000, status="pending")
        )


def test_each_message_of_a_per_message_backend_is_synced(
    engine: Engine, commits: Commits, tmp_path: Path
) -> None:
    """Per-message backend (the outbox, as SMTP): every message's answer is synced before
    the next message leaves."""
    config = make_config(tmp_path)
    seed(engine, 12)
    cid = campaign(engine, config)
    result = run_campaign(engine, config, cid, backend=OutboxBackend(tmp_path / "outbox"))
    assert result.status == "sent" and result.accepted == 12
    assert commits.levels(IN_FLIGHT) == [FULL] * 2
    assert commits.levels(ANSWER) == [FULL] * 12


def test_a_durable_commit_leaves_the_connection_as_it_was(engine: Engine) -> None:
    """After a transaction of :func:`db.durable` (or :func:`db.trusting`), the pooled
    connection's next ordinary transaction commits at NORMAL and checks foreign keys again;
    PostgreSQL engines are durable and checking as they are."""
    for _ in range(2):
        with db.transaction(db.durable(engine)) as conn:
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == FULL
            conn.execute(text("UPDATE schema_version SET version = version"))
        for _ in range(3):
            with db.transaction(engine) as conn:
                assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == NORMAL
            with db.read(engine) as conn:
                assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == NORMAL
    assert db.durable(db.durable(engine)) is db.durable(engine)
    with db.transaction(db.trusting(db.durable(engine))) as conn:
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == FULL
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 0
    with db.transaction(engine) as conn:
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == NORMAL
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    pg = db.create_engine("postgresql+psycopg://u@127.0.0.1:1/x")
    assert db.durable(pg) is pg and db.trusting(pg) is pg
