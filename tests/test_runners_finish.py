"""Several runners, one campaign (PostgreSQL): the last runner marks the campaign sent only
when no recipient is left, not even one another runner is queuing at that very moment."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import func, select

from mailer import db
from mailer.backends import MemoryBackend
from mailer.delivery.send import run_campaign
from test_run_due import make_config, sending_campaign


def test_a_member_being_queued_by_another_runner_keeps_the_campaign_sending(
    postgres: Any, tmp_path: Path
) -> None:
    """Runner B is queuing the last page (its memberships locked, its batch not committed
    yet) when runner A runs out of pages: A must not mark the campaign sent, or B (seeing
    the campaign no longer `sending`) may leave that batch pending in a `sent` campaign."""
    url = postgres.create_database()
    engine = db.connect(url)
    config = make_config(tmp_path)
    cid = sending_campaign(engine, config, 3)
    with db.read(engine) as conn:
        last = conn.execute(select(func.max(db.memberships.c.subscriber_id))).scalar()
    runner_b = psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"))
    try:  # B's page transaction: the last member locked, its batch not committed yet
        runner_b.execute("SELECT 1 FROM memberships WHERE subscriber_id = %s FOR UPDATE", (last,))
        deadline = time.monotonic() + 3  # A waits for B's batch; B never commits here
        result = run_campaign(
            engine,
            config,
            cid,
            backend=MemoryBackend(),
            should_stop=lambda: time.monotonic() > deadline,
        )
    finally:
        runner_b.rollback()
        runner_b.close()
        db.dispose_all()
    assert result.status == "sending", (result.status, result.accepted)
