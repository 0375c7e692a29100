"""`concurrency = 1` with a provider that makes the sender wait (issue 14, item 1): the next
batch is prepared while the current one is in flight, yet batches still leave one after
the other, each only after the loop has read the previous answer; a batch prepared ahead
and never sent goes back in line with no owner, and a resume sends nobody twice.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from faultserver import FaultServer
from mailer import db
from mailer.backends.base import Batch, Content, Recipient, Sender
from mailer.backends.sendgrid import SendGridBackend
from mailer.delivery.pool import InFlight, waits
from mailer.delivery.send import run_campaign
from test_send import SECRET, campaign, make_config, pending_owners, seed

KEY = "SG.one-lane-test-key.0123456789"


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    return db.connect(f"sqlite:///{tmp_path / 'mailer.db'}")


def _batch(batch_id: int) -> Batch:
    content = Content.of("en", "News", "<p>Hi</p>", "Hi")
    people = [Recipient(batch_id, f"p{batch_id}@example.org", "P", {}, {}, {})]
    return Batch(5, batch_id, "slug", Sender("N", "n@example.org"), content, people)


class Waiting:
    """A lane that waits for its provider (it can ``fork``), for :class:`InFlight`."""

    def fork(self) -> Waiting:
        return Waiting()


class Script:
    """*take* (each batch takes *prepare* seconds to prepare) and *send* (*answer* seconds)
    for :class:`InFlight`, with a log of what happened when."""

    def __init__(self, batches: int, prepare: float, answer: float) -> None:
        self.todo = list(range(1, batches + 1))
        self.prepare, self.answer = prepare, answer
        self.lock = threading.Lock()
        self.log: list[tuple[str, int]] = []
        self.busy = self.most_busy = self.most_held = 0

    def note(self, what: str, bid: int) -> None:
        with self.lock:
            self.log.append((what, bid))

    def take(self, held: set[int]) -> Batch | None:
        self.most_held = max(self.most_held, len(held) + 1)
        if not self.todo:
            return None
        time.sleep(self.prepare)
        bid = self.todo.pop(0)
        self.note("taken", bid)
        return _batch(bid)

    def send(self, lane: Any, batch: Batch) -> str | None:
        with self.lock:
            self.busy += 1
            self.most_busy = max(self.most_busy, self.busy)
        self.note("left", batch.batch_id)
        time.sleep(self.answer)
        with self.lock:
            self.busy -= 1
        return None


def test_only_backends_that_wait_get_a_lane_thread() -> None:
    from mailer.backends.memory import MemoryBackend

    assert waits(SendGridBackend(KEY, "http://127.0.0.1:9"))
    assert not waits(MemoryBackend())


def test_one_lane_prepares_the_next_batch_while_the_current_one_is_in_flight() -> None:
    work = Script(8, prepare=0.06, answer=0.08)
    flight = InFlight([Waiting()], work.take, work.send)  # type: ignore[list-item]
    started = time.monotonic()
    answered = []
    for batch, error in flight.run(lambda: True):
        assert error is None
        work.note("answered", batch.batch_id)
        answered.append(batch.batch_id)
    elapsed = time.monotonic() - started
    assert answered == list(range(1, 9)) and flight.exhausted and not flight.left
    assert work.most_busy == 1 and work.most_held == 2  # one in flight, one prepared
    # one after the other: 8 answers of 0.08 s plus the first preparation, not 8 x 0.14 s
    assert elapsed < 8 * 0.08 + 0.06 + 0.2, f"{elapsed:.2f}s: not prepared meanwhile"
    for bid in range(2, 9):  # each batch leaves only after the previous answer was read
        assert work.log.index(("answered", bid - 1)) < work.log.index(("left", bid))
        assert work.log.index(("taken", bid)) < work.log.index(("answered", bid - 1))


def test_one_lane_stopped_leaves_its_prepared_batch_unsent() -> None:
    work = Script(20, prepare=0.0, answer=0.03)
    answered: list[int] = []
    flight = InFlight([Waiting()], work.take, work.send)  # type: ignore[list-item]
    for batch, _error in flight.run(lambda: len(answered) < 3):
        answered.append(batch.batch_id)
    sent = [bid for what, bid in work.log if what == "left"]
    taken = [bid for what, bid in work.log if what == "taken"]
    assert not flight.exhausted and sent == answered
    assert sorted(sent + [b.batch_id for b in flight.left]) == taken
    assert len(flight.left) <= 1 and not set(sent) & {b.batch_id for b in flight.left}


def test_one_lane_closed_after_an_answer_sends_nothing_more() -> None:
    """The loop stops on an answer (a pause after failed batches): the batch prepared
    meanwhile never leaves."""
    work = Script(10, prepare=0.0, answer=0.02)
    flight = InFlight([Waiting()], work.take, work.send)  # type: ignore[list-item]
    run = flight.run(lambda: True)
    for batch, _error in run:
        if batch.batch_id == 2:
            break
    run.close()
    assert [bid for what, bid in work.log if what == "left"] == [1, 2]
    assert [b.batch_id for b in flight.left] == [3]


def test_concurrency_1_is_faster_than_one_batch_after_the_other_and_resumes_exactly_once(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real send (SQLite, SendGrid stand-in answering after 0.1 s): stopped midway, the
    batch prepared ahead is back in line with no owner; the resume sends everyone else
    exactly once."""
    monkeypatch.setenv("MAILER_SECRET_KEY", SECRET)
    config = make_config(tmp_path, sending={"concurrency": 1, "batch_size": 10})
    seed(engine, 120)
    cid = campaign(engine, config)
    with FaultServer(delay=0.1) as server:
        backend = SendGridBackend(KEY, server.url, timeout=5, max_retries=0)
        first = run_campaign(
            engine, config, cid, backend=backend, should_stop=lambda: len(server.accepted) >= 40
        )
        pending = pending_owners(engine, cid)
        assert first.status == "sending" and first.accepted == len(server.accepted) < 120
        assert pending == [None]  # prepared ahead, put back
        final = run_campaign(engine, config, cid, backend=backend)
    assert final.status == "sent" and final.accepted == 120
    assert Counter(server.accepted) == Counter(f"user{i:05d}@example.com" for i in range(120))
    assert len(server.actions) == 12  # one request per batch, none twice
