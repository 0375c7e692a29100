"""Acceptance recorded per batch (``mailer.db.held``): SendGrid's one answer for a batch is
written on the batch row alone; its deliveries keep ``pending`` and every reader sees them
accepted, on SQLite and PostgreSQL, sent against the local SendGrid stand-in.

Each reader is checked against what the provider's log shows: the campaign's counts
(``campaign_result``, ``mailer campaigns``, the progress count at a resume), the report's
counts, the auto-pause's denominator, a subscriber's data export, the click recorder's
"too soon after it was sent" rule; and each writer keeps the batches' counts exact:
cancelling a half-sent campaign cancels only what never left, erasing a recipient counts
one fewer.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from faultserver import FaultServer
from mailer import db
from mailer.audience.privacy import forget, show
from mailer.backends.sendgrid import SendGridBackend
from mailer.delivery.campaigns import campaign_result, list_campaigns
from mailer.delivery.cancel import cancel_campaign
from mailer.delivery.counting import count_total
from mailer.delivery.send import run_campaign
from mailer.delivery.signals import read_signals
from mailer.stats.history import base_counts
from support import delivery_statuses
from test_send import SECRET, campaign, make_config, seed

KEY = "SG.held-acceptance-key.0123456789"


@pytest.fixture
def engine(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Engine:
    monkeypatch.setenv("MAILER_SECRET_KEY", SECRET)
    return db.connect(db_url)


def _send(engine: Engine, tmp_path: Path, n: int, stop_at: int = 0) -> tuple[int, list[str]]:
    """A campaign of *n* sent through SendGrid in batches of 10, one at a time (stopped
    once the server has *stop_at* addresses, when given); (its id, the addresses the server
    accepted)."""
    config = make_config(tmp_path, sending={"batch_size": 10, "concurrency": 1})
    seed(engine, n)
    cid = campaign(engine, config)
    with FaultServer() as server:
        run_campaign(
            engine,
            config,
            cid,
            backend=SendGridBackend(KEY, server.url),
            should_stop=lambda: bool(stop_at) and len(server.accepted) >= stop_at,
        )
        accepted = list(server.accepted)
    return cid, accepted


def test_a_sent_campaign_reads_accepted_everywhere(engine: Engine, tmp_path: Path) -> None:
    cid, log = _send(engine, tmp_path, 35)
    assert len(log) == len(set(log)) == 35
    d, b = db.deliveries, db.batches
    with db.read(engine) as conn:
        own = dict(
            conn.execute(
                select(d.c.status, func.count()).where(d.c.campaign_id == cid).group_by(d.c.status)
            ).all()
        )
        held = conn.execute(
            select(func.sum(b.c.accepted_count)).where(b.c.campaign_id == cid)
        ).scalar_one()
        base = base_counts(conn, [cid])
        settled = db.held.settled_count(conn, [cid])
    assert own == {"pending": 35} and held == 35  # no row rewritten: the batches hold it
    assert set(delivery_statuses(engine, cid).values()) == {"accepted"}
    result = campaign_result(engine, cid)
    assert (result.status, result.accepted, result.pending) == ("sent", 35, 0)
    listed = list_campaigns(engine, cid)[0]
    assert listed["accepted"] == 35 and listed["pending"] == 0
    assert base.accepted == 35 and settled == 35
    assert read_signals(engine, cid).accepted == 35


def test_a_half_sent_campaign_counts_what_left(engine: Engine, tmp_path: Path) -> None:
    """Stopped after 2 batches (the third, prepared ahead, put back): 20 accepted, the rest
    pending, and a resume's progress starts from the 20 settled."""
    cid, log = _send(engine, tmp_path, 45, stop_at=20)
    assert len(log) == 20
    statuses = delivery_statuses(engine, cid)
    assert {e for e, s in statuses.items() if s == "accepted"} == set(log)
    result = campaign_result(engine, cid)
    assert (result.accepted, result.pending) == (20, len(statuses) - 20)
    c = db.campaigns
    with db.read(engine) as conn:
        list_id = conn.execute(select(c.c.list_id).where(c.c.id == cid)).scalar_one()
    assert count_total(engine, cid, int(list_id)) == (45, 20)


def test_cancel_cancels_only_what_never_left(engine: Engine, tmp_path: Path) -> None:
    cid, log = _send(engine, tmp_path, 45, stop_at=20)
    cancelled = cancel_campaign(engine, cid)
    assert cancelled.accepted == 20
    statuses = delivery_statuses(engine, cid)
    assert {e for e, s in statuses.items() if s == "accepted"} == set(log)
    assert {s for e, s in statuses.items() if e not in log} <= {"failed"}
    result = campaign_result(engine, cid)
    assert (result.status, result.accepted, result.pending) == ("cancelled", 20, 0)


def test_erasing_a_recipient_counts_one_fewer(engine: Engine, tmp_path: Path) -> None:
    cid, log = _send(engine, tmp_path, 25)
    with db.transaction(engine) as conn:
        assert forget(conn, log[3])
    result = campaign_result(engine, cid)
    assert result.accepted == 24 == len(delivery_statuses(engine, cid))
    with db.read(engine) as conn:
        assert base_counts(conn, [cid]).accepted == 24


def test_a_subscribers_export_shows_the_batchs_answer(engine: Engine, tmp_path: Path) -> None:
    cid, log = _send(engine, tmp_path, 12)
    b = db.batches
    with db.read(engine) as conn:
        data = show(conn, log[11])
        batch = (
            conn.execute(select(b).where(b.c.campaign_id == cid).order_by(b.c.id.desc()))
            .mappings()
            .first()
        )
    assert batch is not None
    (delivery,) = data["deliveries"]
    assert delivery["status"] == "accepted"
    assert delivery["provider_message_id"] == batch["provider_id"]
    assert delivery["provider_message_id"].startswith("fault-")
    assert delivery["accepted_at"] == batch["finished_at"].isoformat() + "Z"


def test_the_auto_pause_counts_held_acceptances_since_it_was_resumed(
    engine: Engine, tmp_path: Path
) -> None:
    """``signals_since`` (set by a resume) counts only what was accepted after it: a batch
    holds its time in ``finished_at``."""
    cid, _log = _send(engine, tmp_path, 30)
    b, c = db.batches, db.campaigns
    with db.transaction(engine) as conn:
        first = conn.execute(
            select(func.min(b.c.finished_at)).where(b.c.campaign_id == cid)
        ).scalar_one()
        last = conn.execute(
            select(func.max(b.c.finished_at)).where(b.c.campaign_id == cid)
        ).scalar_one()
        conn.execute(c.update().where(c.c.id == cid).values(signals_since=last))
    assert read_signals(engine, cid).accepted == 10  # the last batch only
    with db.transaction(engine) as conn:
        conn.execute(
            c.update().where(c.c.id == cid).values(signals_since=first - timedelta(seconds=1))
        )
    assert read_signals(engine, cid).accepted == 30
