"""Several runners, one campaign (PostgreSQL): `mailer run-due` processes started together all
help with one big SendGrid campaign (a local 202 server with a delay), each batch claimed by one
of them; a runner killed -9 leaves only its batches in flight, held unknown once its claim is
stale; a live runner's batches in flight are never settled by another."""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from faultserver import FaultServer
from mailer import db
from mailer.config import Config, load_config
from mailer.delivery import recovery
from mailer.delivery.send import run_campaign
from mailer.process import LEASE
from support import ROOT, PostgresServer, delivery_statuses, finish
from test_run_due import scheduled

MAILER = str(ROOT / ".venv" / "bin" / "mailer")
SECRET = "test-secret-key-0123456789abcdef"

TOML = """\
name = "Runners test"
backend = "sendgrid"
[sender]
from_name = "IOM Turkey"
from_email = "newsletter@example.org"
[sending]
batch_size = {batch_size}
concurrency = 1
timeout = 10
max_retries = 0
{extra}
[schedule]
max_delay = "6h"
"""


class Runners:
    """A newsletter folder on a fresh PostgreSQL database whose runners post to *server*."""

    def __init__(
        self, root: Path, url: str, server_url: str, batch_size: int = 50, extra: str = ""
    ) -> None:
        self.root, self.url = root, url
        text = TOML.format(batch_size=batch_size, extra=extra)
        (root / "mailer.toml").write_text(text, encoding="utf-8")
        self.env = {
            **os.environ,
            "MAILER_DATABASE_URL": url,
            "SENDGRID_API_KEY": "SG.runners-test-key.0123456789",
            "MAILER_SENDGRID_HOST": server_url,
            "MAILER_SECRET_KEY": SECRET,
            "NO_COLOR": "1",
        }
        self.config: Config = load_config(root / "mailer.toml")
        self.engine: Engine = db.connect(url)

    def campaign(self, count: int) -> tuple[int, list[str]]:
        """*count* subscribed readers of `partners` and a campaign to them due now."""
        emails = [f"reader{i:05d}@example.org" for i in range(count)]
        with db.transaction(self.engine) as conn:
            list_id = db.get_or_create_list(conn, "partners")
            conn.execute(
                db.subscribers.insert(),
                [{"email": e, "email_key": e, "name": "", "attributes": {}} for e in emails],
            )
            ids = conn.execute(select(db.subscribers.c.id)).scalars().all()
            conn.execute(
                db.memberships.insert(), [{"list_id": list_id, "subscriber_id": i} for i in ids]
            )
        at = db.utcnow() - timedelta(seconds=1)
        return scheduled(self.engine, self.config, at, "partners", backend="sendgrid"), emails

    def run(self, *args: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [MAILER, *args],
            cwd=self.root,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )

    def batches(self, cid: int) -> list[Any]:
        b = db.batches
        with db.read(self.engine) as conn:
            query = select(b.c.id, b.c.status, b.c.owner).where(b.c.campaign_id == cid)
            return list(conn.execute(query).all())

    def deliveries(self, cid: int) -> collections.Counter[str]:
        return collections.Counter(delivery_statuses(self.engine, cid).values())

    def unknown_emails(self, cid: int) -> set[str]:
        d, s = db.deliveries, db.subscribers
        with db.read(self.engine) as conn:
            query = (
                select(s.c.email)
                .join(d, d.c.subscriber_id == s.c.id)
                .where(d.c.campaign_id == cid, d.c.status == "unknown")
            )
            return set(conn.execute(query).scalars())

    def status(self, cid: int) -> str:
        c = db.campaigns
        with db.read(self.engine) as conn:
            return str(conn.execute(select(c.c.status).where(c.c.id == cid)).scalar())


@pytest.fixture
def pg_url(postgres: PostgresServer) -> Iterator[str]:
    yield postgres.create_database()
    db.dispose_all()


