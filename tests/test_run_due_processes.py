"""Real `mailer run-due` / `mailer worker` processes with the real sender: two runs at once send
each recipient exactly once (SQLite and PostgreSQL; outbox files and an SMTP server count); a
run killed mid-send is finished by the next run without duplicates; the worker stops on SIGTERM."""

from __future__ import annotations

import collections
import json
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
from sqlalchemy import Engine, select

from mailer import db
from mailer.config import Config, load_config
from support import ROOT, finish, free_port
from test_run_due import outbox_counts, scheduled, subscribe

MAILER = str(ROOT / ".venv" / "bin" / "mailer")

TOML = """\
name = "Process test"
backend = "outbox"
[sender]
from_name = "IOM Turkey"
from_email = "newsletter@example.org"
[sending]
batch_size = {batch_size}
[schedule]
timezone = "Europe/Istanbul"
max_delay = "6h"
"""


class SmtpCounter:
    """aiosmtpd on 127.0.0.1 that counts the messages each address receives."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.counts: collections.Counter[str] = collections.Counter()
        self.lock = threading.Lock()
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            for rcpt in envelope.rcpt_tos:
                self.counts[rcpt.lower()] += 1
        return "250 OK"

    def stop(self) -> None:
        self.controller.stop()


class World:
    """A newsletter folder with its own config, database and outbox, for CLI processes."""

    def __init__(self, root: Path, url: str, batch_size: int = 20) -> None:
        self.root, self.url = root, url
        (root / "mailer.toml").write_text(TOML.format(batch_size=batch_size), encoding="utf-8")
        self.env = {
            **os.environ,
            "MAILER_DATABASE_URL": url,
            "MAILER_OUTBOX_DIR": str(root / "outbox"),
            "NO_COLOR": "1",
        }
        self.env.pop("MAILER_SMTP_URL", None)
        # outbox_dir defaults to "outbox" beside mailer.toml: the folder the env names too
        self.config: Config = load_config(root / "mailer.toml")
        self.engine: Engine = db.connect(url)

    def due_now(self, list_name: str, **values: Any) -> int:
        at = db.utcnow() - timedelta(seconds=1)
        return scheduled(self.engine, self.config, at, list_name, **values)

    def run(self, *args: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [MAILER, *args],
            cwd=self.root,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )

    def statuses(self) -> dict[int, str]:
        with db.read(self.engine) as conn:
            return dict(conn.execute(select(db.campaigns.c.id, db.campaigns.c.status)).all())


@pytest.fixture
def world(db_url: str, tmp_path: Path) -> Iterator[World]:
    yield World(tmp_path, db_url)
    db.dispose_all()


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["outbox", "smtp"])
def test_two_run_due_processes_at_once_send_each_recipient_once(world: World, backend: str) -> None:
    """Two `mailer run-due` started together: each campaign is run by one of them and every
    address receives exactly one message (outbox files, or what an SMTP server received)."""
    smtp = SmtpCounter() if backend == "smtp" else None
    try:
        if smtp:
            world.env["MAILER_SMTP_URL"] = f"smtp://127.0.0.1:{smtp.port}?starttls=0"
        readers = set(subscribe(world.engine, "partners", 120))
        readers |= set(subscribe(world.engine, "donors", 80))
        ids = [world.due_now("partners", backend=backend), world.due_now("donors", backend=backend)]
        procs = [world.run("run-due", "--json") for _ in range(2)]
        results = [finish(proc) for proc in procs]
    finally:
        if smtp:
            smtp.stop()
    for code, _out, err in results:
        assert code == 0, err
    reports = [json.loads(out) for _code, out, _err in results]
    ran = sorted(c["id"] for r in reports for c in r["campaigns"] if not c["helped"])
    assert ran == sorted(ids)  # each campaign claimed by exactly one of the two processes
    counts = smtp.counts if smtp else outbox_counts(world.config)
    assert set(counts) == readers
    assert set(counts.values()) == {1}
    assert all(world.statuses()[cid] == "sent" for cid in ids)


def _files(outbox: Path) -> dict[Path, tuple[int, int]]:
    return {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in outbox.rglob("*.eml")}


@pytest.mark.slow
def test_run_due_killed_mid_send_is_finished_by_the_next_run(world: World) -> None:
    """SIGKILL during a send, then run-due again: the campaign is finished, nobody twice, and
    no message written before the kill is written again."""
    readers = set(subscribe(world.engine, "partners", 1500))
    cid = world.due_now("partners")
    outbox = world.root / "outbox"
    proc = world.run("run-due")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if len(list(outbox.rglob("*.eml"))) >= 40:
            break
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    assert proc.returncode == -signal.SIGKILL, "run-due finished before it could be killed"
    before = _files(outbox)
    assert 0 < len(before) < 1500
    assert world.statuses()[cid] == "sending"
    code, out, err = finish(world.run("run-due"))
    assert code == 0, err
    assert f"campaign {cid}: resumed and sent" in out
    counts = outbox_counts(world.config)
    assert set(counts) == readers and set(counts.values()) == {1}
    after = _files(outbox)
    assert all(after[p] == stamp for p, stamp in before.items())  # not rewritten
    assert world.statuses()[cid] == "sent"


@pytest.mark.slow
def test_worker_sends_then_stops_cleanly_on_sigterm(world: World) -> None:
    """`mailer worker` sends what is due, then SIGTERM ends it with exit 0."""
    readers = set(subscribe(world.engine, "partners", 30))
    cid = world.due_now("partners")
    proc = world.run("worker", "--max-sleep", "0.5")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and world.statuses()[cid] != "sent":
        assert proc.poll() is None
        time.sleep(0.1)
    assert world.statuses()[cid] == "sent"
    proc.send_signal(signal.SIGTERM)
    code, out, err = finish(proc, timeout=20)
    assert code == 0, err
    assert "worker stopped" in err and f"campaign {cid}: sent" in out
    counts = outbox_counts(world.config)
    assert set(counts) == readers and set(counts.values()) == {1}


@pytest.mark.slow
def test_sigterm_mid_send_stops_between_batches_and_next_run_finishes(world: World) -> None:
    """SIGTERM while a big campaign is sending: the worker exits 0 at a batch boundary, the
    campaign stays sending with its claim released, and run-due finishes it, nobody twice."""
    readers = set(subscribe(world.engine, "partners", 1500))
    cid = world.due_now("partners")
    outbox = world.root / "outbox"
    proc = world.run("worker", "--max-sleep", "0.5")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if len(list(outbox.rglob("*.eml"))) >= 40:
            break
        time.sleep(0.005)
    proc.send_signal(signal.SIGTERM)
    code, _out, err = finish(proc, timeout=30)
    assert code == 0, err
    assert "worker stopped" in err
    sent_before = len(list(outbox.rglob("*.eml")))
    assert 0 < sent_before < 1500 and sent_before % 20 == 0  # whole batches only
    with db.read(world.engine) as conn:
        row = conn.execute(select(db.campaigns.c.status, db.campaigns.c.claimed_at)).one()
    assert tuple(row) == ("sending", None)
    code, _out, err = finish(world.run("run-due"))
    assert code == 0, err
    counts = outbox_counts(world.config)
    assert set(counts) == readers and set(counts.values()) == {1}
    assert world.statuses()[cid] == "sent"
