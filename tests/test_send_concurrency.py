"""Batches in flight (`[sending] concurrency`): several requests or SMTP connections at once,
the ledger's per-batch rules unchanged (a local 202 server with a delay, aiosmtpd)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import Engine

from faultserver import FaultServer
from mailer import db
from mailer.backends.sendgrid import SendGridBackend
from mailer.delivery.send import run_campaign
from support import delivery_statuses, free_port
from test_send import SECRET, campaign, make_config, seed

KEY = "SG.concurrency-test-key.0123456789"


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    return db.connect(f"sqlite:///{tmp_path / 'mailer.db'}")


def _statuses(engine: Engine, cid: int) -> Counter[str]:
    return Counter(delivery_statuses(engine, cid).values())


def test_sendgrid_batches_fly_together(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With concurrency 4 against a server answering after 0.3 s, 8 batches take about two
    answer times instead of eight, and every recipient is accepted exactly once."""
    monkeypatch.setenv("MAILER_SECRET_KEY", SECRET)
    config = make_config(tmp_path, sending={"concurrency": 4, "batch_size": 10})
    seed(engine, 80)
    cid = campaign(engine, config)
    with FaultServer(delay=0.3) as server:
        backend = SendGridBackend(KEY, server.url, timeout=5, max_retries=0)
        started = time.monotonic()
        result = run_campaign(engine, config, cid, backend=backend)
        elapsed = time.monotonic() - started
    assert result.status == "sent" and result.accepted == 80
    assert sorted(server.accepted) == [f"user{i:05d}@example.com" for i in range(80)]
    assert backend.requests == 8
    assert elapsed < 1.8, f"8 batches of 0.3 s in {elapsed:.2f}s: not in flight together"
    assert _statuses(engine, cid) == Counter({"accepted": 80})


def test_sendgrid_one_lane_when_concurrency_is_1(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """concurrency = 1 keeps one request at a time (the answer time adds up per batch)."""
    monkeypatch.setenv("MAILER_SECRET_KEY", SECRET)
    config = make_config(tmp_path, sending={"concurrency": 1, "batch_size": 10})
    seed(engine, 40)
    cid = campaign(engine, config)
    with FaultServer(delay=0.25) as server:
        backend = SendGridBackend(KEY, server.url, timeout=5, max_retries=0)
        started = time.monotonic()
        result = run_campaign(engine, config, cid, backend=backend)
        elapsed = time.monotonic() - started
    assert result.accepted == 40 and len(server.accepted) == 40
    assert elapsed >= 1.0


def test_a_hang_among_batches_in_flight_holds_only_that_batch(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One request of four in flight gets no answer: its 10 recipients are held unknown, the
    others are accepted, and --retry-unknown sends only those 10."""
    monkeypatch.setenv("MAILER_SECRET_KEY", SECRET)
    config = make_config(tmp_path, sending={"concurrency": 4, "batch_size": 10})
    seed(engine, 40)
    cid = campaign(engine, config)
    with FaultServer(["ok", "hang"], hang_seconds=1.5, delay=0.05) as server:
        backend = SendGridBackend(KEY, server.url, timeout=0.6, max_retries=0)
        result = run_campaign(engine, config, cid, backend=backend)
        assert result.status == "paused" and result.accepted == 30 and result.unknown == 10
        assert len(server.hung) == 10 and not set(server.hung) & set(server.accepted)
        final = run_campaign(engine, config, cid, backend=backend, retry_unknown=True)
    assert final.status == "sent" and final.accepted == 40
    assert sorted(server.accepted) == [f"user{i:05d}@example.com" for i in range(40)]


class SlowInbox:
    """An aiosmtpd handler that takes 0.1 s per message and counts connections in DATA."""

    def __init__(self) -> None:
        self.rcpts: list[str] = []
        self.busy = 0
        self.most = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.busy += 1
            self.most = max(self.most, self.busy)
        await asyncio.sleep(0.1)
        with self.lock:
            self.busy -= 1
            self.rcpts.extend(envelope.rcpt_tos)
        return "250 2.0.0 queued"


def test_smtp_sends_on_several_connections(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With concurrency 3 the SMTP backend keeps three connections busy at once; each address
    gets one message and each is accepted in the ledger."""
    monkeypatch.setenv("MAILER_SECRET_KEY", SECRET)
    handler = SlowInbox()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        config = make_config(
            tmp_path,
            smtp={"host": "127.0.0.1", "port": controller.port, "security": "none", "timeout": 5},
            sending={"concurrency": 3, "batch_size": 5},
        )
        seed(engine, 30)
        cid = campaign(engine, config)
        started = time.monotonic()
        result = run_campaign(engine, config, cid, backend="smtp")
        elapsed = time.monotonic() - started
    finally:
        controller.stop()
    assert result.status == "sent" and result.accepted == 30
    assert sorted(handler.rcpts) == [f"user{i:05d}@example.com" for i in range(30)]
    assert handler.most >= 2, "messages went one connection at a time"
    assert elapsed < 2.5, f"30 messages of 0.1 s took {elapsed:.2f}s"
    assert _statuses(engine, cid) == Counter({"accepted": 30})


def test_a_batch_costs_the_ledgers_three_write_transactions(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A send on SQLite with no rate set runs per batch only the ledger's three write
    transactions (queue, in flight, answer), never looks for pending batches or the pace
    once per batch, and reads the campaign's status at most every STATUS_SECONDS."""
    from sqlalchemy import event

    from mailer.delivery.ledger import STATUS_SECONDS

    monkeypatch.setenv("MAILER_SECRET_KEY", SECRET)
    config = make_config(tmp_path, sending={"concurrency": 2, "batch_size": 10})
    seed(engine, 300)
    cid = campaign(engine, config)
    seen: Counter[str] = Counter()

    def count(conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
        seen[" ".join(statement.split())[:60]] += 1

    event.listen(engine, "before_cursor_execute", count)
    with FaultServer() as server:
        backend = SendGridBackend(KEY, server.url, timeout=5, max_retries=0)
        started = time.monotonic()
        result = run_campaign(engine, config, cid, backend=backend)
        elapsed = time.monotonic() - started
    event.remove(engine, "before_cursor_execute", count)
    assert result.status == "sent" and result.accepted == 300
    assert _statuses(engine, cid) == Counter({"accepted": 300})
    batches = 30
    writes = seen["BEGIN IMMEDIATE"]
    assert 3 * batches <= writes <= 3 * batches + 15, seen  # + the run's own few
    pending_looks = sum(
        n for k, n in seen.items() if k.startswith("SELECT batches.id, batches.owner")
    )
    assert pending_looks <= 6, seen  # the start and each lane's last looks, not one per batch
    assert not any("send_pace" in k for k in seen), seen
    status_reads = seen["SELECT campaigns.status FROM campaigns WHERE campaigns.id = ?"]
    assert status_reads <= elapsed / STATUS_SECONDS + 3, (status_reads, elapsed)