@pytest.mark.slow
def test_three_runners_share_one_campaign_each_recipient_once(pg_url: str, tmp_path: Path) -> None:
    """Three `mailer run-due` at once on one due campaign of 1,500: all three send batches of
    it (each batch owned by one), every address is accepted by the server exactly once, and
    the campaign ends sent."""
    with FaultServer(delay=0.15) as server:
        world = Runners(tmp_path, pg_url, server.url)
        cid, emails = world.campaign(1500)
        procs = [world.run("run-due", "--json") for _ in range(3)]
        results = [finish(p) for p in procs]
    for code, _out, err in results:
        assert code == 0, err
    counts = collections.Counter(server.accepted)
    assert set(counts) == set(emails)
    assert set(counts.values()) == {1}
    assert world.status(cid) == "sent"
    assert world.deliveries(cid) == collections.Counter({"accepted": 1500})
    owners = collections.Counter(row.owner for row in world.batches(cid))
    assert len(owners) == 3, f"not every runner helped: {owners}"


@pytest.mark.slow
def test_runner_killed_mid_send_others_finish_nobody_twice(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """kill -9 of one of three runners while its batch is in flight: the other two send the
    rest; only the dead runner's in-flight batch is held unknown (its PID is gone: its claim
    is stale); resuming the campaign sends nobody again, and whoever the server never got
    is held unknown (never lost)."""
    with FaultServer(delay=0.3) as server:
        world = Runners(tmp_path, pg_url, server.url)
        cid, emails = world.campaign(2000)
        procs = [world.run("run-due", "--json") for _ in range(3)]
        pids = {str(p.pid): p for p in procs}
        victim: subprocess.Popen[bytes] | None = None
        deadline = time.monotonic() + 60
        while victim is None and time.monotonic() < deadline:
            for row in world.batches(cid):
                pid = (row.owner or "").rpartition(":")[2]
                if row.status == "sending" and pid in pids:
                    victim = pids[pid]
                    break
            else:
                time.sleep(0.02)
        assert victim is not None, "no batch went in flight"
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)
        dead = f":{victim.pid}"
        in_flight = {
            r.id for r in world.batches(cid) if r.status == "sending" and r.owner.endswith(dead)
        }
        results = [finish(p) for p in procs if p is not victim]
        for name in ("SENDGRID_API_KEY", "MAILER_SENDGRID_HOST", "MAILER_SECRET_KEY"):
            monkeypatch.setenv(name, world.env[name])
        resumed = run_campaign(world.engine, world.config, cid)
        time.sleep(0.5)  # let the server log anything that was still on its way
    assert victim.returncode == -signal.SIGKILL
    assert all(code in (0, 1) for code, _o, _e in results), results
    counts = collections.Counter(server.accepted)
    assert set(counts.values()) == {1}, "someone got it twice"
    held = world.unknown_emails(cid)
    assert set(emails) - set(counts) <= held, "someone was lost (neither sent nor held)"
    unknown = {r.id for r in world.batches(cid) if r.status == "unknown"}
    assert in_flight and unknown == in_flight
    statuses = world.deliveries(cid)
    assert statuses["accepted"] + statuses["unknown"] == 2000
    assert statuses["unknown"] == 50 * len(in_flight)
    assert resumed.status == "paused"  # held unknown: the operator decides


