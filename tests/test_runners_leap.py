"""Several runners, one campaign (PostgreSQL): a runner whose cursor is behind what the others
queued leaps past their pages, and what it leapt over unqueued (a page another runner locked,
then dropped as it died) is still sent, once, before the campaign is marked sent."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import Engine, select

from mailer import db
from mailer.backends import MemoryBackend
from mailer.config import Config
from mailer.delivery.recipients import PageReader, language_cond
from mailer.delivery.send import run_campaign
from test_run_due import make_config, sending_campaign

DS = db.DeliveryStatus


def _campaign(postgres: Any, tmp_path: Path, members: int) -> tuple[str, Engine, Config, int]:
    url = postgres.create_database()
    engine = db.connect(url)
    config = make_config(tmp_path)  # batches of 5
    return url, engine, config, sending_campaign(engine, config, members)


def _member_ids(engine: Engine) -> list[int]:
    m = db.memberships
    with db.read(engine) as conn:
        query = select(m.c.subscriber_id).order_by(m.c.subscriber_id)
        return [int(i) for i in conn.execute(query).scalars()]


def _sent_by_another_runner(engine: Engine, cid: int, ids: list[int]) -> None:
    """A batch of *ids* another runner queued and the provider accepted."""
    b, d = db.batches, db.deliveries
    with db.transaction(engine) as conn:
        bid = conn.execute(
            b.insert().values(campaign_id=cid, status=DS.ACCEPTED.value, size=len(ids), owner="c")
        ).inserted_primary_key[0]
        for sid in ids:
            conn.execute(
                d.insert().values(
                    campaign_id=cid,
                    subscriber_id=sid,
                    batch_id=bid,
                    language="en",
                    status=DS.ACCEPTED.value,
                )
            )


def test_a_page_leaps_past_what_others_queued_unless_told_to_read_every_page(
    postgres: Any, tmp_path: Path
) -> None:
    _url, engine, _config, cid = _campaign(postgres, tmp_path, 15)
    ids = _member_ids(engine)
    _sent_by_another_runner(engine, cid, ids[5:10])
    with db.read(engine) as conn:
        list_id = conn.execute(
            select(db.campaigns.c.list_id).where(db.campaigns.c.id == cid)
        ).scalar_one()
    cond = language_cond("en", "en", ["en"])
    try:
        reader = PageReader(engine.dialect, cid, list_id, cond, True, leap=True)
        with db.transaction(engine) as conn:
            rows, after = reader.page(conn, 0, 5)
        assert [r[0] for r in rows] == ids[10:15] and after == ids[14]
        plain = PageReader(engine.dialect, cid, list_id, cond, True)  # made without leap
        with db.transaction(engine) as conn:
            rows, after = plain.page(conn, 0, 5)
        assert [r[0] for r in rows] == ids[0:5] and after == ids[4]
    finally:
        db.dispose_all()


def test_members_leapt_over_while_another_runner_held_them_are_sent_once(
    postgres: Any, tmp_path: Path
) -> None:
    """Runner C sent the last page; runner B locked the first page and dies before its
    batch commits; runner A starts behind both: its first page leaps past C's, so the
    members between are found only by the last look (members left). A must then read
    every page (not leap again), queue the middle page at once and B's page once B is
    gone, and mark the campaign sent with every member accepted exactly once."""
    url, engine, config, cid = _campaign(postgres, tmp_path, 15)
    ids = _member_ids(engine)
    _sent_by_another_runner(engine, cid, ids[10:15])
    backend = MemoryBackend()
    runner_b = psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"))
    try:
        runner_b.execute(
            "SELECT 1 FROM memberships WHERE subscriber_id = ANY(%s) FOR UPDATE", (ids[0:5],)
        )
        dies = threading.Timer(1.0, runner_b.rollback)  # B's transaction ends uncommitted
        dies.start()
        deadline = time.monotonic() + 20
        result = run_campaign(
            engine,
            config,
            cid,
            backend=backend,
            should_stop=lambda: time.monotonic() > deadline,
        )
        dies.join()
    finally:
        runner_b.close()
    try:
        assert result.status == "sent", (result.status, result.accepted)
        sent = sorted(m.subscriber_id for m in backend.sent)
        assert sent == ids[0:10]  # B's page and the middle one, each once; not C's again
        d = db.deliveries
        with db.read(engine) as conn:
            rows = conn.execute(
                select(d.c.subscriber_id, d.c.status).where(d.c.campaign_id == cid)
            ).all()
        assert sorted(r[0] for r in rows) == ids
        assert {r[1] for r in rows} == {DS.ACCEPTED.value}
    finally:
        db.dispose_all()
