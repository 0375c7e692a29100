"""The send's hot path (issue 14): what was made cheaper must still say exactly what it said.

Recipient tokens from precomputed HMAC states, the control-character scan per batch, the
deliveries inserted in one statement, the bare per-batch writes, the SendGrid body encoded
ahead, batches prepared ahead of the lanes and put back in line when the loop stops, and
the write turns a process's SQLite writers take.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from faultserver import FaultServer
from mailer import db
from mailer.backends.base import Batch, Content, Recipient, Sender, may_have_problems
from mailer.backends.base import message_problem as problem_of
from mailer.backends.sendgrid import SendGridBackend
from mailer.delivery import recipients
from mailer.delivery.pool import InFlight, writing
from mailer.delivery.send import run_campaign
from mailer.tracking.tokens import Signer
from support import delivery_statuses
from test_send import SECRET, campaign, make_config, pending_owners, seed

KEY = "SG.hotpath-test-key.0123456789"


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    return db.connect(f"sqlite:///{tmp_path / 'mailer.db'}")


# -- tokens ------------------------------------------------------------------------
def _base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if not n:
            return out


def _reference(key: bytes, campaign_id: int, subscriber_id: int) -> str:
    """The recipient token as the format says, with the stdlib's HMAC and base64."""
    payload = f"{_base36(campaign_id)}.{_base36(subscriber_id)}"
    mac = hmac.new(key, b"r:" + payload.encode(), hashlib.sha256).digest()
    return f"{payload}.{base64.urlsafe_b64encode(mac)[:12].decode()}"


@pytest.mark.parametrize("key_length", [16, 63, 64, 65, 200])
def test_per_campaign_tokens_are_the_tokens_the_format_defines(key_length: int) -> None:
    """Keys shorter than, equal to and longer than SHA-256's block (hashed first by HMAC):
    every token equals the reference HMAC, ``Signer.recipient``'s, and verifies."""
    rng = random.Random(key_length)
    key = bytes(rng.randrange(256) for _ in range(key_length))
    signer = Signer(key)
    for campaign_id in (1, 35, 36, 1295, 1296, 46656, 987654):
        tokens = signer.recipients(campaign_id)
        ids = [0, 1, 35, 36, 1295, 1296, 1297, 46655, 46656, *rng.sample(range(10**9), 200)]
        for sid in ids:
            token = tokens(sid)
            assert token == _reference(key, campaign_id, sid) == signer.recipient(campaign_id, sid)
            assert signer.verify_recipient(token) == (campaign_id, sid)


def test_a_token_of_another_key_does_not_verify() -> None:
    token = Signer(b"k" * 20).recipients(3)(42)
    with pytest.raises(Exception, match="signature"):
        Signer(b"j" * 20).verify_recipient(token)


# -- control characters --------------------------------------------------------------
def _batch(people: list[Recipient], subject: str = "News") -> Batch:
    content = Content.of("en", subject, "<p>%%first_name%%</p>", "%%first_name%%")
    return Batch(1, 1, "s", Sender("N", "n@example.org"), content, people)


def _person(
    i: int, name: str = "", value: str = "Ada", header: str = "<https://x/u/t>"
) -> Recipient:
    values = {"%%first_name%%": value}
    return Recipient(i, f"u{i}@example.org", name, values, values, {"List-Unsubscribe": header})


@pytest.mark.parametrize(
    "odd",
    [
        _person(7, name="Ada\nBcc: x@evil.example"),
        _person(7, value="Ada\x00"),
        _person(7, header="<https://x/u/t>\r\nX: y"),
        _person(7, name="Ada\x7f"),
    ],
)
def test_one_scan_per_batch_finds_what_the_recipient_check_finds(odd: Recipient) -> None:
    clean = [_person(i) for i in range(20)]
    assert not may_have_problems(_batch(clean))
    assert all(problem_of(_batch(clean), r) is None for r in clean)
    mixed = _batch([*clean[:10], odd, *clean[10:]])
    assert may_have_problems(mixed)
    assert [r.subscriber_id for r in mixed.recipients if problem_of(mixed, r)] == [7]


def test_the_scan_reads_characters_not_bytes_of_other_scripts() -> None:
    """Names in other scripts (their UTF-8 bytes are all ≥ 0x80), C1 controls and line
    separators are not what the check looks for; an ASCII control among them is."""
    names = ["Çağrı Öztürk", "مریم", "李雷", "😀 Emoji", "NEL\u0085", "LS\u2028", "x\ud800y"]
    people = [_person(i, name=n) for i, n in enumerate(names)]
    assert not may_have_problems(_batch(people))
    assert all(problem_of(_batch(people), r) is None for r in people)
    for bad in ("Çağrı\x1f", "李\x00雷", "😀\x7f", "مریم\r"):
        assert may_have_problems(_batch([*people, _person(99, name=bad)])), repr(bad)