def test_recovery_leaves_a_live_runners_batch_in_flight(pg_url: str, tmp_path: Path) -> None:
    """A batch in flight owned by a runner on another host with a fresh heartbeat is left
    alone by a second runner's recovery; once its heartbeat is older than the lease it is
    held unknown."""
    world = Runners(tmp_path, pg_url, "http://127.0.0.1:9")
    cid, _emails = world.campaign(3)
    b, d = db.batches, db.deliveries
    with db.transaction(world.engine) as conn:
        bid = conn.execute(
            b.insert().values(
                campaign_id=cid,
                status="sending",
                size=3,
                owner="elsewhere.example:4242",
                heartbeat_at=db.utcnow(),
            )
        ).inserted_primary_key[0]
        ids = conn.execute(select(db.subscribers.c.id)).scalars().all()
        conn.execute(
            d.insert(),
            [
                {"campaign_id": cid, "subscriber_id": i, "batch_id": bid, "status": "pending"}
                for i in ids
            ],
        )

    def settle() -> None:
        recovery.recover(
            world.engine,
            cid,
            per_message=False,
            probe=None,
            language_of=lambda lang: "en",
            me="here:1",
            shared=True,
        )

    settle()
    assert [(r.status, r.owner) for r in world.batches(cid)] == [
        ("sending", "elsewhere.example:4242")
    ]
    assert world.deliveries(cid) == collections.Counter({"pending": 3})
    with db.transaction(world.engine) as conn:
        old = db.utcnow() - LEASE - timedelta(seconds=5)
        conn.execute(b.update().where(b.c.id == bid).values(heartbeat_at=old))
    settle()
    assert [r.status for r in world.batches(cid)] == ["unknown"]
    assert world.deliveries(cid) == collections.Counter({"unknown": 3})


@pytest.mark.slow
def test_two_runners_keep_the_shared_rate(pg_url: str, tmp_path: Path) -> None:
    """Two runners with `rate = 500` send 2,000 recipients in no less than 4 s between
    them (the pace is shared through the database), each exactly once."""
    with FaultServer(delay=0.01) as server:
        world = Runners(tmp_path, pg_url, server.url, batch_size=100, extra="rate = 500")
        cid, emails = world.campaign(2000)
        started = time.monotonic()
        procs = [world.run("run-due", "--json") for _ in range(2)]
        results = [finish(p) for p in procs]
        elapsed = time.monotonic() - started
    for code, _out, err in results:
        assert code == 0, err
    assert collections.Counter(server.accepted) == collections.Counter(emails)
    assert world.status(cid) == "sent"
    assert len({row.owner for row in world.batches(cid)}) == 2
    b = db.batches
    with db.read(world.engine) as conn:
        first, last = conn.execute(
            select(func.min(b.c.created_at), func.max(b.c.finished_at)).where(
                b.c.campaign_id == cid
            )
        ).one()
    span = (last - first).total_seconds()
    assert span >= 4.0, f"2,000 at 500/s went out in {span:.2f}s"
    assert elapsed < 60


def test_looking_for_pending_work_never_locks_a_live_runners_batch(
    pg_url: str, tmp_path: Path
) -> None:
    """A runner looking for a pending batch (`take_pending`) leaves the row of another live
    runner's prepared batch unlocked, so that runner marks it in flight without waiting."""
    from sqlalchemy import text

    from mailer.delivery import claims

    world = Runners(tmp_path, pg_url, "http://127.0.0.1:9")
    cid, _ = world.campaign(3)
    b = db.batches
    with db.transaction(world.engine) as conn:
        other = conn.execute(
            b.insert().values(
                campaign_id=cid,
                status="pending",
                size=3,
                owner=f"{os.uname().nodename}:1",
                heartbeat_at=db.utcnow(),
            )
        ).inserted_primary_key[0]
    looking = world.engine.connect()
    try:
        looking.begin()
        got = claims.take_pending(looking, cid, "elsewhere:999", set(), shared=True)
        assert got is None  # the live runner's batch is not taken...
        with db.transaction(world.engine) as conn:  # ...nor locked while the looker's
            conn.execute(text("SET LOCAL lock_timeout = '2s'"))  # transaction is still open
            conn.execute(b.update().where(b.c.id == other).values(status="sending"))
    finally:
        looking.rollback()
        looking.close()
    assert [r.status for r in world.batches(cid)] == ["sending"]


