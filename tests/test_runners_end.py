"""Several runners, one campaign (PostgreSQL): how a runner that ran out of work ends.

* :func:`finish_campaign` says why it did nothing (batches open, members left) and does
  nothing once another runner has marked the campaign sent;
* a runner waiting for another runner's last batch ends soon after that runner marks the
  campaign sent, not at the end of its wait (:data:`mailer.delivery.ledger.WATCH_SECONDS`).
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy import select

from mailer import db
from mailer.backends import MemoryBackend
from mailer.delivery.ledger import Ledger
from mailer.delivery.outcomes import Finish, finish_campaign
from mailer.delivery.recipients import load_contents
from test_run_due import make_config, sending_campaign

#: a live runner on this host that is not this process (PID 1 is always there)
OTHER = f"{os.uname().nodename}:1"


def _campaign(engine: Any, tmp_path: Path, members: int) -> int:
    return sending_campaign(engine, make_config(tmp_path), members)


def _queue_all(engine: Any, cid: int, status: str) -> int:
    """Every member queued in one batch of another live runner, *status* (open)."""
    b, d, m = db.batches, db.deliveries, db.memberships
    with db.transaction(engine) as conn:
        bid = conn.execute(
            b.insert().values(
                campaign_id=cid, status=status, size=0, owner=OTHER, heartbeat_at=db.utcnow()
            )
        ).inserted_primary_key[0]
        for (sid,) in conn.execute(select(m.c.subscriber_id)).all():
            conn.execute(
                d.insert().values(campaign_id=cid, subscriber_id=sid, batch_id=bid, language="en")
            )
    return int(bid)


def _other_runner_finishes(engine: Any, cid: int, bid: int) -> None:
    """What the other runner does when its last batch is accepted."""
    b, c, d = db.batches, db.campaigns, db.deliveries
    with db.transaction(engine) as conn:
        conn.execute(d.update().where(d.c.batch_id == bid).values(status="accepted"))
        conn.execute(b.update().where(b.c.id == bid).values(status="accepted"))
        conn.execute(c.update().where(c.c.id == cid).values(status="sent", finished_at=db.utcnow()))


def _status(engine: Any, cid: int) -> tuple[str, Any]:
    c = db.campaigns
    with db.read(engine) as conn:
        row = conn.execute(select(c.c.status, c.c.finished_at).where(c.c.id == cid)).one()
    return str(row[0]), row[1]


def test_finish_says_why_it_did_nothing_and_leaves_a_sent_campaign_alone(
    postgres: Any, tmp_path: Path
) -> None:
    engine = db.connect(postgres.create_database())
    try:
        cid = _campaign(engine, tmp_path, 3)
        assert finish_campaign(engine, cid, shared=True) is Finish.LEFT  # nobody queued yet
        bid = _queue_all(engine, cid, "sending")
        assert finish_campaign(engine, cid, shared=True) is Finish.OPEN
        assert _status(engine, cid)[0] == "sending"
        _other_runner_finishes(engine, cid, bid)
        before = _status(engine, cid)
        assert finish_campaign(engine, cid, shared=True) is Finish.DONE
        assert _status(engine, cid) == before  # marked by the other runner, left as it was
    finally:
        engine.dispose()
        db.dispose_all()


def test_a_waiting_runner_ends_soon_after_another_marks_the_campaign_sent(
    postgres: Any, tmp_path: Path
) -> None:
    """Waiting for another runner's batch in flight (a wait of 5 s here), this runner sees
    the campaign marked sent within a fraction of a second and stops."""
    engine = db.connect(postgres.create_database())
    try:
        cid = _campaign(engine, tmp_path, 3)
        bid = _queue_all(engine, cid, "sending")
        with db.read(engine) as conn:
            row = conn.execute(select(db.campaigns).where(db.campaigns.c.id == cid)).mappings()
            campaign = row.one()
        config = make_config(tmp_path)
        backend = MemoryBackend()
        ledger = Ledger(engine, config, campaign, backend, load_contents(engine, cid))
        ledger.poll_seconds = 5.0
        marked: list[float] = []

        def other() -> None:
            time.sleep(0.5)  # the ledger has found nothing to send and waits by now
            _other_runner_finishes(engine, cid, bid)
            marked.append(time.monotonic())

        thread = threading.Thread(target=other)
        thread.start()
        deadline = time.monotonic() + 30
        ledger.run(should_stop=lambda: time.monotonic() > deadline)
        ended = time.monotonic()
        thread.join()
        assert marked, "the other runner never marked the campaign sent"
        assert ended - marked[0] < 2.0, f"ended {ended - marked[0]:.2f}s after it was sent"
        assert backend.sent == []  # everyone was the other runner's: nothing sent twice
        assert _status(engine, cid)[0] == "sent"
    finally:
        engine.dispose()
        db.dispose_all()