def test_a_control_character_in_the_subject_is_seen_by_the_scan() -> None:
    people = [_person(i) for i in range(3)]
    assert may_have_problems(_batch(people, subject="News\n"))
    assert not may_have_problems(_batch(people, subject="News\t"))  # TAB is allowed
    # a value's control character matters only where the value goes into the subject:
    # the scan says "look closer", the per-recipient check decides
    odd = [*people, _person(9, value="Ada\x01")]
    assert may_have_problems(_batch(odd))
    assert all(problem_of(_batch(odd), r) is None for r in odd)
    assert problem_of(_batch(odd, subject="For %%first_name%%"), odd[-1]) is not None


def test_unbuildable_recipients_are_failed_and_the_rest_sent(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through the whole send: a name with a line break fails that reader only."""
    monkeypatch.setenv("MAILER_SECRET_KEY", SECRET)
    config = make_config(tmp_path, sending={"concurrency": 4, "batch_size": 10})
    ids = seed(engine, 40)
    with db.transaction(engine) as conn:
        conn.execute(
            db.subscribers.update()
            .where(db.subscribers.c.id == ids[13])
            .values(name="Eve\r\nBcc: all@example.org")
        )
    cid = campaign(engine, config)
    with FaultServer() as server:
        result = run_campaign(engine, config, cid, backend=SendGridBackend(KEY, server.url))
    assert result.accepted == 39 and result.failed == 1
    assert "user00013@example.com" not in server.accepted and len(server.accepted) == 39


# -- the deliveries insert -------------------------------------------------------------
def _deliveries(engine: Engine) -> list[tuple[Any, ...]]:
    d = db.deliveries
    cols = (d.c.id, d.c.campaign_id, d.c.subscriber_id, d.c.batch_id, d.c.language, d.c.status)
    with db.read(engine) as conn:
        return [tuple(r) for r in conn.execute(select(*cols).order_by(d.c.id))]


@pytest.mark.parametrize("json_each", [True, False])
def test_deliveries_are_queued_in_page_order_with_or_without_json_each(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, json_each: bool
) -> None:
    """Both ways of the insert write the same rows, in the order of the page, with times
    SQLAlchemy reads back."""
    monkeypatch.setattr(recipients, "sqlite_json", json_each)
    config = make_config(tmp_path)
    ids = seed(engine, 30)
    cid = campaign(engine, config)
    b = db.batches
    order = [ids[5], ids[2], ids[29], ids[0]]
    with writing(engine) as conn:
        bid = conn.execute(b.insert().values(campaign_id=cid, size=4)).inserted_primary_key[0]
        recipients.insert_deliveries(conn, cid, int(bid), "tr", [(i,) for i in order])
    rows = _deliveries(engine)
    assert [r[2] for r in rows] == order
    assert {r[1:2] + r[3:] for r in rows} == {(cid, bid, "tr", "pending")}
    with db.read(engine) as conn:
        times = conn.execute(select(db.deliveries.c.updated_at)).scalars().all()
    assert all(t.year >= 2024 for t in times)
    with pytest.raises(Exception, match="UNIQUE"), writing(engine) as conn:
        recipients.insert_deliveries(conn, cid, int(bid), "tr", [(order[1],)])
    assert len(_deliveries(engine)) == 4  # the failed statement wrote nothing


# -- the per-batch writes -------------------------------------------------------------
def test_an_accepted_batch_is_recorded_as_core_would_record_it(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One answer for a whole batch is recorded on the batch alone: settled, tried once,
    owned by the runner, with the provider's message id, a time readable as a datetime and
    comparable in SQL, and how many deliveries it accepted. The delivery rows are not
    rewritten (they keep ``pending``) and read as accepted, with the batch's id and time."""
    monkeypatch.setenv("MAILER_SECRET_KEY", SECRET)
    config = make_config(tmp_path, sending={"concurrency": 2, "batch_size": 10})
    seed(engine, 25)
    cid = campaign(engine, config)
    started = db.utcnow()
    with FaultServer() as server:
        run_campaign(engine, config, cid, backend=SendGridBackend(KEY, server.url))
    b, d = db.batches, db.deliveries
    with db.read(engine) as conn:
        rows = conn.execute(select(d).where(d.c.campaign_id == cid)).mappings().all()
        batches = conn.execute(select(b).where(b.c.campaign_id == cid)).mappings().all()
        later = conn.execute(select(b.c.id).where(b.c.finished_at >= started)).all()
        read = (
            conn.execute(
                select(
                    d.c.batch_id,
                    db.held.status_of().label("status"),
                    db.held.provider_id_of().label("pid"),
                    db.held.accepted_at_of().label("at"),
                )
                .select_from(db.held.with_batch())
                .where(d.c.campaign_id == cid)
            )
            .mappings()
            .all()
        )
    assert len(rows) == 25 and {r["status"] for r in rows} == {"pending"}
    assert all(r["provider_message_id"] is None and r["accepted_at"] is None for r in rows)
    assert len(batches) == len(later) == 3
    assert all(x["status"] == "accepted" and x["attempts"] == 1 for x in batches)
    assert all(x["finished_at"] >= started and x["owner"] for x in batches)
    assert all(x["provider_id"].startswith("fault-") for x in batches)
    assert sorted(x["accepted_count"] for x in batches) == [5, 10, 10]
    by_id = {x["id"]: x for x in batches}
    assert {r["status"] for r in read} == {"accepted"}
    assert all(r["pid"] == by_id[r["batch_id"]]["provider_id"] for r in read)
    assert all(r["at"] == by_id[r["batch_id"]]["finished_at"] >= started for r in read)


# -- SendGrid body encoded ahead --------------------------------------------------------
def _sg_batch(batch_id: int, n: int) -> Batch:
    content = Content.of("en", "News", "<p>Hi %%first_name%%</p>", "Hi %%first_name%%")
    people = [
        Recipient(i, f"p{i}@example.org", f"P {i}", {"%%first_name%%": "P"}, {}, {})
        for i in range(n)
    ]
    return Batch(5, batch_id, "slug", Sender("N", "n@example.org"), content, people)


def test_a_body_encoded_ahead_is_the_body_that_is_posted() -> None:
    with FaultServer() as server:
        server.keep_bodies = True
        backend = SendGridBackend(KEY, server.url, max_retries=0)
        lane = backend.fork()
        ahead, fresh = _sg_batch(1, 3), _sg_batch(2, 2)
        backend.prepare(ahead)  # on the preparing thread's backend, sent on another lane
        sent: list[str] = []
        lane.send(ahead, lambda r, *_: sent.append(r.email))
        lane.send(fresh, lambda r, *_: sent.append(r.email))
    assert server.bodies[0] == json.loads(backend.payload_json(ahead))
    assert server.bodies[1] == json.loads(backend.payload_json(fresh))
    assert sent == [f"p{i}@example.org" for i in (0, 1, 2, 0, 1)]


def test_a_body_encoded_for_another_batch_object_is_not_used() -> None:
    """Same batch id, other recipients (the batch was rebuilt): its own body is posted."""
    with FaultServer() as server:
        server.keep_bodies = True
        backend = SendGridBackend(KEY, server.url, max_retries=0)
        backend.prepare(_sg_batch(1, 3))
        backend.send(_sg_batch(1, 2), lambda *_: None)
    assert len(server.bodies[0]["personalizations"]) == 2


# -- batches in flight ------------------------------------------------------------------
class Lanes:
    """A *take* and *send* pair for :class:`InFlight` that records what happened."""

    def __init__(self, batches: int, seconds: float) -> None:
        self.todo = list(range(1, batches + 1))
        self.seconds = seconds
        self.lock = threading.Lock()
        self.sent: list[int] = []
        self.busy = self.most_busy = 0
        self.most_held = 0
        self.taken: list[int] = []
        self.ahead: list[int] = []

    def take(self, held: set[int]) -> Batch | None:
        """*held*: the batches in flight or prepared; with the new one, at most two per lane."""
        self.most_held = max(self.most_held, len(held) + 1)
        if not self.todo:
            return None
        bid = self.todo.pop(0)
        self.taken.append(bid)
        return _sg_batch(bid, 1)

    def send(self, lane: Any, batch: Batch) -> str | None:
        with self.lock:
            self.busy += 1
            self.most_busy = max(self.most_busy, self.busy)
        time.sleep(self.seconds)
        with self.lock:
            self.busy -= 1
            self.sent.append(batch.batch_id)
        return None


def test_lanes_stay_busy_and_batches_are_prepared_at_most_one_per_lane_ahead() -> None:
    work = Lanes(12, 0.05)
    lanes: Any = ["a", "b", "c"]
    flight = InFlight(lanes, work.take, work.send, ahead=lambda b: work.ahead.append(b.batch_id))
    started = time.monotonic()
    answered = [batch.batch_id for batch, error in flight.run(lambda: True)]
    elapsed = time.monotonic() - started
    assert sorted(answered) == sorted(work.sent) == list(range(1, 13))
    assert work.most_busy == 3 and work.most_held == 6  # 3 in flight, 3 ready
    assert flight.exhausted and not flight.left
    assert elapsed < 12 * 0.05 / 2  # 4 rounds of 3 lanes, not 12 batches one by one
    assert set(work.ahead) <= set(work.sent) and len(set(work.ahead)) == len(work.ahead)


def test_batches_prepared_when_the_loop_stops_are_left_unsent() -> None:
    work = Lanes(40, 0.03)
    stop_after = [6]

    def keep_going() -> bool:
        return len(work.sent) < stop_after[0]

    lanes: Any = ["a", "b"]
    flight = InFlight(lanes, work.take, work.send)
    answered = [batch.batch_id for batch, error in flight.run(keep_going)]
    left = [b.batch_id for b in flight.left]
    assert not flight.exhausted
    assert sorted(answered) == sorted(work.sent)
    assert sorted(work.sent + left) == sorted(work.taken)  # each taken batch: sent or left
    assert not set(left) & set(work.sent) and len(left) <= 2


def test_a_stopped_send_puts_its_prepared_batches_back_and_resumes_with_nobody_twice(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAILER_SECRET_KEY", SECRET)
    config = make_config(tmp_path, sending={"concurrency": 4, "batch_size": 5})
    seed(engine, 200)
    cid = campaign(engine, config)
    with FaultServer(delay=0.05) as server:
        backend = SendGridBackend(KEY, server.url)
        first = run_campaign(
            engine, config, cid, backend=backend, should_stop=lambda: len(server.accepted) >= 30
        )
        pending = pending_owners(engine, cid)
        assert first.accepted < 200 and pending  # stopped with prepared batches in line
        assert all(owner is None for owner in pending)  # any runner may take them
        final = run_campaign(engine, config, cid, backend=backend)
    assert final.status == "sent" and final.accepted == 200
    assert Counter(server.accepted) == Counter(f"user{i:05d}@example.com" for i in range(200))


def test_a_process_writers_take_turns_on_one_sqlite_file(engine: Engine) -> None:
    """A second writer of the process starts as soon as the first committed, and sees what
    it wrote. Without the turns it would wait in SQLite's busy handler, which sleeps in
    steps (1, 2, 5 … 100 ms): held 0.34 s, the file is retried only at 0.43 s."""
    done: list[float] = []
    inside = threading.Event()

    def first() -> None:
        with writing(engine) as conn:
            inside.set()
            db.get_or_create_list(conn, "first")
            time.sleep(0.34)
        done.append(time.monotonic())

    thread = threading.Thread(target=first)
    thread.start()
    inside.wait(5)
    with writing(engine) as conn:
        started = time.monotonic()
        assert db.get_or_create_list(conn, "first") == 1
    thread.join()
    assert 0 <= started - done[0] < 0.06, f"started {started - done[0]:.3f}s after the commit"


# -- the total, counted meanwhile --------------------------------------------------------
def test_the_total_counted_meanwhile_is_the_list_while_batches_are_queued(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Batches queued while the count runs move recipients from "not yet queued" to
    "queued" in the count's snapshot: the total stays the list's size, and a send's last
    progress report is (all, all)."""
    from mailer.delivery.batchrows import queue_page
    from mailer.delivery.counting import count_meanwhile
    from mailer.delivery.recipients import PageReader, language_cond

    monkeypatch.setenv("MAILER_SECRET_KEY", SECRET)
    config = make_config(tmp_path, sending={"concurrency": 4, "batch_size": 50})
    seed(engine, 3000)
    cid = campaign(engine, config)
    with db.read(engine) as conn:
        list_id = conn.execute(select(db.campaigns.c.list_id)).scalar_one()
    reader = PageReader(engine.dialect, cid, list_id, language_cond("en", "en", ["en"]), False)
    counted = count_meanwhile(engine, cid, list_id)
    _bid, rows, _after = queue_page(engine, cid, "me", reader, "en", 0, 700)
    assert len(rows) == 700
    assert counted.result() == (3000, 0)
    seen: list[tuple[int, int]] = []

    def report(done: int, total: int) -> None:
        seen.append((done, total))

    with FaultServer() as server:
        backend = SendGridBackend(KEY, server.url)
        result = run_campaign(engine, config, cid, backend=backend, progress=report)
    assert result.status == "sent" and result.total == result.accepted == 3000
    assert seen and seen[-1] == (3000, 3000)
    assert all(done <= total == 3000 for done, total in seen)


# -- kill -9 with batches in flight, on both databases -------------------------------------
KILL_DRIVER = """
import sys
from mailer import db
from mailer.config import load_config
from mailer.delivery.send import run_campaign
config = load_config(sys.argv[1])
run_campaign(db.connect(config.database_url), config, int(sys.argv[2]))
"""

KILL_TOML = """
name = "Kill test"
database_url = "{url}"
backend = "sendgrid"
[sender]
from_name = "IOM Turkey"
from_email = "newsletter@example.org"
[sending]
batch_size = 50
timeout = 5
max_backoff = 0.05
concurrency = 4
"""


@pytest.mark.slow
def test_kill_9_with_four_batches_in_flight_then_resume_sends_nobody_twice(
    db_url: str, tmp_path: Path
) -> None:
    """Lanes taking prepared batches themselves, bodies encoded ahead, the total counted
    meanwhile: killed at three random moments and resumed, on SQLite and PostgreSQL, every
    address reaches the server at most once and is accepted or held unknown (at most one
    batch per lane per kill)."""
    import os
    import signal
    import subprocess
    import sys

    from mailer.config import load_config
    from mailer.delivery.send import create_campaign, store_contents
    from test_send import rendered

    n, kills = 3000, 3
    rnd = random.Random(int(os.environ.get("MAILER_CRASH_SEED", random.randrange(1 << 30))))
    config_path = tmp_path / "mailer.toml"
    config_path.write_text(KILL_TOML.format(url=db_url))
    config = load_config(config_path)
    engine = db.connect(config.database_url)
    seed(engine, n)
    cid = create_campaign(engine, config, "issues/2018-03-iom-turkey.yaml", "partners")
    store_contents(engine, config, cid, [rendered("en")])
    db.dispose_all()
    with FaultServer(delay=0.02) as server:
        env = {**os.environ, "SENDGRID_API_KEY": KEY, "MAILER_SENDGRID_HOST": server.url}
        env.pop("MAILER_DATABASE_URL", None)
        cmd = [sys.executable, "-c", KILL_DRIVER, str(config_path), str(cid)]
        killed = 0
        for at in sorted(rnd.sample(range(n // 10, n - n // 10), kills)):
            proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE)
            deadline = time.monotonic() + 60
            while proc.poll() is None and time.monotonic() < deadline:
                if len(server.accepted) >= at:
                    time.sleep(rnd.uniform(0, 0.02))
                    proc.send_signal(signal.SIGKILL)
                    break
                time.sleep(0.001)
            proc.communicate(timeout=30)
            killed += proc.returncode == -signal.SIGKILL
        done = subprocess.run(cmd, env=env, capture_output=True, timeout=120)
        assert done.returncode == 0, done.stderr.decode()[-2000:]
        log = list(server.accepted)
    assert killed >= kills - 1
    counts = Counter(log)
    assert max(counts.values()) == 1, [a for a, k in counts.items() if k > 1][:5]
    engine = db.connect(config.database_url)
    status = delivery_statuses(engine)
    everyone = {f"user{i:05d}@example.com" for i in range(n)}
    accepted = {e for e, st in status.items() if st == "accepted"}
    unknown = {e for e, st in status.items() if st == "unknown"}
    assert set(status) == everyone and accepted | unknown == everyone
    assert accepted <= set(log) <= accepted | unknown
    assert len(unknown) <= kills * 4 * 50


def test_a_bare_read_that_fails_raises_sqlalchemys_error(engine: Engine) -> None:
    """The driver's own cursor reads a page; a failing read is raised as SQLAlchemy's error
    (what the CLI reports), and the transaction goes on."""
    from sqlalchemy import text
    from sqlalchemy.exc import OperationalError

    bad = recipients.Bare(text("SELECT id FROM no_such_table").compile(dialect=engine.dialect))
    good = recipients.Bare(select(db.lists.c.id).compile(dialect=engine.dialect))
    with writing(engine) as conn:
        db.get_or_create_list(conn, "a")
        with pytest.raises(OperationalError, match="no_such_table"):
            bad.all(conn)
        assert good.all(conn) == [(1,)]