def test_joining_runner_counts_fast_when_statistics_say_deliveries_is_empty(
    pg_url: str, tmp_path: Path
) -> None:
    """With 10,000 members, half of them queued after the planner last looked at
    `deliveries` (it believes the table empty), counting the campaign's recipients and
    taking the next page take well under a second each, not the seconds to minutes of a
    nested-loop anti-join; the count is exact and the page holds only unqueued members."""
    from sqlalchemy import text

    from mailer.delivery.ledger import Ledger
    from mailer.delivery.recipients import load_contents
    from mailer.delivery.send import store_contents
    from mailer.rendered import Rendered

    world = Runners(tmp_path, pg_url, "http://127.0.0.1:9", batch_size=1000)
    cid, _ = world.campaign(10_000)
    rendered = Rendered("t", "en", "ltr", "News", "", "", "<p>Hi</p>", "Hi")
    store_contents(world.engine, world.config, cid, [rendered])
    with world.engine.connect() as conn:
        conn.execute(text("ANALYZE deliveries"))  # empty now: what the planner will believe
        conn.execute(
            text(
                "INSERT INTO batches (id, campaign_id, status, size, attempts, created_at) "
                "VALUES (900000, :c, 'accepted', 5000, 1, now())"
            ),
            {"c": cid},
        )
        conn.execute(
            text(
                "INSERT INTO deliveries (campaign_id, subscriber_id, batch_id, status, updated_at)"
                " SELECT :c, subscriber_id, 900000, 'accepted', now() FROM memberships"
                " ORDER BY subscriber_id LIMIT 5000"
            ),
            {"c": cid},
        )
        conn.commit()
    with db.read(world.engine) as conn:
        row = conn.execute(select(db.campaigns).where(db.campaigns.c.id == cid)).mappings().one()
    from mailer.backends import get_backend

    os.environ.setdefault("SENDGRID_API_KEY", "SG.runners-test-key.0123456789")
    ledger = Ledger(
        world.engine,
        world.config,
        row,
        get_backend("sendgrid", world.config),
        load_contents(world.engine, cid),
    )
    started = time.perf_counter()
    total, settled = ledger.count_total()
    counted = time.perf_counter() - started
    assert (total, settled) == (10_000, 5_000)
    assert counted < 1.5, f"counting took {counted:.1f} s"
    with db.transaction(world.engine) as conn:
        conn.execute(db.campaigns.update().where(db.campaigns.c.id == cid).values(status="sending"))
    started = time.perf_counter()
    batch = ledger.next_new()
    took = time.perf_counter() - started
    assert batch is not None and len(batch.recipients) == 1000
    with db.read(world.engine) as conn:
        queued_before = set(
            conn.execute(
                select(db.deliveries.c.subscriber_id).where(db.deliveries.c.batch_id == 900000)
            ).scalars()
        )
    assert not {r.subscriber_id for r in batch.recipients} & queued_before
    assert took < 1.5, f"the next page took {took:.1f} s"


def test_runners_booking_the_first_pace_together_both_go_on(pg_url: str) -> None:
    """The pace row is made by the first booking: a runner whose booking meets another's
    insert not committed yet waits for it and books after it (it raised UniqueViolation:
    found running two runners with `rate` at once)."""
    import psycopg

    from mailer.delivery import pace

    engine = db.connect(pg_url)
    first = time.time() + 100  # the other runner's booking, far ahead: ours must follow it
    other = psycopg.connect(pg_url.replace("postgresql+psycopg://", "postgresql://"))
    other.execute(
        "INSERT INTO send_pace (name, tat, hour_start, hour_count) VALUES ('all', %s, 0, 0)",
        (first,),
    )
    got: list[Any] = []
    booking = threading.Thread(target=lambda: got.append(_book(pace, engine)))
    booking.start()
    time.sleep(0.5)  # our booking is now waiting on the other's uncommitted row
    assert booking.is_alive()
    other.commit()
    other.close()
    booking.join(10)
    assert len(got) == 1 and not isinstance(got[0], Exception), got
    assert got[0] == pytest.approx(first + 100 / 500)


def _book(pace: Any, engine: Any) -> Any:
    try:
        return pace.book(engine, 100, 500.0, None)
    except Exception as exc:  # reported by the test, not lost in the thread
        return exc
