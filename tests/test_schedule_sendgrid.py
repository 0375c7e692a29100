"""`--provider-schedule`: hand the campaign to SendGrid now with send_at under a batch id
(checked against SendGrid's own contract with Prism), and cancel it there."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from mailer import db
from mailer.errors import DeliveryError, ScheduleError
from mailer.schedule import cancel_schedule, list_schedules, schedule_issue
from prism import prism_url  # noqa: F401  (session fixture)
from test_run_due import make_config, subscribe
from test_schedule_issue import no_findings

KEY = "SG.schedule-test-key.0123456789"


class Recorder:
    """A stand-in for the SendGrid endpoints Prism's spec lacks (scheduled_sends) that
    records every request: path, JSON body, Authorization header."""

    def __init__(self, cancel_status: int = 201) -> None:
        self.requests: list[tuple[str, Any, str]] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                recorder.requests.append((self.path, body, self.headers.get("Authorization", "")))
                if self.path == "/v3/mail/batch":
                    code, answer = 201, b'{"batch_id": "BATCH-1"}'
                elif self.path == "/v3/user/scheduled_sends":
                    code, answer = cancel_status, b'{"errors": [{"message": "nope"}]}'
                else:
                    code, answer = 202, b""
                self.send_response(code)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    yield db.connect(f"sqlite:///{tmp_path / 'mailer.db'}")
    db.dispose_all()


@pytest.fixture
def issue(tmp_path: Path) -> Path:
    """A minimal valid issue file."""
    path = tmp_path / "issues" / "2026-12-winter.yaml"
    path.parent.mkdir()
    path.write_text(
        "slug: 2026-12-winter\nsubject: Winter news\nblocks:\n  - type: text\n    body: Hello.\n",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Iterator[Recorder]:
    server = Recorder()
    monkeypatch.setenv("SENDGRID_API_KEY", KEY)
    monkeypatch.setenv("MAILER_SENDGRID_HOST", server.url)
    yield server
    server.stop()


def _in(hours: float) -> tuple[str, datetime]:
    when = (db.utcnow() + timedelta(hours=hours)).replace(second=0, microsecond=0)
    return when.isoformat() + "Z", when


def test_prism_accepts_batch_and_send_at(
    engine: Engine,
    tmp_path: Path,
    issue: Path,
    prism_url: str,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Against SendGrid's contract: a batch id is created and every send with send_at and
    batch_id is accepted, so the campaign is sent (held by SendGrid) and listed until due."""
    monkeypatch.setenv("SENDGRID_API_KEY", KEY)
    monkeypatch.setenv("MAILER_SENDGRID_HOST", prism_url)
    subscribe(engine, "partners", 12)
    at, _when = _in(30)
    done = schedule_issue(
        engine,
        make_config(tmp_path),
        issue,
        "partners",
        at=at,
        backend="sendgrid",
        provider_schedule=True,
        validate=no_findings,
    )
    with db.read(engine) as conn:
        row = conn.execute(
            select(db.campaigns.c.status, db.campaigns.c.provider_batch_id).where(
                db.campaigns.c.id == done.campaign_id
            )
        ).one()
    assert row[0] == "sent" and row[1]
    assert [r.id for r in list_schedules(engine)] == [done.campaign_id]


def test_every_request_carries_send_at_and_batch_id_then_cancel(
    engine: Engine,
    tmp_path: Path,
    issue: Path,
    recorder: Recorder,
) -> None:
    """send_at is the scheduled Unix time and batch_id the created one in every request;
    cancel posts {batch_id, status: cancel} to scheduled_sends and marks it cancelled."""
    subscribe(engine, "partners", 12)
    config = make_config(tmp_path)  # batch_size 5: three requests
    at, when = _in(48)
    done = schedule_issue(
        engine,
        config,
        issue,
        "partners",
        at=at,
        backend="sendgrid",
        provider_schedule=True,
        validate=no_findings,
    )
    paths = [p for p, _b, _a in recorder.requests]
    assert paths == ["/v3/mail/batch"] + ["/v3/mail/send"] * 3
    sends = [b for p, b, _a in recorder.requests if p == "/v3/mail/send"]
    assert {b["send_at"] for b in sends} == {int(when.replace(tzinfo=UTC).timestamp())}
    assert {b["batch_id"] for b in sends} == {"BATCH-1"}
    assert all(a == f"Bearer {KEY}" for _p, _b, a in recorder.requests)
    row = cancel_schedule(engine, done.campaign_id, config=config)
    assert row.status == "cancelled"
    assert recorder.requests[-1][:2] == (
        "/v3/user/scheduled_sends",
        {"batch_id": "BATCH-1", "status": "cancel"},
    )


def test_refused_cancel_keeps_the_campaign(
    engine: Engine,
    tmp_path: Path,
    issue: Path,
    recorder: Recorder,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """When SendGrid refuses the cancel, the error says so and the campaign stays sent."""
    subscribe(engine, "partners", 2)
    config = make_config(tmp_path)
    at, _when = _in(2)
    done = schedule_issue(
        engine,
        config,
        issue,
        "partners",
        at=at,
        backend="sendgrid",
        provider_schedule=True,
        validate=no_findings,
    )
    recorder.server.shutdown()
    refusing = Recorder(cancel_status=400)
    try:
        monkeypatch.setenv("MAILER_SENDGRID_HOST", refusing.url)
        with pytest.raises(DeliveryError, match=r"refused to cancel the scheduled send \(400\)"):
            cancel_schedule(engine, done.campaign_id, config=config)
    finally:
        refusing.stop()
    assert list_schedules(engine)[0].status == "sent"


def test_limits_of_provider_scheduling(
    engine: Engine,
    tmp_path: Path,
    issue: Path,
    recorder: Recorder,
) -> None:
    """More than 72 h ahead, or another backend, is refused before anything is stored or sent."""
    subscribe(engine, "partners", 1)
    config = make_config(tmp_path)
    with pytest.raises(ScheduleError, match="up to 72 hours ahead"):
        schedule_issue(
            engine,
            config,
            issue,
            "partners",
            at=_in(73)[0],
            backend="sendgrid",
            provider_schedule=True,
            validate=no_findings,
        )
    with pytest.raises(ScheduleError, match="needs the sendgrid backend"):
        schedule_issue(
            engine,
            config,
            issue,
            "partners",
            at=_in(5)[0],
            backend="outbox",
            provider_schedule=True,
            validate=no_findings,
        )
    assert recorder.requests == [] and list_schedules(engine, statuses=None) == []
