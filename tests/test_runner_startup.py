"""What a `mailer run-due` runner pays before it sends (issue 14): the schema check of a
current database takes no lock, run-due imports no build or terminal library, and a runner
started together with the one claiming a campaign waits for that claim and helps."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine, select, text

from mailer import db
from mailer.config import Config, Settings
from mailer.db import migrations
from mailer.schedule.worker import claim_next, claimed_elsewhere, run_due
from test_run_due import bare_campaign

T0 = datetime(2026, 12, 1, 6, 0)  # naive UTC
MAX_DELAY = timedelta(hours=6)


def test_a_current_database_is_checked_without_inspecting_it(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process opening a database already at the latest schema reads its version and
    nothing else: no catalogue inspection, no migration step."""
    db.connect(db_url)  # creates it
    db.dispose_all()

    def no_inspection(conn: Any) -> int:
        raise AssertionError("the migration path ran on a current database")

    monkeypatch.setattr(migrations, "current_version", no_inspection)
    engine = db.connect(db_url)
    assert db.schema_is_current(engine)
    with db.read(engine) as conn:
        assert conn.execute(select(db.schema_version.c.version)).scalar() == db.SCHEMA_VERSION


def test_a_database_without_the_version_table_is_not_current(tmp_path: Path) -> None:
    """An empty database is not current: connect creates the schema as before."""
    engine = db.connect(f"sqlite:///{tmp_path / 'empty.db'}", upgrade=False)
    assert not db.schema_is_current(engine)
    db.migrate(engine)
    assert db.schema_is_current(engine)
    db.dispose_all()


def _pg(url: str) -> psycopg.Connection[Any]:
    """A bare driver connection to the database of SQLAlchemy URL *url*."""
    return psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True)


def test_runners_starting_together_do_not_queue_on_the_migration_lock(postgres: Any) -> None:
    """While another process holds the migration lock, a runner opening a current
    PostgreSQL database does not wait for it (four runners used to queue there)."""
    url = postgres.create_database()
    db.connect(url)
    db.dispose_all()
    holder = _pg(url)
    try:
        holder.execute("SELECT pg_advisory_lock(727274)")
        opened: list[Engine] = []
        worker = threading.Thread(target=lambda: opened.append(db.connect(url)), daemon=True)
        worker.start()
        worker.join(timeout=20)
        assert opened, "connect waited for the migration lock"
    finally:
        holder.execute("SELECT pg_advisory_unlock(727274)")
        holder.close()
        db.dispose_all()


def _config(root: Path) -> Config:
    return Config(settings=Settings(), path=None, root=root)


def _due_campaign(engine: Engine) -> int:
    return bare_campaign(engine, T0 - timedelta(minutes=1))


def test_a_runner_waits_for_a_claim_in_progress_and_helps(postgres: Any, tmp_path: Path) -> None:
    """PostgreSQL: a runner that finds the due campaign locked by another runner's claim
    (not committed yet) does not give up with nothing to do: it looks again, sees the
    campaign `sending` once the claim commits, and helps with it (join)."""
    url = postgres.create_database()
    engine = db.connect(url)
    cid = _due_campaign(engine)
    claimant = _pg(url)
    claimant.autocommit = False
    try:
        # the other runner's claim transaction: the row locked, the claim not committed yet
        claimant.execute("SELECT id FROM campaigns WHERE id = %s FOR UPDATE", (cid,))
        claimant.execute(
            "UPDATE campaigns SET status = 'sending', claimed_by = 'elsewhere:1', "
            "claimed_at = %s WHERE id = %s",
            (T0, cid),
        )
        me = "here:1"
        assert claim_next(engine, now=T0, me=me, max_delay=MAX_DELAY, join=True) is None
        assert claimed_elsewhere(engine, now=T0, me=me, max_delay=MAX_DELAY)

        calls: list[tuple[int, dict[str, Any]]] = []

        def runner(_engine: Engine, _config: Config, campaign_id: int, **kwargs: Any) -> None:
            calls.append((campaign_id, kwargs))

        threading.Timer(0.3, claimant.commit).start()
        started = time.monotonic()
        report = run_due(engine, _config(tmp_path), clock=lambda: T0, runner=runner, me=me)
        assert time.monotonic() - started < 4
    finally:
        claimant.close()
    assert [(c, k.get("join")) for c, k in calls] == [(cid, True)]
    assert [(o.campaign_id, o.helped) for o in report.outcomes] == [(cid, True)]


def test_nothing_claimed_elsewhere_means_no_wait(db_url: str, tmp_path: Path) -> None:
    """With nothing due (or on SQLite, whose claims are serial) run-due returns at once."""
    engine = db.connect(db_url)
    assert not claimed_elsewhere(engine, now=T0, me="here:1", max_delay=MAX_DELAY)
    started = time.monotonic()
    report = run_due(engine, _config(tmp_path), clock=lambda: T0, runner=lambda *a, **k: None)
    assert report.outcomes == [] and time.monotonic() - started < 2


RUN_DUE = """
import json, sys
from mailer.cli import main
try:
    main(["-q", "run-due"])
except SystemExit as exc:
    code = exc.code
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def test_run_due_with_nothing_due_loads_neither_build_nor_rich(tmp_path: Path) -> None:
    """A run-due every minute from cron imports what it runs: no issue loading (YAML), no
    preflight or send path, no terminal library."""
    url = f"sqlite:///{tmp_path / 'cron.db'}"
    env = {**os.environ, "MAILER_DATABASE_URL": url, "NO_COLOR": "1"}
    proc = subprocess.run(
        [sys.executable, "-c", RUN_DUE],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=True,
    )
    found = json.loads(proc.stdout.strip().splitlines()[-1])
    assert found["code"] == 0
    loaded = set(found["modules"])
    assert "mailer.schedule.worker" in loaded  # it did run
    for heavy in ("yaml", "rich", "mailer.build.issue", "mailer.delivery.send", "jinja2"):
        assert heavy not in loaded, heavy
    with db.read(db.connect(url)) as conn:  # and it left a current schema behind
        assert conn.execute(text("SELECT version FROM schema_version")).scalar() == (
            db.SCHEMA_VERSION
        )
    db.dispose_all()
